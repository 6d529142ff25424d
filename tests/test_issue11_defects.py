"""Issue 11, items 3, 5, 6 (publish and card), 7 and 9: each defect as a test that failed before the fix.

Most run in-process on small files in a temporary folder (seconds); the commands users type
(`lingbridge publish`, `lingbridge card`) also run as real commands for their exit status. Item 1 (data
loss) is tests/test_run_dir_safety.py; the hostile-input battery is tests/test_hostile_inputs.py.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from conftest import config, run_cli
from fake_hub import FakeHub
from lingbridge.config import CleaningArguments, DataArguments
from lingbridge.errors import UserError

TOKEN = "hf_issue11Secret0123456789abcdef"


def one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, err[-3000:]
    assert "Traceback" not in err, err[-3000:]
    return lines[0]


def fake_run(folder: Path, record: dict | str | None = None) -> Path:
    """A finished run directory as publish and card read it (weights, config, record), without training."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ")
    (folder / "config.json").write_text("{}", encoding="utf-8")
    record = {"job": "finetune_classification", "task": "text-classification", "pipeline_tag": "text-classification",
              "languages": ["en"], "config": {}, "metrics": {}} if record is None else record
    (folder / "lingbridge_run.json").write_text(record if isinstance(record, str) else json.dumps(record),
                                                encoding="utf-8")
    return folder


def recipe_main(argv, capsys):
    """Run the classification recipe in-process like its command; returns (exit status, the error line)."""
    from lingbridge.recipes import finetune_classification

    try:
        finetune_classification.main(argv)
        code = 0
    except SystemExit as stop:
        code = stop.code
    err = capsys.readouterr().err
    return code, (one_error_line(err) if code else "")


# ---- item 3: publish follows symlinks ---------------------------------------------------------------------


def test_publish_refuses_a_symlink_to_a_file_outside_the_run(tmp_path):
    secret = tmp_path / "passwd"
    secret.write_text("root:x:0:0:the password file\n", encoding="utf-8")
    run = fake_run(tmp_path / "run")
    (run / "vocab.txt").symlink_to(secret)
    out = run_cli(["lingbridge", "publish", str(run), "--repo_id", "x/y", "--dry_run"])
    assert out.returncode == 2
    assert "symbolic link" in one_error_line(out.stderr) and "vocab.txt" in out.stderr
    assert "password" not in out.stdout + out.stderr


@pytest.mark.parametrize("link", ["inside", "folder", "record"])
def test_publish_refuses_every_link_it_would_read(link, tmp_path):
    from lingbridge.hub import plan_publish

    run = fake_run(tmp_path / "run")
    if link == "inside":  # even a link to a file of the run itself: what is published is what the folder holds
        (run / "tokenizer.json").symlink_to(run / "config.json")
    elif link == "folder":
        (tmp_path / "elsewhere").mkdir()
        (tmp_path / "elsewhere" / "weights.safetensors").write_bytes(b"x")
        (run / "adapter_model.safetensors").symlink_to(tmp_path / "elsewhere" / "weights.safetensors")
    else:
        real = tmp_path / "other_record.json"
        os.replace(run / "lingbridge_run.json", real)
        (run / "lingbridge_run.json").symlink_to(real)
    with pytest.raises(UserError, match="symbolic link"):
        plan_publish(run, "x/y")
    assert not list(Path(os.environ.get("TMPDIR", "/tmp")).glob("lingbridge-publish-*/vocab.txt"))


def test_a_linked_run_directory_still_publishes(tmp_path):
    from lingbridge.hub import plan_publish

    run = fake_run(tmp_path / "runs" / "sentiment-1")
    (tmp_path / "runs" / "latest").symlink_to(run)
    plan = plan_publish(tmp_path / "runs" / "latest", "x/y")
    assert {"model.safetensors", "config.json", "lingbridge_run.json", "README.md"} <= {p for p, _ in plan.files}


