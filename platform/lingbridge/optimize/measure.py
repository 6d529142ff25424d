"""What each optimisation is judged on: size, parameters, CPU latency, throughput, metrics per language.

A model under test is a *classifier*: a callable from a tokenised numpy batch to logits, so a
PyTorch model (fp32, int8, pruned, distilled) and an ONNX Runtime session go through the same
measurement code.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

import numpy as np

WEIGHT_SUFFIXES = (".safetensors", ".onnx", ".bin", ".pt")


class TorchClassifier:
    """Wrap a `*ForSequenceClassification` model (any dtype, quantised or not) as numpy → logits."""

    def __init__(self, model):
        self.model = model.eval()

    def __call__(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        import torch

        with torch.inference_mode():
            return self.model(**{k: torch.from_numpy(v) for k, v in batch.items()}).logits.float().numpy()


class OnnxClassifier:
    """An ONNX Runtime session on the CPU, fed only the inputs the graph declares.

    Args:
        path: the `.onnx` file.
        threads: intra-op threads; the default matches torch's, so the comparison is fair.
    """

    def __init__(self, path: str | Path, threads: int | None = None):
        import onnxruntime as ort
        import torch

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads or torch.get_num_threads()
        self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        self.inputs = [i.name for i in self.session.get_inputs()]

    def __call__(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        return self.session.run(None, {k: batch[k].astype(np.int64) for k in self.inputs})[0]


@contextlib.contextmanager
def cpu_threads(n: int | None):
    """Run the block with `n` intra-op threads (None: leave torch's setting)."""
    import torch

    before = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def encode(tokenizer, texts: list[str], max_length: int) -> dict[str, np.ndarray]:
    """Tokenise one batch, padded to its longest row (what a server does)."""
    return dict(tokenizer(list(texts), padding=True, truncation=True, max_length=max_length, return_tensors="np"))


def predict(classifier, tokenizer, texts: list[str], max_length: int, batch_size: int = 32) -> np.ndarray:
    """Predicted label ids for `texts`."""
    preds = []
    for i in range(0, len(texts), batch_size):
        preds.append(np.argmax(classifier(encode(tokenizer, texts[i:i + batch_size], max_length)), axis=-1))
    return np.concatenate(preds) if preds else np.zeros(0, dtype=int)


def measure_latency(classifiers: dict, tokenizer, texts: list[str], max_length: int, batch_sizes=(1, 32),
                    runs: int = 20, warmup: int = 3) -> dict:
    """CPU latency of each model alone (tokenisation excluded), per batch size.

    The models take turns on the same batches (before, after, before, after, ...), so a machine
    whose load changes during the measurement slows both sides alike and the ratio stays honest.
    Each run feeds the next `batch_size` texts of the evaluation set (cycled): real lengths.

    Args:
        classifiers: `{name: classifier}`.
    Returns:
        `{name: {"batch_<bs>": {"p50_ms", "p95_ms", "throughput"}}}` with milliseconds per example
        (batch time / batch size) and examples per second.
    """
    out: dict = {name: {} for name in classifiers}
    for bs in batch_sizes:
        batches = [encode(tokenizer, [texts[(i * bs + j) % len(texts)] for j in range(bs)], max_length)
                   for i in range(runs + warmup)]
        times: dict = {name: [] for name in classifiers}
        from tqdm.auto import tqdm

        for i, batch in enumerate(tqdm(batches, desc=f"timing batch size {bs}", unit="batch", leave=False)):
            for name, classifier in classifiers.items():
                start = time.perf_counter()
                classifier(batch)
                if i >= warmup:
                    times[name].append(time.perf_counter() - start)
        for name, t in times.items():
            per_example = np.array(t) * 1000 / bs
            out[name][f"batch_{bs}"] = {"p50_ms": float(np.percentile(per_example, 50)),
                                        "p95_ms": float(np.percentile(per_example, 95)),
                                        "throughput": float(bs * len(t) / sum(t))}
    return out


def weights_size_mb(folder: str | Path, names: list[str] | None = None) -> float:
    """Megabytes of the weight files in `folder` (all of them, or just `names`)."""
    folder = Path(folder)
    files = [folder / n for n in names] if names else [p for p in folder.iterdir() if p.suffix in WEIGHT_SUFFIXES]
    return sum(p.stat().st_size for p in files if p.is_file()) / 2**20


def serialized_size_mb(model) -> float:
    """Size of `model.state_dict()` serialised (how big a quantised model is, which safetensors cannot hold)."""
    import io

    import torch

    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)
    return buf.tell() / 2**20


def count_weights(model) -> dict[str, int]:
    """Parameters (quantised Linear weights included) and how many of them are non-zero."""
    import torch

    # (the scale/zero-point entries of quantised layers are bookkeeping, not parameters)
    tensors = [t for k, t in model.state_dict().items() if isinstance(t, torch.Tensor) and t.is_floating_point()
               and not k.endswith((".scale", ".zero_point"))]
    for module in model.modules():
        # dynamically quantised Linear layers keep weight and bias in packed params, not in state_dict tensors
        if hasattr(module, "_packed_params") and callable(getattr(module, "weight", None)):
            tensors += [module.weight().dequantize()] + ([module.bias()] if module.bias() is not None else [])
    total = sum(t.numel() for t in tensors)
    nonzero = sum(int(torch.count_nonzero(t)) for t in tensors)
    return {"total": total, "nonzero": nonzero}


# ----------------------------------------------------------------------------------------------
# The report: one table and one plot, before vs after.

