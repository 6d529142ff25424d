"""The `lingbridge` command: fast help, plan without training, the quickstart end to end."""

import os
import subprocess
import sys
import time

from conftest import config, run_cli


def test_help_is_fast_and_light():
    start = time.time()
    proc = run_cli(["lingbridge", "--help"])
    assert proc.returncode == 0 and "quickstart" in proc.stdout and "plan" in proc.stdout
    assert time.time() - start < 5
    heavy = subprocess.run([sys.executable, "-c", "import sys, lingbridge.cli; print(sorted(m for m in "
                            "('torch', 'transformers', 'peft', 'gradio', 'evaluate') if m in sys.modules))"],
                           capture_output=True, text=True)
    assert heavy.stdout.strip() == "[]"


def test_plan_prints_the_run_without_training(tmp_path):
    proc = run_cli(["lingbridge", "plan", "pretrain", "--config", config("pretrain"), "--num_processes", "2",
                    "--learning_rate", "5e-4"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout
    for field in ("effective batch:   64 = 32 per device × 1 accumulation × 2 process(es)", "optimizer steps:",
                  "tokens:", "memory per device:", "parameters:", "resolved config:", "learning_rate: 0.0005",
                  "launch:            accelerate launch --multi_gpu --num_processes 2 recipes/pretrain.py --config"):
        assert field in out, field
    assert not (tmp_path / "runs").exists()


def test_plan_counts_the_parameters_the_run_builds(pretrained_run, tmp_path):
    """The meta-device count matches the trained model (tied embeddings counted once), also for seq2seq."""
    import json
    import re

    record = json.loads((pretrained_run / "lingbridge_run.json").read_text())
    proc = run_cli(["lingbridge", "plan", "pretrain", "--config", config("pretrain")], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    planned = float(re.search(r"parameters:\s+([\d.]+)M", proc.stdout).group(1))
    # within 10%: the tokenizer is trained in the run and may come out a little under vocab_size
    # (counting the tied embeddings twice gave +50%)
    assert abs(planned * 1e6 / record["parameters"]["total"] - 1) < 0.1, (planned, record["parameters"])
    proc = run_cli(["lingbridge", "plan", "finetune_translation", "--config", config("finetune_translation")], cwd=tmp_path)
    assert proc.returncode == 0 and "unavailable" not in proc.stdout, proc.stdout[-2000:]
    assert re.search(r"parameters:\s+1\.\d\dM", proc.stdout), proc.stdout  # the tiny seq2seq: ~1.4M


def test_plan_with_accelerate_config(pretrained_run, tmp_path):
    from conftest import ROOT

    proc = run_cli(["lingbridge", "plan", "finetune_classification", "--accelerate_config",
                    str(ROOT / "recipes/accelerate/cpu_ddp.yaml"), "--config", config("finetune_classification", "sentiment_tiny"),
                    "--model_name_or_path", str(pretrained_run)], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "× 2 process(es)" in proc.stdout and "measured with the tokenizer" in proc.stdout
    assert "LoRA adapters + head" in proc.stdout and "--config_file" in proc.stdout


def test_quickstart_short(tmp_path):
    proc = run_cli(["lingbridge", "quickstart", "--output_root", str(tmp_path / "qs"), "--pretrain_epochs", "0.3",
                    "--finetune_epochs", "1"], cwd=tmp_path, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    assert "Sentiment (test split" in out and "acc random init" in out and "Zero-shot transfer gap" in out
    for name in ("pretrain", "sentiment-pretrained", "sentiment-random-init"):
        assert (tmp_path / "qs" / name / "README.md").is_file()
        assert (tmp_path / "qs" / name / "lingbridge_run.json").is_file()
    # its last lines name the app, and the app (in the default install) serves these runs with no further step
    app_line = next(line for line in out.strip().splitlines()[-3:] if "lingbridge app --roots" in line)
    serves_the_runs(app_line.split(": ", 1)[1].split(), tmp_path)


def serves_the_runs(command: list[str], cwd):
    """Start the app as the quickstart's last line says, then ask its JSON API for the runs and a prediction."""
    import httpx

    from test_app import free_port
    from test_app_load import wait_for_port

    port = free_port()
    proc = subprocess.Popen([*command, "--port", str(port)], cwd=cwd, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    try:
        wait_for_port(port, proc)
        url = f"http://127.0.0.1:{port}/api/v1"
        runs = {row["run"]: row for row in httpx.get(f"{url}/runs", timeout=60).json()}
        assert {"pretrain", "sentiment-pretrained", "sentiment-random-init"} <= set(runs), runs
        assert runs["sentiment-pretrained"]["headline"].startswith(("accuracy", "f1"))
        answer = httpx.post(f"{url}/classify", json={"run": "sentiment-pretrained", "text": "Das Hotel war wunderbar."},
                            timeout=60).json()
        assert answer["label"] in answer["scores"] and answer["language"] == "de"
    finally:
        proc.terminate()
        assert "Traceback" not in proc.communicate(timeout=30)[1]


def test_app_without_gradio_is_one_error_line(tmp_path):
    """An install without gradio (removed, or a broken environment): the one `error:` line naming the fix."""
    code = "import sys; sys.modules['gradio'] = None; from lingbridge.cli import main; main(['app'])"
    proc = run_cli([sys.executable, "-c", code], cwd=tmp_path, timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-1500:]
    lines = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "the app needs gradio" in lines[0] and "pip install" in lines[0]
    assert not list(tmp_path.iterdir())  # nothing created
