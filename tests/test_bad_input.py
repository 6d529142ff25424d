"""User mistakes get one clear line and exit status 2: no traceback, nothing written."""

import pytest

from conftest import config, recipe, run_cli


@pytest.fixture
def existing_run(tmp_path):
    run = tmp_path / "runs" / "done"
    run.mkdir(parents=True)
    (run / "lingbridge_run.json").write_text("{}")
    return run


def _files(folder):
    return sorted(p.relative_to(folder) for p in folder.rglob("*"))


def _csv(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


CASES = {
    "missing file": (lambda t: ["--train_file", str(t / "nope.csv")], "train_file: file not found"),
    "unknown column": (lambda t: ["--train_file", _csv(t, "a.csv", "sentence,label\nhello there,pos\nbad day,neg\n"),
                                  "--validation_split_percentage", "0"], "no column 'text'"),
    "empty after cleaning": (lambda t: ["--train_file", _csv(t, "b.csv", "text,label\na,pos\nb,neg\n"),
                                        "--validation_split_percentage", "0"], "empty after cleaning"),
    "label outside list": (lambda t: ["--train_file", _csv(t, "c.csv", "text,label\ngreat film,pos\nawful film,meh\n"),
                                      "--validation_split_percentage", "0", "--label_list", "pos", "neg"],
                           "label 'meh' is not one of"),
    "non-UTF-8 bytes": (lambda t: ["--train_file", str(_latin1(t))], "not valid UTF-8"),
    "unknown language code": (lambda t: ["--train_languages", "en", "klingon"], "unknown language code 'klingon'"),
    "unknown language in data": (lambda t: ["--train_file", _csv(t, "d.csv", "text,label,lang\ngreat film,pos,en\nawful,neg,xx\n"),
                                            "--validation_split_percentage", "0"], "unknown language code 'xx'"),
    "typo in config key": (lambda t: ["--config", _csv(t, "bad.yaml", "learnig_rate: 0.1\n")],
                           "did you mean 'learning_rate'"),
    "typo in option": (lambda t: ["--num_train_epoch", "3"], "did you mean '--num_train_epochs'"),
    "missing model folder": (lambda t: ["--model_name_or_path", str(t / "no-such-run")], "folder not found"),
}


def _latin1(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes("text,label\ncaf\xe9 cr\xe8me,pos\nsoupe froide,neg\n".encode("latin-1"))
    return path


@pytest.mark.parametrize("case", list(CASES))
def test_user_mistakes(case, tmp_path, existing_run):
    make_args, expected = CASES[case]
    args = make_args(tmp_path)
    if "--config" not in args:
        args = ["--config", config("finetune_classification"), *args]
    before = _files(existing_run.parent)
    proc = run_cli(recipe("finetune_classification") + args + ["--output_dir", str(existing_run),
                                                                 "--overwrite_output_dir"], timeout=120)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and expected in lines[0], proc.stderr[-2000:]
    assert _files(existing_run.parent) == before, "nothing may be written on bad input"


def test_existing_run_directory_is_never_overwritten(existing_run):
    proc = run_cli(recipe("finetune_classification") + ["--config", config("finetune_classification"),
                                                         "--output_dir", str(existing_run)], timeout=120)
    assert proc.returncode == 2 and "already exists" in proc.stderr and "--overwrite_output_dir" in proc.stderr
    assert _files(existing_run) == [existing_run.joinpath("lingbridge_run.json").relative_to(existing_run)]


def test_cli_errors_are_one_line():
    proc = run_cli(["lingbridge", "plan", "pretrian"])
    assert proc.returncode == 2 and proc.stderr.strip().startswith(
        "error: unknown recipe 'pretrian' (did you mean 'pretrain'?); recipes: ")
    assert {"pretrain", "finetune_classification", "finetune_qa", "finetune_translation"} <= set(
        proc.stderr.strip().split("recipes: ")[1].split(", "))
    assert len(proc.stderr.strip().splitlines()) == 1
