"""Per-language tables and zero-shot cross-lingual transfer, from one `languages` list."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def per_language(metric_fn: Callable[..., dict[str, float]], langs, *arrays) -> dict[str, dict[str, float]]:
    """Apply `metric_fn(*arrays)` to the rows of each language, plus an `all` row.

    Args:
        metric_fn: takes the arrays (e.g. predictions, labels) and returns `{metric: value}`.
        langs: the language code of each row.
        arrays: row-aligned numpy arrays.
    """
    langs = np.asarray(langs)
    table = {}
    for lang in sorted(set(langs.tolist())):
        mask = langs == lang
        table[lang] = {**metric_fn(*(a[mask] for a in arrays)), "n": int(mask.sum())}
    table["all"] = {**metric_fn(*arrays), "n": int(len(langs))}
    return table


def transfer_table(table: dict[str, dict[str, float]], source_languages: list[str], metrics: list[str]):
    """Zero-shot transfer: each language marked source or target, and the transfer gap per metric.

    The gap is the mean source score minus the mean over the target languages (Hu et al., 2020, XTREME).
    """
    langs = [lang for lang in table if lang != "all"]
    targets = [lang for lang in langs if lang not in source_languages]
    sources = [lang for lang in langs if lang in source_languages]
    rows = {lang: {"role": "source" if lang in source_languages else "target",
                   **{m: table[lang][m] for m in metrics}} for lang in langs}
    gap = {}
    if sources and targets:
        for m in metrics:
            src = float(np.mean([table[lang][m] for lang in sources]))
            tgt = float(np.mean([table[lang][m] for lang in targets]))
            gap[m] = {"source_mean": src, "target_mean": tgt, "gap": src - tgt}
    return {"source_languages": sources, "target_languages": targets, "rows": rows, "gap": gap}


def format_table(table: dict[str, dict], columns: list[str], first: str = "lang") -> str:
    """A Markdown table (also readable in a terminal)."""
    head = f"| {first} | " + " | ".join(columns) + " |"
    sep = "|" + "---|" * (len(columns) + 1)
    lines = [head, sep]
    for key, row in table.items():
        cells = []
        for c in columns:
            v = row.get(c, "")
            cells.append(f"{v:.4f}" if isinstance(v, float) else str(v))
        lines.append(f"| {key} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def predict_per_language(trainer, dataset, langs, metric_fn: Callable, postprocess: Callable, prefix: str = "test"):
    """`trainer.predict` on `dataset`, the task's post-processing, then `per_language(metric_fn, ...)`.

    Returns (table, predictions, gold labels).
    """
    out = trainer.predict(dataset, metric_key_prefix=prefix)
    preds = postprocess(out.predictions)
    return per_language(metric_fn, np.asarray(langs), preds, out.label_ids), preds, out.label_ids


def metrics_by_language(compute_metrics: Callable, langs) -> Callable:
    """Trainer's `compute_metrics` with each language's metrics beside the overall ones.

    Every evaluation during training then logs `eval_f1` and `eval_de_f1`, `eval_en_f1`, ... (to the
    live tracker, `trainer_state.json` and the record's evaluation history). `langs` are the languages of
    the evaluation dataset's rows, in order (Trainer's evaluation keeps it, also across processes).
    """
    langs = np.asarray(langs)

    def compute(eval_pred) -> dict[str, float]:
        from transformers import EvalPrediction

        out = dict(compute_metrics(eval_pred))
        preds, labels = eval_pred.predictions, eval_pred.label_ids
        if isinstance(preds, tuple) or len(labels) != len(langs) or len(set(langs.tolist())) < 2:
            return out
        for lang in sorted(set(langs.tolist())):
            mask = langs == lang
            part = compute_metrics(EvalPrediction(predictions=preds[mask], label_ids=labels[mask]))
            out.update({f"{lang}_{name}": value for name, value in part.items()})
        return out

    return compute