def test_push_of_a_run_with_a_link_uploads_nothing(tmp_path):
    hub = FakeHub(tmp_path / "hub").start()
    try:
        run = fake_run(tmp_path / "run")
        (run / "vocab.txt").symlink_to("/etc/passwd")
        env = {"HF_ENDPOINT": hub.url, "HF_HUB_OFFLINE": "0", "HF_HUB_DISABLE_XET": "1", "HF_TOKEN": TOKEN,
               "HF_HOME": str(tmp_path / "hf_home")}
        out = run_cli([sys.executable, "-m", "lingbridge.cli", "publish", str(run), "--repo_id", "x/y"], env=env)
        assert out.returncode == 2 and "symbolic link" in one_error_line(out.stderr)
        assert hub.requests == [] and hub.files("x/y") == {}
    finally:
        hub.stop()


# ---- item 6 (publish, card): a corrupt run record is one line ------------------------------------------------

BASE = {"job": "finetune_classification", "task": "text-classification", "languages": ["en"], "config": {},
        "metrics": {}}
CORRUPT = {
    "truncated": '{"job": "finetune_classif',
    "empty": "",
    "not a mapping": "[1, 2, 3]",
    "no job": json.dumps({"metrics": {}}),
    "nested too deep": "[" * 100_000 + "]" * 100_000,
    "metrics a number": json.dumps({**BASE, "metrics": 5}),
    "languages a string": json.dumps({**BASE, "languages": "en"}),
    "per_language rows not mappings": json.dumps({**BASE, "metrics": {"per_language": {"en": 0.9}}}),
    "transfer gap a number": json.dumps({**BASE, "metrics": {"transfer": {"gap": 5, "rows": {}}}}),
    "wall time as text": json.dumps({**BASE, "wall_time_s": "long"}),
}


@pytest.mark.parametrize("case", list(CORRUPT))
@pytest.mark.parametrize("command", ["card", "publish"])
def test_corrupt_record_is_one_line_for_card_and_publish(command, case, tmp_path, capsys):
    from lingbridge.cli import main

    run = fake_run(tmp_path / "run", CORRUPT[case])
    argv = ["card", str(run), "--print"] if command == "card" else ["publish", str(run), "--repo_id", "x/y", "--dry_run"]
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 2
    line = one_error_line(capsys.readouterr().err)
    assert "lingbridge_run.json" in line


def test_corrupt_record_through_the_real_commands(tmp_path):
    run = fake_run(tmp_path / "run", json.dumps({**BASE, "metrics": {"transfer": {"gap": 5}}}))
    before = sorted(p.name for p in run.iterdir())
    for argv in (["lingbridge", "card", str(run)], ["lingbridge", "publish", str(run), "--repo_id", "x/y", "--dry_run"]):
        out = run_cli(argv)
        assert out.returncode == 2 and "the run record is damaged" in one_error_line(out.stderr)
    assert sorted(p.name for p in run.iterdir()) == before  # card wrote no README.md


# ---- item 5: silently wrong training --------------------------------------------------------------------------


def _load(tmp_path, text: str, name: str = "train.csv", **kwargs):
    from lingbridge.data import clean_splits, load_splits

    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    data_args = DataArguments(train_file=str(path), **{"validation_split_percentage": 0, **kwargs})
    dsd, _, _ = load_splits(data_args, {"text": "text", "label": "label", "lang": "lang"})
    dsd, report = clean_splits(dsd, CleaningArguments(near_dedup=False))
    return dsd, report, data_args


def rows(n: int, label=lambda i: "pos" if i % 2 else "neg") -> str:
    return "".join(f"sentence number {i} with some words,{label(i)}\n" for i in range(n))