def summarize(sizes: dict, params: dict, latency: dict, table: dict) -> dict:
    """Flatten one side (before or after) into the report's rows (throughput at the largest batch)."""
    out = {"weights_mb": sizes["weights_mb"], "disk_mb": sizes["disk_mb"], "parameters": params["total"],
           "nonzero": params["nonzero"]}
    for name, row in latency.items():
        bs = name.split("_")[1]
        out[f"b{bs}_p50"], out[f"b{bs}_p95"] = row["p50_ms"], row["p95_ms"]
    largest = max(latency, key=lambda n: int(n.split("_")[1]))
    out["throughput"] = latency[largest]["throughput"]
    out["throughput_batch"] = int(largest.split("_")[1])
    out.update(accuracy=table["all"]["accuracy"], f1=table["all"]["f1"])
    return out


def _row_names(summary: dict) -> list[tuple[str, str]]:
    rows = [("weights_mb", "weights (MB)"), ("disk_mb", "on disk (MB)"), ("parameters", "parameters"),
            ("nonzero", "non-zero parameters")]
    for key in summary:
        if key.startswith("b") and key.endswith(("_p50", "_p95")):
            rows.append((key, f"latency b={key[1:].split('_')[0]} {key.rsplit('_', 1)[1]} (ms/example)"))
    rows += [("throughput", f"throughput b={summary.get('throughput_batch')} (examples/s)"),
             ("accuracy", "accuracy (all)"), ("f1", "macro F1 (all)")]
    return rows


def report_table(before: dict, after: dict, method: str) -> str:
    """Markdown: one row per measure, before | after | after/before."""
    lines = [f"| measure | before | after ({method}) | after / before |", "|---|---|---|---|"]
    for key, name in _row_names(after):
        b, a = before.get(key), after.get(key)
        if b is None or a is None:
            continue
        fmt = (lambda v: f"{v:,}") if isinstance(b, int) and isinstance(a, int) else (lambda v: f"{v:.4g}")
        ratio = f"{a / b:.3f}" if b else ""
        lines.append(f"| {name} | {fmt(b)} | {fmt(a)} | {ratio} |")
    return "\n".join(lines)


def language_table(before: dict, after: dict) -> str:
    """Markdown: accuracy and F1 per language, before and after."""
    lines = ["| lang | n | accuracy before | accuracy after | F1 before | F1 after |", "|---|---|---|---|---|---|"]
    for lang in after:
        b, a = before.get(lang, {}), after[lang]
        lines.append(f"| {lang} | {a['n']} | {b.get('accuracy', float('nan')):.4f} | {a['accuracy']:.4f} | "
                     f"{b.get('f1', float('nan')):.4f} | {a['f1']:.4f} |")
    return "\n".join(lines)


def plot_report(before: dict, after: dict, before_langs: dict, after_langs: dict, method: str, path: Path) -> Path:
    """One figure: size, latency at batch 1 and 32, throughput, and accuracy per language, before vs after."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = sorted(int(k[1:].split("_")[0]) for k in after if k.startswith("b") and k.endswith("_p50"))
    panels = [("weights_mb", "weights (MB)"), (f"b{sizes[0]}_p50", f"ms/example, batch {sizes[0]} (p50)"),
              (f"b{sizes[-1]}_p50", f"ms/example, batch {sizes[-1]} (p50)"),
              ("throughput", f"examples/s, batch {sizes[-1]}")]
    fig, axes = plt.subplots(1, 5, figsize=(17, 3.4), gridspec_kw={"width_ratios": [1, 1, 1, 1, 2.2]})
    colors = ["#7f7f7f", "#1f77b4"]
    for ax, (key, title) in zip(axes, panels):
        ax.bar(["before", "after"], [before[key] or 0, after[key] or 0], color=colors)
        ax.set_title(title, fontsize=9)
    langs = list(after_langs)
    x = np.arange(len(langs))
    axes[4].bar(x - 0.2, [before_langs.get(lang, {}).get("accuracy", 0) for lang in langs], 0.4, label="before",
                color=colors[0])
    axes[4].bar(x + 0.2, [after_langs[lang]["accuracy"] for lang in langs], 0.4, label="after", color=colors[1])
    axes[4].set_xticks(x, langs)
    axes[4].set_ylim(0, 1)
    axes[4].set_title("accuracy per language", fontsize=9)
    axes[4].legend(fontsize=8)
    fig.suptitle(f"lingbridge optimize --method {method}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def reproduces(reloaded, classifier, tokenizer, texts: list[str], max_length: int, threads: int) -> bool:
    """The saved folder, loaded the way its card shows, predicts what was measured; else a RuntimeError."""
    reloaded = reloaded if isinstance(reloaded, OnnxClassifier) else TorchClassifier(reloaded)
    with cpu_threads(threads):
        same = bool((predict(reloaded, tokenizer, texts, max_length) == predict(classifier, tokenizer, texts, max_length)).all())
    if not same:
        raise RuntimeError("the saved model does not reproduce the measured predictions")
    return same


def write_report(folder: Path, method: str, description: str, source: str, before: dict, after: dict,
                 before_langs: dict, after_langs: dict) -> tuple[str, str]:
    """`optimization_report.md` and `.png` in `folder`; returns the report table and the per-language table."""
    report, langs_md = report_table(before, after, method), language_table(before_langs, after_langs)
    plot_report(before, after, before_langs, after_langs, method, Path(folder) / "optimization_report.png")
    (Path(folder) / "optimization_report.md").write_text(
        f"# {method}: {description}\n\nSource: `{source}`\n\n{report}\n\n## Per language\n\n{langs_md}\n",
        encoding="utf-8")
    return report, langs_md
