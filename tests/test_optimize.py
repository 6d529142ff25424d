"""`lingbridge optimize` on a tiny classification run: every method end to end, and the bad input."""

import json

import numpy as np
import pytest

from conftest import config, run_cli
from lingbridge.optimize import load_optimized
from lingbridge.recipes.optimize import main as optimize

FAST = ["--latency_runs", "2", "--latency_batch_sizes", "1", "4", "--disable_tqdm", "true", "--report_to", "none"]
TRAIN = ["--save_strategy", "no", "--logging_steps", "2"]  # for the methods that train (the others refuse them)


@pytest.fixture(scope="module")
def cls_run(tmp_path_factory):
    """A tiny 8-language sentiment classifier (XLM-R, 2 layers × 2 heads, from scratch on the sample)."""
    from lingbridge.recipes import finetune_classification

    out = tmp_path_factory.mktemp("opt") / "cls"
    finetune_classification.main(["--config", config("finetune_classification"), "--output_dir", str(out),
                                  "--max_steps", "30", "--eval_strategy", "no", "--save_strategy", "no",
                                  "--load_best_model_at_end", "false", "--disable_tqdm", "true"])
    return out


def _record(path):
    return json.loads((path / "lingbridge_run.json").read_text())


def _check_common(out, method, teacher):
    record = _record(out)
    assert record["job"] == "optimize" and record["method"] == method
    assert record["pipeline_tag"] == "text-classification"
    assert record["label_names"] == _record(teacher)["label_names"]
    assert set(record["metrics"]["per_language"]) == set(record["languages"]) | {"all"}
    assert set(record["metrics"]["per_language_before"]) == set(record["metrics"]["per_language"])
    opt = record["optimization"]
    for side in ("before", "after"):
        assert opt[side]["b1_p50"] > 0 and opt[side]["throughput"] > 0 and opt[side]["weights_mb"] > 0
    assert opt["reload_check"] is True
    assert (out / "optimization_report.png").stat().st_size > 5000
    assert "| latency b=1 p50 (ms/example) |" in (out / "optimization_report.md").read_text()
    card = (out / "README.md").read_text()
    assert "accuracy after" in card and "{model}" not in card and ".partial" not in card
    assert not out.with_name(out.name + ".partial").exists()
    return record


def test_dynamic_int8(cls_run, tmp_path):
    out = optimize([str(cls_run), "--method", "dynamic_int8", "--output_dir", str(tmp_path / "q"), *FAST])
    record = _check_common(out, "dynamic_int8", cls_run)
    model = load_optimized(out)
    import torch

    assert any(isinstance(m, torch.ao.nn.quantized.dynamic.Linear) for m in model.modules())
    # int8 weights take about a quarter of fp32 for the Linear layers
    assert record["optimization"]["after"]["weights_mb"] < record["optimization"]["before"]["weights_mb"]
    assert "quantize_dynamic" in (out / "README.md").read_text()
    assert abs(record["optimization"]["accuracy_drop"]) <= 0.1
    assert record["optimization"]["agreement_with_before"] >= 0.9


def test_onnx_int8(cls_run, tmp_path):
    pytest.importorskip("onnxruntime")
    out = optimize([str(cls_run), "--method", "onnx_int8", "--output_dir", str(tmp_path / "onnx"), *FAST])
    record = _check_common(out, "onnx_int8", cls_run)
    assert (out / "model_quantized.onnx").is_file() and not (out / "model.safetensors").exists()
    # the card's snippet runs as written and gives a label
    card = (out / "README.md").read_text()
    snippet = card.split("```python\n", 1)[1].split("```", 1)[0]
    proc = run_cli(["python", "-c", snippet], timeout=120)
    assert proc.returncode == 0, proc.stderr[-1500:]
    assert proc.stdout.strip() in record["label_names"]
    assert record["optimization"]["after"]["weights_mb"] < 0.5 * record["optimization"]["before"]["weights_mb"]