def test_empty_and_nan_labels_are_a_counted_drop(tmp_path):
    from lingbridge.tasks.classification import cast_labels

    # an empty cell among numbers is NaN to pandas: 0/1 become 0.0/1.0 and must still be classes 0 and 1
    text = "text,label\n" + rows(10, lambda i: i % 2) + "no label here at all,\nanother unlabelled one,\n"
    dsd, report, data_args = _load(tmp_path, text)
    assert report["rules"]["missing_label"]["train"] == {"removed": 2}
    dsd, names = cast_labels(dsd, None, "train.csv")
    assert names == ["0", "1"] and len(dsd["train"]) == 10
    text = "text,label\n" + rows(10) + "empty string label row,\"  \"\n"
    dsd, report, _ = _load(tmp_path, text, "strings.csv")
    assert report["rules"]["missing_label"]["train"] == {"removed": 1}
    assert cast_labels(dsd, None, "strings.csv")[1] == ["neg", "pos"]


def test_unlabelled_rows_in_json_are_dropped_too(tmp_path):
    from lingbridge.tasks.classification import cast_labels

    lines = [json.dumps({"text": f"sentence {i} with words", "label": ["neg", "pos"][i % 2]}) for i in range(8)]
    lines += [json.dumps({"text": "no label key value", "label": None})]
    dsd, report, _ = _load(tmp_path, "\n".join(lines) + "\n", "train.jsonl")
    assert report["rules"]["missing_label"]["train"]["removed"] == 1
    assert cast_labels(dsd, None, "train.jsonl")[1] == ["neg", "pos"]


def test_mixed_label_vocabularies_are_an_error(tmp_path):
    from lingbridge.tasks.classification import cast_labels

    labels = ["0", "1", "2", "negative", "neutral", "positive"]
    dsd, _, _ = _load(tmp_path, "text,label\n" + rows(30, lambda i: labels[i % 6]))
    with pytest.raises(UserError, match=r"mix numbers \(0, 1, 2\) and names \(negative, neutral, positive\)"):
        cast_labels(dsd, None, "train.csv")
    # with the names in id order the numbers index them: 6 values, 3 classes
    dsd, _, _ = _load(tmp_path, "text,label\n" + rows(30, lambda i: labels[i % 6]), "again.csv")
    dsd, names = cast_labels(dsd, ["negative", "neutral", "positive"], "again.csv")
    assert names == ["negative", "neutral", "positive"] and sorted(set(dsd["train"]["label"])) == [0, 1, 2]


def test_numbers_in_eval_do_not_index_names_guessed_from_train(tmp_path):
    from lingbridge.tasks.classification import cast_labels

    (tmp_path / "dev.csv").write_text("text,label\n" + rows(4, lambda i: i % 2), encoding="utf-8")
    dsd, _, _ = _load(tmp_path, "text,label\n" + rows(10), validation_file=str(tmp_path / "dev.csv"))
    with pytest.raises(UserError, match=r"dev.csv \(validation split, line 2\): label '0' is not one of"):
        cast_labels(dsd, None, {"train": "train.csv", "validation": str(tmp_path / "dev.csv")})


@pytest.mark.parametrize("option", [["--num_train_epochs", "0"], ["--max_steps", "0"], ["--num_train_epochs", "-1"],
                                    ["--max_steps", "-5"], ["--learning_rate", "0"]])
def test_zero_training_is_an_error_before_anything_is_created(option, tmp_path, capsys):
    code, line = recipe_main(["--config", config("finetune_classification"), "--output_dir", str(tmp_path / "run"),
                              *option], capsys)
    assert code == 2 and option[0].lstrip("-") in line
    assert list(tmp_path.iterdir()) == []


# ---- item 7: tracebacks instead of one line, empty .partial folders ------------------------------------------


def _yaml(tmp_path, text: str) -> str:
    path = tmp_path / "bad.yaml"
    path.write_text(config_text() + text, encoding="utf-8")
    return str(path)


def config_text() -> str:
    return Path(config("finetune_classification")).read_text(encoding="utf-8")


def _unreadable(tmp_path, monkeypatch) -> str:
    path = tmp_path / "locked.csv"
    path.write_text("text,label\n" + rows(10), encoding="utf-8")
    path.chmod(0)
    if os.access(path, os.R_OK):  # root reads anything: make open() fail as it does for a user
        real_open = open

        def refuse(file, *args, **kwargs):
            if str(file) == str(path):
                raise PermissionError(13, "Permission denied", str(file))
            return real_open(file, *args, **kwargs)

        monkeypatch.setattr("builtins.open", refuse)
    return str(path)


