"""Quantisation for CPU inference: PyTorch dynamic int8, and ONNX export + ONNX Runtime int8.

Dynamic int8 stores `nn.Linear` weights as int8 and quantises activations on the fly; it needs no
calibration data. A dynamically quantised PyTorch model cannot be saved as a `from_pretrained`
folder (safetensors hold plain tensors, not packed int8 params, and pickling is not allowed
here), so the run keeps the fp32 safetensors and the quantisation is re-applied at load time by
`quantize_dynamic_int8` — deterministic, so the reloaded model is the one that was measured.
ONNX Runtime's quantised graph, on the other hand, is a self-contained int8 file.
"""

from __future__ import annotations

from pathlib import Path

import torch

ONNX_FILE = "model.onnx"
ONNX_INT8_FILE = "model_quantized.onnx"


def quantize_dynamic_int8(model):
    """Dynamic int8 quantisation of every `nn.Linear` (weights int8, activations quantised per batch).

    Embeddings and LayerNorm stay fp32: they are a small share of the compute and quantising them
    costs accuracy.

    Why `torch.ao.quantization` (deprecated upstream in favour of torchao) and not torchao: measured
    2026-12-01 on this 2-core AMD EPYC CPU with torch 2.13.0+cpu, torchao 0.18.0 installs (+28 MB) and its
    `quantize_(model, Int8DynamicActivationInt8WeightConfig())` is numerically right (1.6% relative error on
    a 384→1536→384 MLP, 32×128 tokens), but in eager mode it ran 1.4-2.7× *slower* than fp32 (396-802 ms
    against 278-299 ms), reached 168 ms only after `torch.compile` (46 s of compilation), and stayed slower
    than this function (100-125 ms, 2.4-2.8× faster than fp32). Installed, torchao also prints two "Failed
    to load" lines (its CUDA and Python 3.10 kernels) into every `transformers` import. Move when torchao's
    CPU path is faster in eager mode or `torch.ao.quantization` is removed (benchmarks/bench_optimize.py
    measures the model this produces).
    """
    return torch.ao.quantization.quantize_dynamic(model.eval(), {torch.nn.Linear}, dtype=torch.qint8)


def export_onnx(model, tokenizer, path: str | Path, opset: int = 17) -> Path:
    """Export a sequence classifier to ONNX with dynamic batch and sequence axes (torch.export based).

    The dynamo exporter is slow (~15 s for a tiny XLM-R) but right: the TorchScript exporter
    (`dynamo=False`, 0.6 s) traced XLM-R into a graph whose logits were off by 0.03-0.08 with either
    attention implementation, which `check_onnx` caught.
    """
    sample = tokenizer(["a short example", "another, slightly longer example sentence"], padding=True,
                       return_tensors="pt")
    names = list(sample.keys())
    batch, sequence = torch.export.Dim("batch"), torch.export.Dim("sequence")
    with torch.inference_mode():
        torch.onnx.export(model.eval(), (), str(path), kwargs=dict(sample), input_names=names,
                          output_names=["logits"], opset_version=opset, dynamo=True,
                          dynamic_shapes={n: {0: batch, 1: sequence} for n in names})
    return Path(path)


def check_onnx(model, tokenizer, path: str | Path, texts: list[str], atol: float = 1e-3) -> float:
    """Compare the exported graph with the PyTorch model on real texts of different lengths (padded batch).

    The TorchScript exporter freezes Python-level branches; this catches a graph that only works
    for the shapes it was traced with. Returns the largest absolute logit difference.
    """
    from .measure import OnnxClassifier, encode

    batch = encode(tokenizer, texts[:8], 128)
    with torch.inference_mode():
        ref = model(**{k: torch.from_numpy(v) for k, v in batch.items()}).logits.float().numpy()
    diff = float(abs(OnnxClassifier(path)(batch) - ref).max())
    if diff > atol:
        raise RuntimeError(f"the ONNX export differs from the PyTorch model by {diff:.2e} (> {atol})")
    return diff


def quantize_onnx_int8(src: str | Path, dst: str | Path) -> Path:
    """ONNX Runtime dynamic quantisation: int8 weights for MatMul/Gemm, activations quantised at run time."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8)
    return Path(dst)


def bitsandbytes_snippet(path: str) -> str:
    """How to load a (fp32) run folder in 8-bit or 4-bit on a CUDA GPU with bitsandbytes (not measured here)."""
    return (
        "# GPU only: pip install bitsandbytes\n"
        "import torch\n"
        "from transformers import AutoModelForSequenceClassification, BitsAndBytesConfig\n"
        f'model_8bit = AutoModelForSequenceClassification.from_pretrained("{path}", device_map="auto",\n'
        "    quantization_config=BitsAndBytesConfig(load_in_8bit=True))\n"
        f'model_4bit = AutoModelForSequenceClassification.from_pretrained("{path}", device_map="auto",\n'
        '    quantization_config=BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",\n'
        "                                           bnb_4bit_compute_dtype=torch.bfloat16))"
    )
