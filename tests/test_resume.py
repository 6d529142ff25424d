"""A run killed with SIGKILL resumes from its last checkpoint and ends with the same metrics."""

import json
import os
import signal
import subprocess
import time

from conftest import OFFLINE_ENV, ROOT, config, recipe, run_cli

STEPS = ["--max_steps", "60", "--save_strategy", "steps", "--save_steps", "10", "--eval_strategy", "no",
         "--load_best_model_at_end", "false", "--logging_steps", "5", "--disable_tqdm", "true"]


def test_sigkill_then_resume_matches_uninterrupted(pretrained_run, tmp_path):
    base = recipe("finetune_classification") + ["--config", config("finetune_classification", "sentiment_tiny"),
                                                "--model_name_or_path", str(pretrained_run), *STEPS]
    full = tmp_path / "full"
    done = run_cli(base + ["--output_dir", str(full)])
    assert done.returncode == 0, done.stderr[-3000:]

    killed = tmp_path / "killed"
    partial = tmp_path / "killed.partial"
    proc = subprocess.Popen(base + ["--output_dir", str(killed)], cwd=ROOT, env={**os.environ, **OFFLINE_ENV},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not (partial / "checkpoint-20" / "trainer_state.json").exists():
        assert proc.poll() is None, "the run ended before it could be killed"
        assert time.time() < deadline
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not killed.exists(), "a killed run must not look complete"
    assert partial.is_dir()

    again = run_cli(base + ["--output_dir", str(killed)])
    assert again.returncode == 2 and "--resume" in again.stderr  # refuses to clobber the unfinished run

    resumed = run_cli(base + ["--output_dir", str(killed), "--resume"])
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    a = json.loads((full / "lingbridge_run.json").read_text())
    b = json.loads((killed / "lingbridge_run.json").read_text())
    for lang, row in a["metrics"]["per_language"].items():
        for metric in ("accuracy", "f1"):
            assert abs(row[metric] - b["metrics"]["per_language"][lang][metric]) < 1e-9, (lang, metric)
    # the resumed process really started from a checkpoint, not from scratch
    assert "resuming from" in resumed.stdout and "checkpoint-" in resumed.stdout
    assert b["metrics"]["loss_curve"] == a["metrics"]["loss_curve"]
