"""Issue 11: hostile and careless inputs across data files, configs, options and `publish`.

Every case asserts what a user must see: exactly one `error:` line naming the problem, exit status 2, no
traceback, and nothing changed outside the run's own folder (the whole sandbox — the user's files, the
inputs, the current directory — is compared byte for byte before and after; no run folder is created).

The recipe cases call the recipe's `main` in-process, decorated as its command (a `SystemExit(2)` and the
`error:` line on stderr), so that 60 cases take about a minute; the same cases run as real commands
(`python recipes/finetune_classification.py ...`, `lingbridge publish ...`) with `-m slow`, and a few of
them always do. (The app's endpoints are tests/test_app_hostile.py; `accelerate launch` is
tests/test_train_cli.py.)

    python -m pytest -q tests/test_hostile_inputs.py              # in-process + 5 real commands
    python -m pytest -q -m "" tests/test_hostile_inputs.py        # + every case as a real command
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from conftest import ROOT, config, recipe, run_cli

CONFIG = config("finetune_classification")
FAST = ["--max_steps", "1", "--eval_strategy", "no", "--save_strategy", "no", "--load_best_model_at_end", "false"]


def snapshot(folder: Path) -> dict:
    out = {}
    for path in sorted(folder.rglob("*")):
        rel = str(path.relative_to(folder))
        if path.is_symlink():
            out[rel] = f"<link {os.readlink(path)}>"
        elif path.is_dir():
            out[rel] = "<dir>"
        else:
            out[rel] = path.read_bytes()
    return out


def rows(n: int, label=lambda i: "pos" if i % 2 else "neg", lang=None) -> str:
    return "".join(f"sentence number {i} says something,{label(i)}{',' + lang(i) if lang else ''}\n" for i in range(n))


class Sandbox:
    """A temporary folder that holds the user's own files, the inputs of a case and the current directory."""

    def __init__(self, root: Path):
        self.root = root
        self.work = root / "work"
        self.work.mkdir()
        (self.work / "thesis.txt").write_text("four years of work\n", encoding="utf-8")
        (self.work / "photos").mkdir()
        (self.work / "photos" / "cat.jpg").write_bytes(bytes(range(256)))
        self.out = self.work / "runs" / "case"

    def file(self, name: str, content: str | bytes) -> str:
        path = self.root / "inputs" / name
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
        return str(path)

    def folder(self, name: str) -> Path:
        path = self.root / "inputs" / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def run_dir(self, name: str, record: dict | str | None = None, weights: bool = True) -> str:
        run = self.folder(name)
        if weights:
            (run / "model.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ")
        (run / "config.json").write_text("{}", encoding="utf-8")
        if record is not False:
            record = record or {"job": "finetune_classification", "task": "text-classification",
                                "pipeline_tag": "text-classification", "languages": ["en"], "config": {}, "metrics": {}}
            (run / "lingbridge_run.json").write_text(record if isinstance(record, str) else json.dumps(record),
                                                     encoding="utf-8")
        return str(run)


def _unreadable(s: Sandbox) -> list[str]:
    path = s.file("locked.csv", "text,label\n" + rows(10))
    os.chmod(path, 0)
    return ["--train_file", path]


def _foreign_partial(s: Sandbox) -> list[str]:
    partial = s.work / "runs" / "case.partial"
    partial.mkdir(parents=True)
    (partial / "notes.md").write_text("not a run", encoding="utf-8")
    return []


def _user_folder_as_output(s: Sandbox) -> list[str]:
    s.out.mkdir(parents=True)
    (s.out / "draft.docx").write_bytes(b"PK\x03\x04 a document")
    return ["--overwrite_output_dir"]


