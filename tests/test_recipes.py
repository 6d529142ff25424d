"""The recipes end to end on tiny models: pretraining → run directory → LoRA finetune from it."""

import json

import numpy as np
import pytest
from safetensors.numpy import load_file

from conftest import config
from lingbridge.recipes import finetune_classification


def test_pretrain_run_directory(pretrained_run):
    files = {p.name for p in pretrained_run.iterdir()}
    assert {"model.safetensors", "config.json", "tokenizer.json", "lingbridge_run.json", "README.md", "loss.png"} <= files
    assert not any(name.startswith("checkpoint-") or name.endswith(".bin") for name in files)
    assert not pretrained_run.with_name(pretrained_run.name + ".partial").exists()
    record = json.loads((pretrained_run / "lingbridge_run.json").read_text())
    assert record["job"] == "pretrain" and record["train_rows"]["tlm"] > 0
    langs = record["languages"]
    assert set(record["metrics"]["per_language"]) >= set(langs) | {"tlm", "all"}
    assert set(record["tokenizer"]["fertility"]) == set(langs)
    q = {k: v["q"] for k, v in record["language_sampling"]["per_language"].items()}
    assert abs(sum(q.values()) - 1) < 1e-6
    # something was learned: the loss fell from its start
    losses = [h["loss"] for h in record["metrics"].get("log_history", [])] or None
    first, last = record["metrics"]["first_loss"], record["metrics"]["last_loss"]
    assert last < first - 0.5, (first, last, losses)
    assert record["data_sources"][0]["fingerprints"]["train"]
    assert record["cleaning"]["rows_before"]["train"] >= record["cleaning"]["rows_after"]["train"]


def test_finetune_lora_from_pretrained_run(pretrained_run, tmp_path):
    out = tmp_path / "ft"
    finetune_classification.main(["--config", config("finetune_classification", "sentiment_tiny"), "--model_name_or_path", str(pretrained_run),
                                  "--output_dir", str(out), "--num_train_epochs", "3", "--disable_tqdm", "true"])
    record = json.loads((out / "lingbridge_run.json").read_text())
    table = record["metrics"]["per_language"]
    assert set(table) == set(record["languages"]) | {"all"}
    assert {"accuracy", "precision", "recall", "f1", "n"} <= set(table["en"])
    transfer = record["metrics"]["transfer"]
    assert transfer["source_languages"] == ["de", "en", "zh"] and len(transfer["target_languages"]) == 5
    gap = transfer["gap"]["accuracy"]
    assert gap["gap"] == pytest.approx(gap["source_mean"] - gap["target_mean"])
    lora = record["lora"]
    assert lora["target_modules"] == ["query", "value"] and lora["modules_to_save"] == ["classifier"]
    assert lora["trainable_params"] < lora["total_params"] / 5
    assert (out / "confusion_matrix.png").stat().st_size > 1000
    # merged on save: a plain model folder that pipeline() loads, with the label names
    from transformers import pipeline

    clf = pipeline("text-classification", model=str(out))
    assert clf("The soup was cold and the waiter was rude.")[0]["label"] in record["label_names"]
    weights = load_file(str(out / "model.safetensors"))
    assert not any("lora_" in k for k in weights)
    # the finetune changed the encoder (merged LoRA deltas), not only the head
    base = load_file(str(pretrained_run / "model.safetensors"))
    key = next(k for k in weights if k.endswith("attention.self.query.weight"))
    assert not np.allclose(weights[key], base[key])


def test_finetune_keeps_unmerged_adapter(pretrained_run, tmp_path):
    out = tmp_path / "adapter"
    finetune_classification.main(["--config", config("finetune_classification", "sentiment_tiny"), "--model_name_or_path", str(pretrained_run),
                                  "--output_dir", str(out), "--max_steps", "4", "--merge_lora", "false",
                                  "--eval_strategy", "no", "--save_strategy", "no", "--load_best_model_at_end", "false"])
    assert (out / "adapter_model.safetensors").is_file() and (out / "adapter_config.json").is_file()
    from peft import AutoPeftModelForSequenceClassification

    from transformers import AutoConfig

    labels = AutoConfig.from_pretrained(out).id2label  # the run keeps the labelled config beside the adapter
    model = AutoPeftModelForSequenceClassification.from_pretrained(str(out), num_labels=len(labels), id2label=labels)
    assert model.config.id2label[0] == "negative"
    assert model.peft_config["default"].base_model_name_or_path == str(pretrained_run)


def test_from_scratch_trains_its_own_tokenizer(tmp_path):
    out = tmp_path / "scratch"
    finetune_classification.main(["--config", config("finetune_classification"), "--output_dir", str(out),
                                  "--max_steps", "6", "--eval_strategy", "no", "--save_strategy", "no",
                                  "--load_best_model_at_end", "false"])
    record = json.loads((out / "lingbridge_run.json").read_text())
    assert record["init"].startswith("random") and record["lora"] is None
    assert record["tokenizer_source"] == "trained on the training split"


def test_pretraining_continues_from_a_checkpoint(pretrained_run, tmp_path):
    """`model_name_or_path` continues a checkpoint (here a run directory) with its own tokenizer."""
    from lingbridge.recipes import pretrain

    out = tmp_path / "continued"
    pretrain.main(["--config", config("pretrain"), "--model_name_or_path", str(pretrained_run), "--output_dir", str(out),
                   "--max_steps", "3", "--max_eval_samples", "16", "--disable_tqdm", "true"])
    record = json.loads((out / "lingbridge_run.json").read_text())
    assert record["init"] == str(pretrained_run) and record["tokenizer"]["trained"] is False
    assert record["tokenizer"]["vocab_size"] == json.loads((pretrained_run / "lingbridge_run.json").read_text())["tokenizer"]["vocab_size"]