SEVEN = {
    "unreadable train file": (lambda t, m: ["--train_file", _unreadable(t, m)], "cannot read"),
    "negative batch size": (lambda t, m: ["--per_device_train_batch_size", "-4"], "per_device_train_batch_size"),
    "YAML list for learning_rate": (lambda t, m: ["--config", _yaml(t, "learning_rate: [1.0e-3, 2.0e-3]\n")],
                                    "'learning_rate' must be a single number, got a list"),
    "absurd max_seq_length": (lambda t, m: ["--max_seq_length", "100000000"], "max_seq_length must be between"),
    "validation_split_percentage 0 without a validation file": (
        lambda t, m: ["--train_file", _write(t, "a.csv", "text,label\n" + rows(10)), "--validation_split_percentage",
                      "0"], "give a validation_file"),
    "duplicate label_list": (lambda t, m: ["--label_list", "pos", "neg", "pos"], "label_list names 'pos' twice"),
    "output_dir under a regular file": (lambda t, m: ["--output_dir", _write(t, "notes.txt", "mine") + "/run"],
                                        "is a file, not a folder"),
}


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


@pytest.mark.parametrize("case", list(SEVEN))
def test_item7_one_line_and_no_partial_folder(case, tmp_path, monkeypatch, capsys):
    make, expected = SEVEN[case]
    runs = tmp_path / "runs"
    extra = make(tmp_path, monkeypatch)
    argv = ["--config", config("finetune_classification"), "--output_dir", str(runs / "run"), *extra]
    code, line = recipe_main(argv, capsys)
    assert code == 2 and expected in line, line
    assert not runs.exists(), "a user mistake leaves no folder (an empty .partial blocked the rerun)"


def test_max_seq_length_beyond_the_model_is_lowered_not_a_crash(tmp_path, capsys):
    """`--max_seq_length 100000` used to index past the position table on the first long text."""
    long_text = " ".join(f"word{i}" for i in range(1500))
    data = "text,label\n" + rows(12) + f"{long_text},pos\n{long_text} again,neg\n"
    out = tmp_path / "run"
    code, _ = recipe_main(["--config", config("finetune_classification"), "--train_file", _write(tmp_path, "t.csv", data),
                           "--max_seq_length", "100000", "--max_steps", "1", "--output_dir", str(out),
                           "--eval_strategy", "no", "--save_strategy", "no", "--load_best_model_at_end", "false",
                           "--per_device_train_batch_size", "16", "--disable_tqdm", "true"], capsys)
    assert code == 0 and (out / "lingbridge_run.json").is_file()
    assert json.loads((out / "lingbridge_run.json").read_text())["config"]["max_seq_length"] <= 514


def test_fit_max_length_reads_the_position_table():
    import types

    from lingbridge.models import fit_max_length

    tok = types.SimpleNamespace(model_max_length=int(1e30))
    xlmr = types.SimpleNamespace(max_position_embeddings=514, pad_token_id=1, model_type="xlm-roberta")
    assert fit_max_length(100_000, tok, xlmr) == 512 and fit_max_length(128, tok, xlmr) == 128
    bert = types.SimpleNamespace(max_position_embeddings=512, pad_token_id=0, model_type="bert")
    assert fit_max_length(100_000, types.SimpleNamespace(model_max_length=256), bert) == 256


# ---- item 9: row numbers, tokens, empty files, the fake Hub ---------------------------------------------------


def test_row_numbers_are_the_file_lines_not_the_shuffled_split(tmp_path):
    from lingbridge.tasks.classification import cast_labels

    body = rows(40).splitlines()
    body[25] = "a row with a label that is wrong,meh"  # line 27 of the file (header is line 1)
    dsd, _, data_args = _load(tmp_path, "text,label\n" + "\n".join(body) + "\n", validation_split_percentage=20)
    with pytest.raises(UserError, match=r"train.csv \((train|validation) split, line 27\): label 'meh'"):
        cast_labels(dsd, ["neg", "pos"], str(tmp_path / "train.csv"))


