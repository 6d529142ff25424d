"""`lingbridge train`: recipes launched through accelerate from a checkout or an installed package.

A user mistake is one `error:` line and exit status 2 whether the launcher catches it before any
process starts or a launched recipe (one process, or two gloo DDP processes) finds it in the data;
never accelerate's or torch elastic's traceback, and nothing left behind.
"""

from __future__ import annotations

import json
import sys

import pytest

from conftest import ROOT, run_cli

LINGBRIDGE = [sys.executable, "-m", "lingbridge.cli"]
ROWS = "text,label,lang\n" + "".join(f"sample sentence number {i} here,{'pos' if i % 2 else 'neg'},en\n"
                                     for i in range(24))


@pytest.fixture
def workdir(tmp_path):
    (tmp_path / "train.csv").write_text(ROWS, encoding="utf-8")
    (tmp_path / "list_lr.yaml").write_text("learning_rate: [1.0e-3, 2.0e-3]\n", encoding="utf-8")
    (tmp_path / "typo.yaml").write_text("learning_rat: 1.0e-3\n", encoding="utf-8")
    (tmp_path / "broken.yaml").write_text("learning_rate: [1\n", encoding="utf-8")
    done = tmp_path / "done-run"
    done.mkdir()
    (done / "lingbridge_run.json").write_text(json.dumps({"job": "finetune_classification"}), encoding="utf-8")
    return tmp_path


def snapshot(folder):
    return sorted((str(p.relative_to(folder)), p.stat().st_size if p.is_file() else -1) for p in folder.rglob("*"))


def assert_one_error_line(proc, expected: str):
    out = proc.stdout + proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert proc.returncode == 2, out[-3000:]
    assert len(errors) == 1, out[-3000:]
    assert expected in errors[0], errors[0]
    for noise in ("Traceback", "CalledProcessError", "ChildFailedError", "torch.distributed.elastic"):
        assert noise not in out, out[-3000:]


BASE = ["finetune_classification", "--config", "tiny", "--train_file", "train.csv", "--max_steps", "2",
        "--output_dir", "out"]

# (id, arguments, a piece of the error line): caught in the launcher before any process starts
LAUNCHER_CASES = [
    ("unknown-recipe", ["pretrian"], "did you mean 'pretrain'"),
    ("no-recipe", [], "needs a recipe"),
    ("unknown-config-name", ["pretrain", "--config", "tinyy"], "'tinyy' is neither a file nor a shipped config (did you mean 'tiny'?)"),
    ("unknown-accelerate-config", [*BASE, "--accelerate_config", "ddp"], "--accelerate_config: 'ddp'"),
    ("zero-processes", [*BASE, "--num_processes", "0"], "--num_processes must be at least 1"),
    ("option-typo", [*BASE, "--learning_rat", "1e-3"], "did you mean '--learning_rate'"),
    ("not-a-number", [*BASE, "--learning_rate", "fast"], "invalid float value: 'fast'"),
    ("yaml-list-value", [*BASE, "--config", "list_lr.yaml"], "learning_rate"),
    ("yaml-unknown-key", [*BASE, "--config", "typo.yaml"], "unknown config key 'learning_rat'"),
    ("yaml-broken", [*BASE, "--config", "broken.yaml"], "not valid YAML"),
    ("missing-file", [*BASE, "--validation_file", "nope.csv"], "nope.csv"),
    ("negative-batch", [*BASE, "--per_device_train_batch_size", "-4"], "per_device_train_batch_size"),
]

@pytest.mark.parametrize("case, args, expected", LAUNCHER_CASES, ids=[c[0] for c in LAUNCHER_CASES])
def test_launcher_catches_mistakes_before_launching(case, args, expected, workdir, monkeypatch, capsys):
    """In this process (fast); an exception other than the user error would fail the test with its traceback."""
    from lingbridge import cli

    monkeypatch.chdir(workdir)
    launched = []
    monkeypatch.setattr(cli, "launch", lambda *a: launched.append(a) or 0)
    before = snapshot(workdir)
    with pytest.raises(SystemExit) as stop:
        cli.main(["train", *args])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and not launched
    assert [line for line in err.splitlines() if line.startswith("error:")] == [err.strip().splitlines()[-1]]
    assert expected in err
    assert snapshot(workdir) == before


def test_launcher_mistake_as_a_user_sees_it(workdir):
    before = snapshot(workdir)
    proc = run_cli([*LINGBRIDGE, "train", *BASE, "--per_device_train_batch_size", "-4"], cwd=workdir, timeout=300)
    assert_one_error_line(proc, "per_device_train_batch_size")
    assert snapshot(workdir) == before


# mistakes in the data or the run directory: `lingbridge train` finds them in the launcher (validate_recipe)
DATA_CASES = [
    ("missing-column", [*BASE, "--text_column", "body"], "no column 'body'"),
    ("label-not-listed", [*BASE, "--label_list", "neg", "neutral"], "label 'pos' is not one of"),
    ("language-not-in-data", [*BASE, "--train_languages", "de"], "train_languages ['de'] are not in the data"),
    ("finished-run-exists", [*BASE[:-1], "done-run"], "done-run"),
]


@pytest.mark.parametrize("case, args, expected", DATA_CASES, ids=[c[0] for c in DATA_CASES])
def test_data_mistakes_caught_before_launching(case, args, expected, workdir):
    before = snapshot(workdir)
    proc = run_cli([*LINGBRIDGE, "train", *args], cwd=workdir, timeout=300)
    assert_one_error_line(proc, expected)
    assert snapshot(workdir) == before


