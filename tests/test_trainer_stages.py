"""TrainingArguments honoured as the Transformers example scripts do, on real recipe runs: the standard
result files, evaluation history per language, an evaluate-only and a predict-only run of an existing
run directory, `--resume_from_checkpoint PATH|true`, and `--push_to_hub` through `lingbridge publish`'s
code against the test Hub server."""

from __future__ import annotations

import hashlib
import json
import os

import pytest

from conftest import config
from fake_hub import FakeHub
from lingbridge.recipes import finetune_classification

TINY = ["--config", config("finetune_classification", "sentiment_tiny"), "--disable_tqdm", "true",
        "--max_train_samples", "200", "--max_eval_samples", "64"]


def digest(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.fixture(scope="module")
def trained(pretrained_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("stages") / "cls"
    finetune_classification.main([*TINY, "--model_name_or_path", str(pretrained_run), "--output_dir", str(out),
                                  "--num_train_epochs", "2", "--eval_strategy", "epoch", "--save_strategy", "epoch",
                                  "--save_total_limit", "1", "--keep_checkpoints", "true", "--logging_steps", "2"])
    return out


def test_standard_result_files_and_eval_history(trained):
    files = {name: json.loads((trained / name).read_text()) for name in
             ("all_results.json", "train_results.json", "eval_results.json", "predict_results.json",
              "trainer_state.json")}
    assert {"train_loss", "train_runtime", "train_samples", "epoch"} <= set(files["train_results.json"])
    assert {"eval_loss", "eval_f1", "eval_de_f1"} <= set(files["eval_results.json"])  # dev, per language too
    assert {"predict_accuracy", "predict_f1", "predict_fr_accuracy", "predict_samples"} <= set(files["predict_results.json"])
    assert files["all_results.json"] == {**files["train_results.json"], **files["eval_results.json"],
                                         **files["predict_results.json"]}
    assert files["trainer_state.json"]["global_step"] > 0 and files["trainer_state.json"]["log_history"]
    record = json.loads((trained / "lingbridge_run.json").read_text())
    history = record["metrics"]["eval_history"]
    assert [round(h["epoch"]) for h in history] == [1, 2]  # one evaluation per epoch, kept in the record
    assert {"eval_loss", "eval_f1", "eval_en_f1", "eval_zh_accuracy"} <= set(history[0])
    card = (trained / "README.md").read_text()
    assert "Evaluation during training" in card and "eval_f1" in card
    events = list((trained / "runs").rglob("events.out.tfevents.*"))  # TensorBoard, on by default
    assert events, "no TensorBoard event file in the run directory"


def test_evaluate_only_writes_metrics_and_keeps_the_weights(trained):
    before = digest(trained)
    trained_eval = json.loads((trained / "eval_results.json").read_text())
    finetune_classification.main([*TINY, "--model_name_or_path", str(trained), "--do_train", "false", "--do_eval"])
    after = digest(trained)
    for name in ("model.safetensors", "config.json", "lingbridge_run.json", "README.md", "tokenizer.json"):
        assert after[name] == before[name], name
    assert after["eval_results.json"] != before["eval_results.json"]
    assert after["predict_results.json"] == before["predict_results.json"]  # --do_eval alone: no prediction
    results = json.loads((trained / "eval_results.json").read_text())
    # the saved weights give the dev metrics the training run measured at its end
    assert results["eval_accuracy"] == pytest.approx(trained_eval["eval_accuracy"])
    assert results["eval_en_accuracy"] == pytest.approx(trained_eval["eval_en_accuracy"])


def test_predict_only_writes_predictions(trained, tmp_path):
    out = tmp_path / "predict"
    finetune_classification.main([*TINY, "--model_name_or_path", str(trained), "--do_predict",
                                  "--output_dir", str(out)])
    rows = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert rows and {"lang", "label", "prediction"} <= set(rows[0])
    results = json.loads((out / "predict_results.json").read_text())
    assert results["predict_samples"] == len(rows)
    assert not (out / "model.safetensors").exists() and not (out / "eval_results.json").exists()


def test_resume_from_checkpoint_path(trained, tmp_path):
    """A checkpoint of a finished run (kept) continues in a new run directory, as Trainer resumes it."""
    ckpt = sorted(trained.glob("checkpoint-*"))[-1]
    state = json.loads((ckpt / "trainer_state.json").read_text())
    out = tmp_path / "resumed"
    finetune_classification.main([*TINY, "--model_name_or_path", str(trained.parent / "cls"),
                                  "--resume_from_checkpoint", str(ckpt), "--output_dir", str(out),
                                  "--num_train_epochs", "3", "--eval_strategy", "no", "--save_strategy", "no",
                                  "--load_best_model_at_end", "false", "--logging_steps", "1"])
    final = json.loads((out / "trainer_state.json").read_text())
    record = json.loads((out / "lingbridge_run.json").read_text())
    assert final["global_step"] > state["global_step"]
    # only the steps after the checkpoint ran; the checkpoint's log history is carried over, as Trainer does
    assert record["ranks"][0]["steps"] == final["global_step"] - state["global_step"]
    assert final["log_history"][: len(state["log_history"])] == state["log_history"]


def test_resume_from_checkpoint_true_is_resume(pretrained_run, tmp_path):
    out = tmp_path / "r"
    common = [*TINY, "--model_name_or_path", str(pretrained_run), "--output_dir", str(out), "--max_steps", "6",
              "--save_strategy", "steps", "--save_steps", "3", "--eval_strategy", "no",
              "--load_best_model_at_end", "false", "--logging_steps", "1"]
    work = tmp_path / "r.partial"
    work.mkdir()
    (work / ".lingbridge_work").write_text("finetune_classification\n")
    finetune_classification.main([*common, "--max_steps", "3", "--resume_from_checkpoint", "true"])
    assert (out / "lingbridge_run.json").is_file()


@pytest.fixture
def hub(tmp_path):
    server = FakeHub(tmp_path / "hub").start()
    yield server
    server.stop()


def test_push_to_hub_publishes_the_finished_run(pretrained_run, tmp_path, hub, monkeypatch):
    for key, value in {"HF_ENDPOINT": hub.url, "HF_HUB_OFFLINE": "0", "HF_HUB_DISABLE_XET": "1",
                       "HF_TOKEN": "hf_lingbridgeTestSecret0123456789", "HF_HOME": str(tmp_path / "hf")}.items():
        monkeypatch.setenv(key, value)
    import huggingface_hub.constants as c

    monkeypatch.setattr(c, "ENDPOINT", hub.url)
    monkeypatch.setattr(c, "HF_HUB_OFFLINE", False)
    out = tmp_path / "pushed"
    finetune_classification.main([*TINY, "--model_name_or_path", str(pretrained_run), "--output_dir", str(out),
                                  "--max_steps", "2", "--eval_strategy", "no", "--save_strategy", "no",
                                  "--load_best_model_at_end", "false", "--push_to_hub", "--hub_model_id",
                                  "lingbridge-test/pushed", "--hub_private_repo", "true"])
    files = hub.files("lingbridge-test/pushed")
    assert {"model.safetensors", "README.md", "lingbridge_run.json", "config.json", "all_results.json",
            "trainer_state.json"} <= set(files)
    assert files["model.safetensors"] == (out / "model.safetensors").read_bytes()
    assert "lingbridge-test/pushed" in files["README.md"].decode()
    commits = [r for r in hub.requests if "/commit/" in r[1]]
    assert len(commits) == 1  # one commit: weights, card and record together, after the run
    assert os.environ["HF_TOKEN"] not in (out / "lingbridge_run.json").read_text()


def test_curves_figure_for_the_app(trained, tmp_path):
    from lingbridge.training import curves_figure

    figure = curves_figure(trained)
    assert [ax.get_title() for ax in figure.axes] == ["Loss", "Dev metrics during training"]
    labels = [line.get_label() for line in figure.axes[1].get_lines()]
    assert "f1" in labels and any(label.startswith("accuracy ") or label.startswith("loss") or " " in label
                                  for label in labels)  # overall, then one line per language
    (tmp_path / "lingbridge_run.json").write_text(json.dumps({"job": "train_cnn", "metrics": {}}))
    assert curves_figure(tmp_path) is None  # nothing to draw: the app shows nothing