def test_row_numbers_in_language_errors_count_file_lines(tmp_path):
    body = [f"sentence number {i} with words,pos,en" for i in range(30)]
    body[12] = "this row claims a made up language,pos,qq"
    with pytest.raises(UserError, match=r"line 14\): unknown language code 'qq'"):
        _load(tmp_path, "text,label,lang\n" + "\n".join(body) + "\n", validation_split_percentage=30)


def test_hub_token_is_refused_on_the_command_line_and_in_yaml(tmp_path):
    from lingbridge.recipes import finetune_classification

    for argv in (["--config", config("finetune_classification"), "--hub_token", TOKEN],
                 ["--config", _yaml(tmp_path, f"hub_token: {TOKEN}\n")]):
        with pytest.raises(UserError, match="HF_TOKEN") as err:
            finetune_classification.parse(argv)
        assert TOKEN not in str(err.value)


@pytest.mark.slow
def test_kept_checkpoints_hold_no_token(tmp_path, capsys):
    """With HF_TOKEN in the environment (the supported way), no kept checkpoint's pickle holds it."""
    out = tmp_path / "run"
    os.environ["HF_TOKEN"] = TOKEN
    try:
        code, _ = recipe_main(["--config", config("finetune_classification"), "--train_file",
                               _write(tmp_path, "t.csv", "text,label\n" + rows(20)), "--max_steps", "2",
                               "--save_strategy", "steps", "--save_steps", "1", "--eval_strategy", "no",
                               "--load_best_model_at_end", "false", "--keep_checkpoints", "--output_dir", str(out)],
                              capsys)
    finally:
        del os.environ["HF_TOKEN"]
    assert code == 0 and list(out.glob("checkpoint-*"))
    for path in out.rglob("*"):
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes(), path


@pytest.mark.parametrize("name, text, expected", [
    ("empty.csv", "", "is empty"),
    ("blank.tsv", "\n\n  \n", "is empty"),
    ("bom-only.csv", "\ufeff", "is empty"),
    ("header.csv", "text,label\n", "has a header but no rows"),
    ("header.tsv", "text\tlabel\n\n", "has a header but no rows"),
    ("empty.jsonl", "\n", "is empty"),
    ("list.json", "[]", "no rows"),
])
def test_empty_and_header_only_files_name_the_file(name, text, expected, tmp_path):
    with pytest.raises(UserError, match=expected) as err:
        _load(tmp_path, text, name)
    assert name in str(err.value)


def test_fake_hub_keeps_revisions_inside_its_store(tmp_path, monkeypatch):
    from huggingface_hub import HfApi, constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)  # the fake Hub is local; conftest sets offline mode
    store = tmp_path / "store" / "hub"
    hub = FakeHub(store).start()
    try:
        api = HfApi(endpoint=hub.url, token=TOKEN)
        api.create_repo("org/model")
        folder = tmp_path / "upload"
        folder.mkdir()
        (folder / "a.txt").write_text("hello", encoding="utf-8")
        api.upload_folder(repo_id="org/model", folder_path=str(folder))
        for revision in ("../../main", "../../../../escaped", "..", "a/../../b"):
            with pytest.raises(Exception):
                api.create_branch("org/model", branch=revision)
            with pytest.raises(Exception):
                api.upload_folder(repo_id="org/model", folder_path=str(folder), revision=revision)
        assert sorted(p.name for p in tmp_path.iterdir()) == ["store", "upload"]
        assert sorted(p.name for p in (tmp_path / "store").iterdir()) == ["hub"]
        assert hub.files("org/model") == {"a.txt": b"hello"}
        with pytest.raises(ValueError):
            hub.folder("org/model", "../../x")
    finally:
        hub.stop()