# name -> (options after the config, expected part of the error line); `s` is the case's Sandbox
RECIPE_CASES = {
    # ---- data files ----------------------------------------------------------------------------------
    "missing train file": (lambda s: ["--train_file", str(s.root / "nope.csv")], "train_file: file not found"),
    "folder as train file": (lambda s: ["--train_file", str(s.folder("data"))], "is a folder, expected a data file"),
    "empty file": (lambda s: ["--train_file", s.file("empty.csv", "")], "is empty"),
    "whitespace-only file": (lambda s: ["--train_file", s.file("blank.tsv", "\n \n\t\n")], "is empty"),
    "header only": (lambda s: ["--train_file", s.file("header.csv", "text,label\n")], "has a header but no rows"),
    "not UTF-8": (lambda s: ["--train_file", s.file("latin1.csv", "text,label\ncaf\xe9 cr\xe8me,pos\n".encode("latin-1"))],
                  "not valid UTF-8"),
    "UTF-16 file": (lambda s: ["--train_file", s.file("utf16.csv", ("text,label\n" + rows(6)).encode("utf-16"))],
                    "not valid UTF-8"),
    "unsupported extension": (lambda s: ["--train_file", s.file("data.xlsx", b"PK\x03\x04")], "unsupported extension"),
    "mixed file formats": (lambda s: ["--train_file", s.file("t.csv", "text,label\n" + rows(6)), "--validation_file",
                                      s.file("v.jsonl", '{"text": "a b c", "label": "pos"}\n')], "must share one format"),
    "unclosed quote": (lambda s: ["--train_file", s.file("quote.csv", 'text,label\n"never closed,pos\nnext,neg\n')],
                       "could not read"),
    "ragged rows": (lambda s: ["--train_file", s.file("ragged.csv", "text,label\na b c,pos\nd e f,neg,extra,more\n")],
                    "could not read"),
    "binary garbage as csv": (lambda s: ["--train_file", s.file("garbage.csv", bytes(range(256)) * 4)],
                              "not valid UTF-8"),
    "JSON object instead of records": (lambda s: ["--train_file", s.file("obj.json", '{"text": "one"}')],
                                       "1 training row is too few"),
    "broken JSONL line": (lambda s: ["--train_file", s.file("bad.jsonl", '{"text": "fine", "label": "pos"}\n{"text": \n')],
                          "could not read"),
    "no text column": (lambda s: ["--train_file", s.file("cols.csv", "sentence,label\n" + rows(6))], "no column 'text'"),
    "no label column": (lambda s: ["--train_file", s.file("nolabel.csv", "text,y\n" + rows(6))], "no column 'label'"),
    "one column for text and label": (lambda s: ["--train_file", s.file("same.csv", "text,label\n" + rows(6)),
                                                 "--label_column", "text"], "both name the column 'text'"),
    "texts are lists": (lambda s: ["--train_file", s.file("lists.jsonl", "".join(
        json.dumps({"text": ["a", "b"], "label": "pos"}) + "\n" for _ in range(4)))], "holds lists, expected text"),
    "labels are records": (lambda s: ["--train_file", s.file("rec.jsonl", "".join(
        json.dumps({"text": f"text number {i}", "label": {"x": i}}) + "\n" for i in range(6)))], "label is a dict"),
    "unknown language code in data": (lambda s: ["--train_file", s.file("lang.csv", "text,label,lang\n" + rows(
        8, lang=lambda i: "en" if i != 5 else "klingon"))], "line 7): unknown language code 'klingon'"),
    "empty language cell": (lambda s: ["--train_file", s.file("nolang.csv", "text,label,lang\n" + rows(
        8, lang=lambda i: "en" if i != 3 else ""))], "line 5): no language code"),
    "labels mix numbers and names": (lambda s: ["--train_file", s.file("mixed.csv", "text,label\n" + rows(
        12, label=lambda i: ["0", "1", "2", "negative", "neutral", "positive"][i % 6]))], "mix numbers (0, 1, 2) and names"),
    "validation label outside the list": (lambda s: ["--train_file", s.file("t2.csv", "text,label\n" + rows(8)),
                                                     "--validation_file", s.file("v2.csv", "text,label\nfine text here,pos\nodd one,meh\n")],
                                          "v2.csv (validation split, line 3): label 'meh' is not one of"),
    "every label missing": (lambda s: ["--train_file", s.file("nolabels.csv", "text,label\n" + rows(8, label=lambda i: ""))],
                            "had no label"),
    "every text too short": (lambda s: ["--train_file", s.file("short.csv", "text,label\na,pos\nb,neg\nc,pos\n")],
                             "empty after cleaning"),
    "a single row to split": (lambda s: ["--train_file", s.file("one.csv", "text,label\nonly one row here,pos\n")],
                              "too few to hold out a validation split"),
    "label column is the text": (lambda s: ["--train_file", s.file("wide.csv", "text,label\n" + "".join(
        f"row {i},label number {i}\n" for i in range(1200)))], "distinct labels"),
    "no validation split": (lambda s: ["--train_file", s.file("t3.csv", "text,label\n" + rows(8)),
                                       "--validation_split_percentage", "0"], "give a validation_file"),
    "unreadable file": (_unreadable, "cannot read"),
    # ---- configs ------------------------------------------------------------------------------------
    "YAML syntax error": (lambda s: ["--config", s.file("bad.yaml", "learning_rate: [1\n")], "not valid YAML"),
    "YAML list at the top": (lambda s: ["--config", s.file("list.yaml", "- learning_rate\n- 1\n")], "mapping of config keys"),
    "unknown YAML key": (lambda s: ["--config", s.file("typo.yaml", "learnig_rate: 0.1\n")], "did you mean 'learning_rate'"),
    "YAML list for learning_rate": (lambda s: ["--config", s.file("lr.yaml", "config_name: tiny\nlearning_rate: [1.0e-3, 2.0e-3]\n")],
                                    "'learning_rate' must be a single number, got a list"),
    "YAML word for batch size": (lambda s: ["--config", s.file("bs.yaml", "config_name: tiny\nper_device_train_batch_size: lots\n")],
                                 "must be an integer, got 'lots'"),
    "YAML float for an integer": (lambda s: ["--config", s.file("seed.yaml", "config_name: tiny\nseed: 1.5\n")],
                                  "'seed' must be an integer, got 1.5"),
    "YAML invalid choice": (lambda s: ["--config", s.file("strat.yaml", "config_name: tiny\neval_strategy: weekly\n")],
                            "choose from no, steps, epoch"),
    "YAML token": (lambda s: ["--config", s.file("tok.yaml", "config_name: tiny\nhub_token: hf_abcdefghijklmnop\n")],
                   "set HF_TOKEN"),
    "config file missing": (lambda s: ["--config", str(s.root / "missing.yaml")], "config file not found"),
    "--config without a path": (lambda s: ["--config"], "--config needs a YAML file path"),
    # ---- options -------------------------------------------------------------------------------------
    "negative batch size": (lambda s: ["--per_device_train_batch_size", "-4"], "per_device_train_batch_size must be at least 1"),
    "zero gradient accumulation": (lambda s: ["--gradient_accumulation_steps", "0"], "gradient_accumulation_steps must be"),
    "zero epochs": (lambda s: ["--num_train_epochs", "0", "--max_steps", "-1"], "num_train_epochs must be a positive number"),
    "zero steps": (lambda s: ["--max_steps", "0"], "max_steps must be a positive number"),
    "learning rate NaN": (lambda s: ["--learning_rate", "nan"], "learning_rate must be a positive number"),
    "learning rate not a number": (lambda s: ["--learning_rate", "fast"], "learning_rate"),
    "absurd max_seq_length": (lambda s: ["--max_seq_length", "100000000"], "max_seq_length must be between"),
    "duplicate label_list": (lambda s: ["--label_list", "pos", "neg", "pos"], "label_list names 'pos' twice"),
    "--hub_token on the command line": (lambda s: ["--hub_token", "hf_abcdefghijklmnop"], "set HF_TOKEN"),
    "typo in an option": (lambda s: ["--num_train_epoch", "3"], "did you mean '--num_train_epochs'"),
    "unknown train language": (lambda s: ["--train_languages", "en", "klingon"], "unknown language code 'klingon'"),
    "validation share of 100": (lambda s: ["--validation_split_percentage", "100"], "validation_split_percentage must be in"),
    "zero max_train_samples": (lambda s: ["--max_train_samples", "0"], "max_train_samples must be at least 1"),
    "empty text column name": (lambda s: ["--text_column", ""], "text_column must name a column"),
    "missing model folder": (lambda s: ["--model_name_or_path", str(s.root / "no-such-run")], "folder not found"),
    "negative seed": (lambda s: ["--seed", "-1"], "seed must be in"),
    # ---- where the run goes ----------------------------------------------------------------------------
    "output under a regular file": (lambda s: ["--output_dir", str(s.work / "thesis.txt" / "run")], "is a file, not a folder"),
    "current directory, overwrite": (lambda s: ["--output_dir", ".", "--overwrite_output_dir"], "is the current directory"),
    "home directory, overwrite": (lambda s: ["--output_dir", str(Path.home()), "--overwrite_output_dir"], "home directory"),
    "a folder of user files, overwrite": (_user_folder_as_output, "not a lingbridge run directory"),
    "a user folder named like a work folder": (_foreign_partial, "not an unfinished lingbridge run"),
    "resume with nothing to resume": (lambda s: ["--resume"], "nothing to continue"),
}