def test_magnitude_prune_with_recovery(cls_run, tmp_path):
    out = optimize([str(cls_run), "--method", "magnitude_prune", "--sparsity", "0.6", "--recovery_steps", "4",
                    "--learning_rate", "1e-3", "--output_dir", str(tmp_path / "mag"), *FAST, *TRAIN])
    record = _check_common(out, "magnitude_prune", cls_run)
    assert record["optimization"]["linear_sparsity"] == pytest.approx(0.6, abs=0.01)
    after = record["optimization"]["after"]
    assert after["nonzero"] < 0.75 * after["parameters"]
    # a plain folder: pipeline() loads it and the zeros survived the recovery finetune and the save
    from safetensors.numpy import load_file

    weights = load_file(str(out / "model.safetensors"))
    key = next(k for k in weights if k.endswith("attention.self.query.weight"))
    assert (weights[key] == 0).mean() > 0.2
    assert "first_loss" in record["metrics"]


def test_head_prune(cls_run, tmp_path):
    out = optimize([str(cls_run), "--method", "head_prune", "--head_fraction", "0.5", "--importance_batches", "2",
                    "--output_dir", str(tmp_path / "heads"), *FAST, *TRAIN])
    record = _check_common(out, "head_prune", cls_run)
    opt = record["optimization"]
    assert opt["heads_before"] == 4 and opt["heads_after"] == 2  # tiny XLM-R: 2 layers × 2 heads
    assert opt["after"]["parameters"] < opt["before"]["parameters"]
    model = load_optimized(out)
    assert sum(layer.attention.self.num_attention_heads for layer in model.roberta.encoder.layer) == 2
    assert "load_head_pruned" in (out / "README.md").read_text()


def test_distill_half_the_layers(cls_run, tmp_path):
    out = optimize([str(cls_run), "--method", "distill", "--max_steps", "12", "--learning_rate", "2e-3",
                    "--per_device_train_batch_size", "16", "--output_dir", str(tmp_path / "student"), *FAST, *TRAIN,
                    "--logging_steps", "1"])
    record = _check_common(out, "distill", cls_run)
    opt = record["optimization"]
    assert opt["teacher_layers"] == 2 and opt["student_layers"] == 1
    assert opt["after"]["parameters"] < opt["before"]["parameters"]
    metrics = record["metrics"]
    losses = [loss for _, loss in metrics["loss_curve"]]
    assert np.mean(losses[-4:]) < np.mean(losses[:4])  # the student learned from the teacher
    assert opt["agreement_with_before"] > 0.5
    from transformers import pipeline

    clf = pipeline("text-classification", model=str(out))
    assert clf("The soup was cold.")[0]["label"] in record["label_names"]


def test_distillation_loss_matches_definition():
    import torch

    from lingbridge.optimize.distill import distillation_loss

    s, t, y = torch.tensor([[2.0, 0.0, -1.0]]), torch.tensor([[1.0, 0.5, 0.0]]), torch.tensor([0])
    T = 3.0
    p_t = torch.softmax(t / T, -1)
    kl = (p_t * (p_t.log() - torch.log_softmax(s / T, -1))).sum() * T * T
    ce = -torch.log_softmax(s, -1)[0, 0]
    assert distillation_loss(s, t, y, T, 0.3).item() == pytest.approx((0.3 * kl + 0.7 * ce).item(), rel=1e-5)
    assert distillation_loss(t, t, y, T, 1.0).item() == pytest.approx(0.0, abs=1e-6)


# ---- bad input: one line, exit 2, nothing written --------------------------------------------

