"""Make classification models smaller and faster: quantisation, pruning, distillation.

`lingbridge optimize RUN_DIR --method dynamic_int8|onnx_int8|magnitude_prune|head_prune|distill`
writes a new run directory with the optimised model, a before/after report and a card; see
`lingbridge.optimize.run`. This module stays light: heavy imports happen inside the functions.
"""

from __future__ import annotations

import json
from pathlib import Path

METHOD_NAMES = ("dynamic_int8", "onnx_int8", "magnitude_prune", "head_prune", "distill")


def load_head_pruned(path, auto_class=None):
    """Load a `head_prune` run (see `lingbridge.optimize.prune.load_head_pruned`)."""
    from .prune import load_head_pruned as _load

    return _load(path, auto_class)


def load_optimized(path: str | Path):
    """Load any `lingbridge optimize` output the way its card shows.

    Returns a PyTorch model (dynamic int8 re-applied, or pruned heads rebuilt, where the folder says
    so) or, for an ONNX run, a `lingbridge.optimize.measure.OnnxClassifier` (numpy batch → logits).
    """
    path = Path(path)
    if (path / "model_quantized.onnx").is_file():
        from .measure import OnnxClassifier

        return OnnxClassifier(path / "model_quantized.onnx")
    config = json.loads((path / "config.json").read_text(encoding="utf-8"))
    if config.get("lingbridge_pruned_heads"):
        return load_head_pruned(path)
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(path, use_safetensors=True).eval()
    if config.get("lingbridge_quantization") == "dynamic_int8":
        from .quantize import quantize_dynamic_int8

        model = quantize_dynamic_int8(model)
    return model


def main(argv=None):
    """`lingbridge optimize` (see `lingbridge.optimize.run`)."""
    from .run import main as _main

    return _main(argv)