def launched(args: list[str], processes: int | None) -> list[str]:
    """The launch itself, without the launcher's checks: the recipe meets the mistake in its processes."""
    script = ("import sys; from lingbridge import cli; from lingbridge.recipes import finetune_classification as m; "
              f"code = cli.launch(cli.accelerate_args({processes}, None), m.__file__, sys.argv[1:]); "
              "print(f'exit status {code}', file=sys.stderr); sys.exit(code)")
    return [sys.executable, "-c", script, *args]


@pytest.mark.parametrize("case, args, expected", DATA_CASES[:3], ids=[c[0] for c in DATA_CASES[:3]])
def test_launched_recipe_mistakes_keep_exit_status_2(case, args, expected, workdir):
    """A mistake found inside the launched recipe comes back as its exit status 2, without accelerate's traceback."""
    before = snapshot(workdir)
    proc = run_cli(launched(["--config", config_path(), *args[3:]], None), cwd=workdir, timeout=300)
    assert_one_error_line(proc, expected)
    assert "exit status 2" in proc.stderr
    assert snapshot(workdir) == before


@pytest.mark.slow
@pytest.mark.parametrize("case, args, expected", DATA_CASES, ids=[c[0] for c in DATA_CASES])
def test_two_processes_one_error_line(case, args, expected, workdir):
    """Both gloo ranks stop on the mistake; the user reads one line and exit status 2."""
    before = snapshot(workdir)
    proc = run_cli(launched(["--config", config_path(), *args[3:]], 2), cwd=workdir, timeout=300)
    assert_one_error_line(proc, expected)
    assert "exit status 2" in proc.stderr
    proc = run_cli([*LINGBRIDGE, "train", *args, "--num_processes", "2"], cwd=workdir, timeout=300)
    assert_one_error_line(proc, expected)
    assert snapshot(workdir) == before


def config_path() -> str:
    return str(ROOT / "recipes" / "configs" / "finetune_classification" / "tiny.yaml")


def test_help_and_print_command(workdir):
    proc = run_cli([*LINGBRIDGE, "train", "--help"], cwd=workdir)
    assert proc.returncode == 0 and "--num_processes" in proc.stdout and "finetune_qa" in proc.stdout
    proc = run_cli([*LINGBRIDGE, "train", "finetune_qa", "--help"], cwd=workdir)
    assert proc.returncode == 0 and "--doc_stride" in proc.stdout and "--learning_rate" in proc.stdout
    proc = run_cli([*LINGBRIDGE, "train", "finetune_classification", "--config", "sentiment_tiny",
                    "--num_processes", "2", "--print_command"], cwd=workdir)
    assert proc.returncode == 0, proc.stderr
    shipped = ROOT / "recipes" / "configs" / "finetune_classification" / "sentiment_tiny.yaml"
    assert proc.stdout.split() == ["accelerate", "launch", "--num_processes", "2", "--num_machines", "1", "--multi_gpu",
                                   "--mixed_precision", "no", "--dynamo_backend", "no",
                                   str(ROOT / "recipes" / "finetune_classification.py"), "--config", str(shipped)]
    proc = run_cli([*LINGBRIDGE, "train", "pretrain", "--config", "pretrain/tiny", "--accelerate_config", "cpu_ddp",
                    "--print_command"], cwd=workdir)
    assert proc.returncode == 0 and str(ROOT / "recipes" / "accelerate" / "cpu_ddp.yaml") in proc.stdout


def test_train_runs_a_recipe(workdir):
    """A real launch: the run directory is written, as with `accelerate launch recipes/...`."""
    proc = run_cli([*LINGBRIDGE, "train", *BASE, "--eval_strategy", "no", "--save_strategy", "no",
                    "--load_best_model_at_end", "false"], cwd=workdir, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    record = json.loads((workdir / "out" / "lingbridge_run.json").read_text())
    assert record["job"] == "finetune_classification" and record["metrics"]["train"]["train_steps_per_second"] > 0


def test_a_cpu_process_gets_its_share_of_the_cores(tmp_path):
    """`accelerate launch` without `--cpu` starts every process with OMP_NUM_THREADS=1: a one-process pretraining
    on 2 cores trained at 733 tokens/s on one of them. `lingbridge train` shares the cores out; the user's own
    OMP_NUM_THREADS still wins."""
    import os
    import subprocess

    import psutil
    import torch

    if torch.accelerator.is_available():
        pytest.skip("an accelerator machine: accelerate's own thread default stands")
    script = tmp_path / "threads.py"
    script.write_text("import os, torch; print('threads', os.environ['OMP_NUM_THREADS'], torch.get_num_threads())\n")
    code = "import sys; from lingbridge import cli; sys.exit(cli.launch(cli.accelerate_args(int(sys.argv[1]), None), sys.argv[2], []))"
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    usable = len(os.sched_getaffinity(0))
    cores = min(psutil.cpu_count(logical=False) or usable, usable)
    for processes, extra, threads in [(1, {}, cores), (2, {}, max(1, cores // 2)), (1, {"OMP_NUM_THREADS": "1"}, 1)]:
        proc = subprocess.run([sys.executable, "-c", code, str(processes), str(script)], env={**env, **extra},
                              capture_output=True, text=True, timeout=300, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert proc.stdout.count(f"threads {threads} {threads}") == processes, (processes, extra, proc.stdout)


def test_every_command_has_real_help(capsys):
    """`lingbridge <command> --help` prints a usage line and the command's options, for every command."""
    from lingbridge import cli

    for name in cli.COMMANDS:
        try:
            cli.main([name, "--help"])
        except SystemExit as stop:
            assert stop.code in (0, None), name
        out = capsys.readouterr().out
        assert "usage:" in out and "--" in out.split("usage:", 1)[1], name