@pytest.mark.parametrize("args, expected", [
    (["--method", "quantum"], "unknown method 'quantum'"),
    (["--method", "magnitude_prune", "--sparsity", "1.5"], "sparsity must be between 0 and 1"),
    (["--method", "magnitude_prune", "--sparsity", "-0.1"], "sparsity must be between 0 and 1"),
    ([], "--method is required"),
    # every TrainingArguments field is honoured as Trainer honours it, or refused
    (["--method", "dynamic_int8", "--learning_rate", "1e-3"],
     "--learning_rate has no effect here: method dynamic_int8 trains nothing"),
    (["--method", "magnitude_prune", "--recovery_steps", "0", "--num_train_epochs", "3"],
     "--num_train_epochs has no effect here: method magnitude_prune trains nothing"),
    (["--method", "magnitude_prune", "--recovery_steps", "2", "--max_steps", "50"],
     "--max_steps has no effect here: magnitude_prune's recovery finetune runs --recovery_steps steps"),
    (["--method", "distill", "--do_eval"], "--do_train/--do_eval/--do_predict do not apply"),
    (["--method", "distill", "--do_train", "false"], "--do_train/--do_eval/--do_predict do not apply"),
    (["--method", "head_prune", "--resume_from_checkpoint", "true"], "--resume_from_checkpoint does not apply"),
    (["--method", "distill", "--push_to_hub"], "--push_to_hub needs --hub_model_id"),
])
def test_bad_options(cls_run, tmp_path, args, expected):
    proc = run_cli(["lingbridge", "optimize", str(cls_run), *args, "--output_dir", str(tmp_path / "x")], timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and expected in lines[0], proc.stderr[-1500:]
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("with_record", [True, False])
def test_not_a_classification_run(tmp_path, with_record):
    """A pretraining (fill-mask) run directory, and a plain masked-LM folder without a record."""
    from transformers import BertConfig

    mlm = tmp_path / "mlm"
    BertConfig(architectures=["BertForMaskedLM"], hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
               intermediate_size=64).save_pretrained(mlm)
    if with_record:
        (mlm / "lingbridge_run.json").write_text(json.dumps({"job": "pretrain", "pipeline_tag": "fill-mask"}))
    before = sorted(tmp_path.rglob("*"))
    proc = run_cli(["lingbridge", "optimize", str(mlm), "--method", "dynamic_int8",
                    "--output_dir", str(tmp_path / "x")], timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-1500:]
    assert len(proc.stderr.strip().splitlines()) == 1 and proc.stderr.startswith("error:")
    assert ("a 'pretrain' run (fill-mask)" if with_record else "not a sequence-classification model") in proc.stderr
    assert sorted(tmp_path.rglob("*")) == before


def test_missing_run_directory(tmp_path):
    proc = run_cli(["lingbridge", "optimize", str(tmp_path / "nope"), "--method", "distill"], timeout=120)
    assert proc.returncode == 2 and proc.stderr.strip() == f"error: model_name_or_path: folder not found: {tmp_path / 'nope'}"


def test_help_lists_methods():
    proc = run_cli(["lingbridge", "optimize", "--help"], timeout=60)
    assert proc.returncode == 0 and all(m in proc.stdout for m in ("dynamic_int8", "onnx_int8", "head_prune", "distill"))


def test_push_to_hub_publishes_the_optimized_run(cls_run, tmp_path, monkeypatch):
    """`--push_to_hub`: the finished run, card and record, one commit (the test Hub server speaks the real protocol)."""
    from fake_hub import FakeHub

    hub = FakeHub(tmp_path / "hub").start()
    try:
        for key, value in {"HF_ENDPOINT": hub.url, "HF_HUB_OFFLINE": "0", "HF_HUB_DISABLE_XET": "1",
                           "HF_TOKEN": "hf_lingbridgeTestSecret0123456789", "HF_HOME": str(tmp_path / "hf")}.items():
            monkeypatch.setenv(key, value)
        import huggingface_hub.constants as c

        monkeypatch.setattr(c, "ENDPOINT", hub.url)
        monkeypatch.setattr(c, "HF_HUB_OFFLINE", False)
        out = optimize([str(cls_run), "--method", "dynamic_int8", "--output_dir", str(tmp_path / "q"), *FAST,
                        "--push_to_hub", "--hub_model_id", "lingbridge-test/int8"])
        files = hub.files("lingbridge-test/int8")
        assert {"model.safetensors", "README.md", "lingbridge_run.json", "optimization_report.png"} <= set(files)
        assert files["model.safetensors"] == (out / "model.safetensors").read_bytes()
        assert len([r for r in hub.requests if "/commit/" in r[1]]) == 1
    finally:
        hub.stop()