@pytest.fixture
def sandbox(tmp_path, monkeypatch):
    s = Sandbox(tmp_path)
    monkeypatch.chdir(s.work)
    return s


def _argv(case: str, s: Sandbox) -> list[str]:
    make, _ = RECIPE_CASES[case]
    extra = make(s)
    out = [] if any(a == "--output_dir" for a in extra) else ["--output_dir", str(s.out)]
    return ["--config", CONFIG, *FAST, *out, *extra]


def _check(code, err: str, expected: str, before: dict, s: Sandbox):
    assert code == 2, err[-3000:]
    assert "Traceback" not in err, err[-3000:]
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, err[-3000:]
    assert expected in lines[0], lines[0]
    assert snapshot(s.root) == before, "a user mistake changed files or left a folder behind"


def _in_process(argv, capsys):
    from lingbridge.recipes import finetune_classification

    try:
        finetune_classification.main(argv)
        code = 0
    except SystemExit as stop:
        code = stop.code
    return code, capsys.readouterr().err


@pytest.mark.parametrize("case", list(RECIPE_CASES))
def test_recipe_in_process(case, sandbox, capsys, monkeypatch):
    argv = _argv(case, sandbox)
    if case == "unreadable file" and os.access(argv[-1], os.R_OK):  # root reads anything: refuse like the OS would
        real_open, locked = open, argv[-1]

        def refuse(file, *args, **kwargs):
            if str(file) == locked:
                raise PermissionError(13, "Permission denied", str(file))
            return real_open(file, *args, **kwargs)

        monkeypatch.setattr("builtins.open", refuse)
    before = snapshot(sandbox.root)
    code, err = _in_process(argv, capsys)
    _check(code, err, RECIPE_CASES[case][1], before, sandbox)


ALWAYS_AS_COMMANDS = ["header only", "YAML list for learning_rate", "current directory, overwrite"]


@pytest.mark.parametrize("case", [pytest.param(c, marks=[] if c in ALWAYS_AS_COMMANDS else [pytest.mark.slow])
                                  for c in RECIPE_CASES if c != "unreadable file" or os.geteuid() != 0])
def test_recipe_as_a_command(case, sandbox):
    argv = _argv(case, sandbox)
    before = snapshot(sandbox.root)
    proc = run_cli(recipe("finetune_classification") + argv, cwd=sandbox.work, timeout=300)
    _check(proc.returncode, proc.stderr, RECIPE_CASES[case][1], before, sandbox)


# ---- publish and card -------------------------------------------------------------------------------------------

def _linked(s: Sandbox) -> list[str]:
    run = s.run_dir("linked")
    (Path(run) / "vocab.txt").symlink_to(s.file("secret.txt", "root:x:0:0\n"))
    return [run, "--repo_id", "x/y", "--dry_run"]


def _merged_with_lora(s: Sandbox) -> list[str]:
    return [s.run_dir("merged"), "--repo_id", "x/y", "--lora", "merged", "--dry_run"]


PUBLISH_CASES = {
    "publish: missing run directory": (lambda s: ["publish", str(s.root / "nope"), "--repo_id", "x/y", "--dry_run"],
                                       "not a lingbridge run directory"),
    "publish: a folder without a record": (lambda s: ["publish", s.run_dir("plain", record=False), "--repo_id", "x/y",
                                                      "--dry_run"], "not a lingbridge run directory"),
    "publish: truncated record": (lambda s: ["publish", s.run_dir("trunc", '{"job": "fine'), "--repo_id", "x/y",
                                             "--dry_run"], "the run record is unreadable"),
    "publish: record of the wrong shape": (lambda s: ["publish", s.run_dir("shape", json.dumps({"job": "x", "metrics": []})),
                                                      "--repo_id", "x/y", "--dry_run"], "the run record is damaged"),
    "publish: symlink to a file outside": (lambda s: ["publish", *_linked(s)], "is a symbolic link"),
    "publish: repo id without namespace": (lambda s: ["publish", s.run_dir("ok1"), "--repo_id", "justname", "--dry_run"],
                                           "must be 'namespace/name'"),
    "publish: repo id with bad characters": (lambda s: ["publish", s.run_dir("ok2"), "--repo_id", "a/b c!", "--dry_run"],
                                             "--repo_id 'a/b c!'"),
    "publish: --lora on a merged run": (lambda s: ["publish", *_merged_with_lora(s)], "holds merged weights only"),
    "publish: no weights": (lambda s: ["publish", s.run_dir("noweights", weights=False), "--repo_id", "x/y", "--dry_run"],
                            "has no safetensors weights"),
    "publish: no token": (lambda s: ["publish", s.run_dir("notoken"), "--repo_id", "x/y"], "no Hugging Face token"),
    "card: truncated record": (lambda s: ["card", s.run_dir("cardtrunc", "{"), "--print"], "the run record is unreadable"),
    "card: record of the wrong shape": (lambda s: ["card", s.run_dir("cardshape", json.dumps(
        {"job": "x", "metrics": {"transfer": {"gap": 3}}}))], "the run record is damaged"),
}


@pytest.mark.parametrize("case", list(PUBLISH_CASES))
def test_publish_and_card_in_process(case, sandbox, capsys, monkeypatch):
    from lingbridge.cli import main

    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setenv("HF_HOME", str(sandbox.root / "hf_home_unused"))  # no login file: no token
    argv = PUBLISH_CASES[case][0](sandbox)
    before = snapshot(sandbox.root)
    try:
        main(argv)
        code = 0
    except SystemExit as stop:
        code = stop.code
    _check(code, capsys.readouterr().err, PUBLISH_CASES[case][1], before, sandbox)


@pytest.mark.parametrize("case", [pytest.param(c, marks=[] if c in ("publish: symlink to a file outside",
                                                                    "card: record of the wrong shape") else [pytest.mark.slow])
                                  for c in PUBLISH_CASES])
def test_publish_and_card_as_commands(case, sandbox):
    argv = PUBLISH_CASES[case][0](sandbox)
    before = snapshot(sandbox.root)
    proc = run_cli([sys.executable, "-m", "lingbridge.cli", *argv], cwd=sandbox.work, timeout=300,
                   env={"HF_TOKEN": "", "HF_HOME": str(sandbox.root / "hf_home_unused")})
    assert "secret" not in proc.stdout
    _check(proc.returncode, proc.stderr, PUBLISH_CASES[case][1], before, sandbox)


def test_there_are_at_least_forty_cases():
    assert len(RECIPE_CASES) + len(PUBLISH_CASES) >= 40
    assert (ROOT / "recipes" / "finetune_classification.py").is_file()


# ---- the launcher's check: the same mistakes, in-process, before any process starts -------------------------

# found only once the data is cleaned and labelled (or by the OS while reading): the recipe's own run reports them
AT_RUN_TIME = {"labels are records", "labels mix numbers and names", "validation label outside the list",
               "every label missing", "every text too short", "label column is the text", "no validation split",
               "unreadable file"}


@pytest.mark.parametrize("case", [c for c in RECIPE_CASES if c not in AT_RUN_TIME])
def test_validate_recipe_finds_the_mistake_and_creates_nothing(case, sandbox):
    from lingbridge.errors import UserError
    from lingbridge.recipes import finetune_classification
    from lingbridge.runs import validate_recipe

    argv = _argv(case, sandbox)
    before = snapshot(sandbox.root)
    with pytest.raises(UserError) as err:
        validate_recipe(finetune_classification, argv)
    assert RECIPE_CASES[case][1] in str(err.value) and "\n" not in str(err.value)
    assert snapshot(sandbox.root) == before


@pytest.mark.parametrize("name", ["pretrain", "finetune_classification", "finetune_qa", "finetune_translation",
                                  "train_cnn", "train_gan", "train_vae", "sweep"])
def test_validate_recipe_accepts_every_shipped_tiny_config(name, sandbox):
    import importlib

    from lingbridge.runs import validate_recipe

    module = importlib.import_module(f"lingbridge.recipes.{name}")
    extra = {"finetune_classification": ["--config_name", "tiny"], "finetune_qa": ["--config_name", "tiny"],
             "finetune_translation": ["--config_name", "tiny"]}.get(name, [])
    before = snapshot(sandbox.root)
    out = ["--output_dir", str(sandbox.out)]
    validate_recipe(module, ["--config", config(name), *extra, *out])
    assert snapshot(sandbox.root) == before  # nothing created, not even the run folder


# ---- the other data readers: parallel pairs (translation, TLM) and SQuAD files (QA) --------------------------

PARALLEL_CASES = {
    "one pair.tsv": ("src_lang\ttgt_lang\tsrc\ttgt\nen\tde\thello\thallo\n", "too few to hold out"),
    "empty language.tsv": ("src_lang\ttgt_lang\tsrc\ttgt\nen\t\thello\thallo\nen\tde\tbye\ttschuess\n", "no language code"),
    "translation as text.jsonl": ('{"translation": "x"}\n{"translation": "y"}\n', "'translation' must map two language"),
    "three languages.jsonl": ('{"translation": {"en": "a", "de": "b", "fr": "c"}}\n' * 2, "exactly two languages"),
    "header only.tsv": ("src_lang\ttgt_lang\tsrc\ttgt\n", "has a header but no rows"),
}
SQUAD = '{"data": [{"paragraphs": %s}]}'
SQUAD_CASES = {
    "no qas.json": (SQUAD % '[{"context": "x"}]', "has no 'qas'"),
    "qas a number.json": (SQUAD % '[{"context": "x", "qas": 5}]', "not a valid SQuAD file"),
    "answer_start a word.json": (SQUAD % '[{"context": "abc", "qas": [{"question": "q", "answers": '
                                         '[{"text": "a", "answer_start": "zero"}]}]}]', "not a valid SQuAD file"),
    "language a number.json": ('{"language": 5, "data": [{"paragraphs": [{"context": "Paris.", "qas": [{"question": '
                               '"q", "answers": [{"text": "Paris", "answer_start": 0}]}]}]}]}', "'language' must be"),
    "nested too deep.json": ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
}


@pytest.mark.parametrize("name", list(PARALLEL_CASES) + list(SQUAD_CASES))
def test_other_readers_give_one_line(name, sandbox):
    from lingbridge.config import DataArguments
    from lingbridge.data.load import load_qa_splits
    from lingbridge.data.parallel import load_translation_pairs
    from lingbridge.errors import UserError
    from lingbridge.tasks.qa import QAArguments

    text, expected = {**PARALLEL_CASES, **SQUAD_CASES}[name]
    data_args = DataArguments(train_file=sandbox.file(name.replace(" ", "_"), text))
    before = snapshot(sandbox.root)
    with pytest.raises(UserError) as err:
        if name in PARALLEL_CASES:
            load_translation_pairs(data_args, 42)
        else:
            load_qa_splits(data_args, QAArguments())
    assert expected in str(err.value) and "\n" not in str(err.value)
    assert snapshot(sandbox.root) == before
