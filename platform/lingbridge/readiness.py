"""Market readiness: which languages can this model serve, and how much local data would the others need?

    lingbridge readiness runs/evaluate-<time> --task pawsx --metric accuracy --threshold 0.85 --markets de,fr,ja
    lingbridge readiness runs/finetune_classification-<time> --metric accuracy --threshold 0.80

Per market (language), from the run's per-language results:

- an interval: a percentile bootstrap over the test items (`--bootstrap` resamples) when the run saved its
  per-item predictions; otherwise, for accuracy and exact match, the Wilson score interval from the item
  count (no interval for F1 without the items);
- a status: **ready** when the whole interval clears the threshold; **close** when the interval reaches it or
  ends within `--close_margin` of it (the test set cannot tell, or only a little is missing); **not ready**
  otherwise. A threshold no market reaches is a result, not an error;
- for markets below the threshold, the local labelled data needed: the run's model is finetuned further
  on 32, 128 and 512 examples of that language (as many of these as the local data holds), each scored on
  the same test items; an inverse power law `score(k) = a - b (k + 1)^-c` (the learning-curve form of
  Figueroa et al., 2012) is fitted through the points with the zero-shot score at k = 0, and solved for the
  threshold. When the fitted ceiling `a` stays below the threshold the market is "not reachable with this
  model".

Results go to `markets.json` and `markets.png` in the run directory (written to a temporary name and then
renamed); nothing else there is touched: the few-shot finetunes run in a temporary folder.

Per-item predictions read from the run directory (one JSON object a line, `predictions.jsonl`):

    classification: {"text": "...", "lang": "de", "label": "1", "prediction": "0"}   (the recipe's file;
                    "gold"/"pred" are read as well)
    question answering: {"id": "56be...", "lang": "de", "em": 1.0, "f1": 1.0}

(the QA recipe's `predictions.json`, with `exact_match`/`f1` per question, is read as well; a suite run
keeps them per task in `predictions/<task>.jsonl`).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

from .errors import UserError, exit_on_user_error

SHOTS = (32, 128, 512)
STATUS_COLORS = {"ready": "#2ca02c", "close": "#ffbf00", "not ready": "#d62728"}
ITEM_METRICS = ("accuracy", "f1", "exact_match")  # metrics a bootstrap can recompute from per-item predictions
NOT_REACHABLE = "not reachable with this model"


# ---- reading a run ---------------------------------------------------------------------------------------


def _read_items(path: Path) -> list[dict]:
    if path.suffix == ".json":  # the QA recipe's predictions.json: a list with exact_match / f1 per question
        rows = json.loads(path.read_text(encoding="utf-8"))
        return [{"lang": r["lang"], "em": float(r["exact_match"]), "f1": float(r["f1"])} for r in rows]
    items = []
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                raise UserError(f"{path}:{lineno}: not a JSON object") from None
            if {"label", "prediction"} <= set(row) and "gold" not in row:  # the classification recipe's names
                row = {**row, "gold": row["label"], "pred": row["prediction"]}
            if "lang" not in row or not ({"gold", "pred"} <= set(row) or {"em", "f1"} <= set(row)):
                raise UserError(f"{path}:{lineno}: expected lang with label and prediction (or gold and pred) for "
                                "classification, or em and f1 for QA")
            items.append(row)
    return items


def load_results(run_dir: str | Path, task: str | None, metric: str) -> dict:
    """The per-language table (fractions), per-item predictions and few-shot sources of a run.

    Returns a dict with `table` ({lang: {metric: fraction, "n"}}), `items` (list or None), `kind`
    ("classification", "qa" or "retrieval"), `model_dir`, `test_file`, `pool_file`, `label_list`, `task`.
    """
    from lingbridge.record import read_record

    run = Path(run_dir)
    record = read_record(run)
    metrics = record.get("metrics") or {}
    if record.get("job") == "evaluate":
        tasks = {t: r for t, r in (metrics.get("tasks") or {}).items() if not r.get("error")}
        if task is None:
            having = [t for t, r in tasks.items() if any(metric in row for row in r["per_language"].values())]
            if len(having) != 1:
                raise UserError(f"{run} is a suite run with tasks {', '.join(tasks)}; give --task "
                                f"({'several have' if having else 'none has'} '{metric}')")
            task = having[0]
        if task not in tasks:
            raise UserError(f"{run} has no results for task '{task}' (it has: {', '.join(tasks) or 'none'})")
        res = tasks[task]
        kind = {"pawsx": "classification", "xquad": "qa", "tatoeba": "retrieval"}.get(task, "other")
        table, scale = res["per_language"], 100.0
        items_file = run / res["items_file"] if res.get("items_file") else None
        model_dir = run / res["run_dir"] if res.get("run_dir") else None
        data = run / res["data_dir"] if res.get("data_dir") else None
        test_file = data / "test.jsonl" if data else None
        pool_file = data / "pool.jsonl" if data else None
        label_list = ["0", "1"] if task == "pawsx" else None
        columns = {"text": "text", "text_pair": "text_pair", "label": "label", "lang": "lang"}
    else:
        qa = record.get("task") == "question-answering" or record.get("job") == "finetune_qa"
        kind = "qa" if qa else ("classification" if record.get("label_names") else "other")
        table, scale = metrics.get("per_language") or {}, 100.0 if qa else 1.0
        items_file = next((p for p in (run / "predictions.jsonl", run / "predictions.json") if p.is_file()), None)
        model_dir = run if (run / "config.json").is_file() else None
        cfg = record.get("config") or {}
        test_file = next((Path(cfg[k]) for k in ("test_file", "validation_file") if cfg.get(k) and Path(cfg[k]).is_file()),
                         None)
        pool_file = Path(cfg["train_file"]) if cfg.get("train_file") and Path(cfg["train_file"]).is_file() else None
        label_list = record.get("label_names")
        task = record.get("job")
        columns = {"text": cfg.get("text_column") or "text", "text_pair": cfg.get("text_pair_column"),
                   "label": cfg.get("label_column") or "label", "lang": cfg.get("lang_column") or "lang"}
    rows = {lang: row for lang, row in table.items() if lang != "all"}
    have = sorted({m for row in rows.values() for m, v in row.items() if isinstance(v, (int, float)) and m != "n"})
    if not rows or metric not in have:
        raise UserError(f"{run}: no per-language '{metric}' in the run's results (it has: {', '.join(have) or 'none'})")
    return {"table": {lang: {metric: float(row[metric]) / scale, "n": int(row.get("n", 0))} for lang, row in rows.items()
                      if metric in row},
            "items": _read_items(items_file) if items_file and items_file.is_file() else None,
            "items_file": str(items_file) if items_file else None, "kind": kind, "model_dir": model_dir,
            "test_file": test_file, "pool_file": pool_file, "label_list": label_list, "task": task, "record": record,
            "columns": columns}


# ---- intervals ---------------------------------------------------------------------------------------------


def item_scores(items: list[dict], metric: str):
    """Per-item arrays for a metric: what a bootstrap resamples. None when the items cannot give it."""
    import numpy as np

    if not items:
        return None
    if "em" in items[0]:
        key = {"exact_match": "em", "f1": "f1"}.get(metric)
        return None if key is None else {"values": np.array([float(r[key]) for r in items])}
    if metric not in ("accuracy", "f1"):
        return None
    gold = np.array([str(r["gold"]) for r in items])
    pred = np.array([str(r["pred"]) for r in items])
    return {"gold": gold, "pred": pred, "macro_f1": metric == "f1"}


def _metric_on(scores: dict, idx):
    """The metric on the items `idx` (rows of indices: one resample per row)."""
    import numpy as np

    if "values" in scores:
        return scores["values"][idx].mean(axis=-1)
    gold, pred = scores["gold"][idx], scores["pred"][idx]
    if not scores["macro_f1"]:
        return (gold == pred).mean(axis=-1)
    f1s = []
    for label in np.unique(np.concatenate([scores["gold"], scores["pred"]])):
        tp = ((gold == label) & (pred == label)).sum(-1)
        fp = ((gold != label) & (pred == label)).sum(-1)
        fn = ((gold == label) & (pred != label)).sum(-1)
        denom = 2 * tp + fp + fn
        f1s.append(np.where(denom > 0, 2 * tp / np.maximum(denom, 1), 0.0))
    return np.mean(f1s, axis=0)


def bootstrap_interval(scores: dict, n_resamples: int = 1000, confidence: float = 0.95, seed: int = 0):
    """Percentile bootstrap interval of the metric over the test items (resampled with replacement)."""
    import numpy as np

    n = len(scores["values"]) if "values" in scores else len(scores["gold"])
    rng = np.random.default_rng(seed)
    stats = []
    for start in range(0, n_resamples, 200):  # chunks bound the memory of (resamples × items) index arrays
        idx = rng.integers(0, n, size=(min(200, n_resamples - start), n))
        stats.append(_metric_on(scores, idx))
    stats = np.concatenate(stats)
    alpha = (1 - confidence) / 2
    return float(np.quantile(stats, alpha)), float(np.quantile(stats, 1 - alpha))


def wilson_interval(p: float, n: int, confidence: float = 0.95):
    """Wilson score interval of a proportion (accuracy, exact match) from its value and item count."""
    from statistics import NormalDist

    if n <= 0:
        return p, p
    z = NormalDist().inv_cdf(1 - (1 - confidence) / 2)
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * ((p * (1 - p) / n + z * z / (4 * n * n)) ** 0.5) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def classify(lower: float, upper: float, threshold: float, margin: float) -> str:
    if lower >= threshold:
        return "ready"
    if upper >= threshold - margin:
        return "close"
    return "not ready"


# ---- the learning curve -------------------------------------------------------------------------------------


def _curve(k, a, b, c):
    import numpy as np

    return a - b * np.power(np.asarray(k, dtype=float) + 1.0, -c)


def fit_learning_curve(points: list[tuple[int, float]], threshold: float, max_k: int = 100_000) -> dict:
    """Fit `score(k) = a - b (k + 1)^-c` through (examples, score) points and solve it for `threshold`.

    Returns `{"fit": {a, b, c}, "estimate": k or None, "reachable": bool, "extrapolated": bool,
    "verdict": text}`. The ceiling `a` is bounded by 1; a curve whose ceiling stays below the threshold,
    or that needs more than `max_k` examples, is "not reachable with this model".
    """
    import numpy as np

    measured_hit = [k for k, s in sorted(points) if s >= threshold]
    if len(points) < 3:
        if measured_hit:
            return {"estimate": measured_hit[0], "reachable": True, "extrapolated": False, "fit": None,
                    "verdict": f"reached with {measured_hit[0]} examples (measured)"}
        return {"estimate": None, "reachable": None, "extrapolated": False, "fit": None,
                "verdict": "not enough local data to fit a curve (needs at least 128 labelled examples of the market)"}
    from scipy.optimize import curve_fit

    ks = np.array([k for k, _ in points], dtype=float)
    ys = np.array([s for _, s in points], dtype=float)
    best = None
    for c0 in (0.1, 0.3, 0.7, 1.5):  # several starts: the fit is not convex
        try:
            p0 = (min(1.0, ys.max() + 0.05), max(1e-3, ys.max() + 0.05 - ys.min()), c0)
            params, _ = curve_fit(_curve, ks, ys, p0=p0, bounds=([0.0, 0.0, 0.01], [1.0, 10.0, 3.0]), maxfev=20000)
        except (RuntimeError, ValueError):
            continue
        err = float(((_curve(ks, *params) - ys) ** 2).sum())
        if best is None or err < best[0]:
            best = (err, params)
    if best is None:
        return {"estimate": None, "reachable": None, "extrapolated": False, "fit": None, "verdict": "the curve did not fit"}
    a, b, c = (float(x) for x in best[1])
    fit = {"a": round(a, 4), "b": round(b, 4), "c": round(c, 4), "sse": round(best[0], 6)}
    if measured_hit:
        return {"estimate": measured_hit[0], "reachable": True, "extrapolated": False, "fit": fit,
                "verdict": f"reached with {measured_hit[0]} examples (measured)"}
    if a <= threshold or b <= 0:
        return {"estimate": None, "reachable": False, "extrapolated": False, "fit": fit,
                "verdict": f"{NOT_REACHABLE} (the curve flattens at {a:.3f}, below {threshold:.3f})"}
    k = (b / (a - threshold)) ** (1.0 / c) - 1.0
    if k > max_k:
        return {"estimate": None, "reachable": False, "extrapolated": True, "fit": fit,
                "verdict": f"{NOT_REACHABLE} (the curve needs more than {max_k:,} examples)"}
    k = int(np.ceil(max(k, 1)))
    largest = int(ks.max())
    return {"estimate": k, "reachable": True, "extrapolated": k > largest, "fit": fit,
            "verdict": f"about {k:,} labelled examples" + (f" (extrapolated beyond the {largest} measured)" if k > largest else "")}


# ---- few-shot finetunes ----------------------------------------------------------------------------------------


def _read_rows(path: Path) -> list[dict]:
    if path.suffix in (".jsonl", ".json"):
        text = path.read_text(encoding="utf-8")
        try:
            return [json.loads(line) for line in text.splitlines() if line.strip()]
        except json.JSONDecodeError:
            doc = json.loads(text)
            return doc if isinstance(doc, list) else []
    import csv

    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh, delimiter="\t" if path.suffix == ".tsv" else ","))


def _write_jsonl(rows, path: Path) -> Path:
    with open(path, "w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    return path


def few_shot_points(res: dict, lang: str, pool: list[dict], test: list[dict], shots, args, work: Path) -> list[dict]:
    """Finetune the run's model further on k examples of `lang` for each k the pool holds; score on `test`."""
    import random

    from lingbridge.record import read_record

    points = []
    rng = random.Random(args.seed)
    order = list(range(len(pool)))
    rng.shuffle(order)
    test_file = _write_jsonl(test, work / f"test-{lang}.jsonl")
    for k in shots:
        if k > len(pool):
            break
        train = [pool[i] for i in order[:k]]  # nested samples: the 128 hold the 32
        train_file = _write_jsonl(train, work / f"train-{lang}-{k}.jsonl")
        # the recipes want a dev split; nothing is selected on it (no evaluation during training), so keep it small
        dev_file = _write_jsonl(train[:8], work / f"dev-{lang}-{k}.jsonl")
        out = work / f"{lang}-{k}"
        argv = ["--model_name_or_path", str(res["model_dir"]), "--train_file", str(train_file),
                "--test_file", str(test_file), "--validation_file", str(dev_file), "--output_dir", str(out),
                "--num_train_epochs", str(args.fewshot_epochs), "--learning_rate", str(args.learning_rate),
                "--per_device_train_batch_size", str(min(16, k)), "--eval_strategy", "no", "--save_strategy", "no",
                "--load_best_model_at_end", "false", "--report_to", "none", "--disable_tqdm", "true",
                "--seed", str(args.seed), "--use_lora", str(args.use_lora).lower(), "--logging_steps", "50"]
        if res["kind"] == "classification":
            from lingbridge.recipes import finetune_classification as recipe

            cols = res["columns"]
            argv += ["--text_column", cols["text"], "--label_column", cols["label"], "--lang_column", cols["lang"],
                     "--dedup", "false", "--near_dedup", "false", "--decontaminate", "false"]
            if cols.get("text_pair") and cols["text_pair"] in pool[0]:
                argv += ["--text_pair_column", cols["text_pair"]]
            if res["label_list"]:
                argv += ["--label_list", *res["label_list"]]
        else:
            from lingbridge.recipes import finetune_qa as recipe

            from transformers import AutoTokenizer

            # as the suite does: a quarter of the real window, so a long question still leaves room to stride
            limit = AutoTokenizer.from_pretrained(res["model_dir"]).model_max_length or args.qa_max_seq_length
            window = min(args.qa_max_seq_length, limit)
            argv += ["--version_2_with_negative", "false", "--max_seq_length", str(window),
                     "--doc_stride", str(window // 4)]
        run_dir = recipe.main.__wrapped__(argv)
        row = read_record(run_dir)["metrics"]["per_language"].get(lang, {})
        scale = 100.0 if res["kind"] == "qa" else 1.0
        points.append({"k": k, "value": float(row.get(args.metric, 0.0)) / scale})
    return points


def data_needed(res: dict, lang: str, args, work: Path, zero_shot: float) -> dict:
    """The learning-curve estimate for one market, or the reason there is none."""
    if res["kind"] not in ("classification", "qa"):
        return {"verdict": f"no estimate: {res['task']} involves no finetuning", "points": [{"k": 0, "value": zero_shot}]}
    if res["model_dir"] is None:
        return {"verdict": "no estimate: the run directory holds no model to finetune further",
                "points": [{"k": 0, "value": zero_shot}]}
    pool_path = Path(args.fewshot_data) if args.fewshot_data else res["pool_file"]
    if pool_path is None or res["test_file"] is None:
        return {"verdict": "no estimate: no local labelled data (give --fewshot_data FILE with lang, text, label rows)",
                "points": [{"k": 0, "value": zero_shot}]}
    col = res.get("columns") or {}
    lang_col, text_col = col.get("lang", "lang"), col.get("text", "text")

    def key(r):  # a pool row that is also a test row must not be trained on
        return json.dumps([r.get(text_col), r.get(col.get("text_pair") or "text_pair"), r.get("question"), r.get("id")])

    test = [r for r in _read_rows(Path(res["test_file"])) if r.get(lang_col) == lang]
    test_keys = {key(r) for r in test}
    pool = [r for r in _read_rows(pool_path) if r.get(lang_col) == lang and key(r) not in test_keys]
    if not test:
        return {"verdict": f"no estimate: the run's test data has no {lang} rows to score few-shot models on",
                "points": [{"k": 0, "value": zero_shot}]}
    if not pool:
        return {"verdict": f"no estimate: no local labelled {lang} data (none in {pool_path.name}); give --fewshot_data",
                "points": [{"k": 0, "value": zero_shot}], "pool": 0}
    shots = [k for k in args.shots if k > 0]
    points = [{"k": 0, "value": zero_shot}] + few_shot_points(res, lang, pool, test, shots, args, work)
    out = fit_learning_curve([(p["k"], p["value"]) for p in points], args.threshold)
    if out.get("fit") and len(points) == 3:
        out["verdict"] += " (rough: a 3-parameter curve through 3 points)"
    missing = [k for k in shots if k > len(pool)]
    out.update({"points": points, "pool": len(pool), "test_items": len(test)})
    if missing:
        out["note"] = f"only {len(pool)} local {lang} examples: no point at {', '.join(map(str, missing))}"
    return out


# ---- the report --------------------------------------------------------------------------------------------


def assess(args) -> dict:
    """Everything `lingbridge readiness` computes, as the dict written to markets.json."""
    import time

    import numpy as np

    res = load_results(args.run, args.task, args.metric)
    table = res["table"]
    markets = args.markets or sorted(table)
    missing = [m for m in markets if m not in table]
    if missing:
        raise UserError(f"market(s) {', '.join(missing)}: no '{args.metric}' results in {args.run} "
                        f"(it has: {', '.join(sorted(table))})")
    scores = item_scores(res["items"], args.metric) if args.metric in ITEM_METRICS else None
    langs = np.array([r["lang"] for r in res["items"]]) if scores else None
    out = {"run": str(args.run), "task": res["task"], "metric": args.metric, "threshold": args.threshold,
           "confidence": args.confidence, "close_margin": args.close_margin, "markets": {},
           "created": time.strftime("%Y-%m-%d %H:%M:%S"), "notes": []}
    if scores is None:
        why = ("the run saved no per-item predictions" if not res["items"] else
               f"'{args.metric}' cannot be recomputed from its per-item predictions")
        out["interval"] = ("Wilson score interval from the item count" if args.metric in ("accuracy", "exact_match")
                           else "none") + f" ({why})"
        if args.metric not in ("accuracy", "exact_match"):
            out["notes"].append(f"No interval for '{args.metric}': {why}; save predictions.jsonl (see `lingbridge "
                                "readiness --help`) to get bootstrap intervals.")
    else:
        out["interval"] = f"percentile bootstrap over the test items ({args.bootstrap} resamples)"
    work = Path(tempfile.mkdtemp(prefix="readiness-"))
    try:
        for i, lang in enumerate(markets):
            value, n = table[lang][args.metric], table[lang]["n"]
            if scores is not None:
                sel = np.flatnonzero(langs == lang)
                sub = {k: (v[sel] if hasattr(v, "__len__") and not isinstance(v, str) else v) for k, v in scores.items()}
                lo, hi = bootstrap_interval(sub, args.bootstrap, args.confidence, args.seed + i) if len(sel) else (value, value)
                method = "bootstrap"
            elif args.metric in ("accuracy", "exact_match"):
                lo, hi = wilson_interval(value, n, args.confidence)
                method = "wilson"
            else:
                lo, hi, method = value, value, "none"
            status = classify(lo, hi, args.threshold, args.close_margin)
            entry = {"value": round(value, 4), "lower": round(lo, 4), "upper": round(hi, 4), "n": n,
                     "interval_method": method, "status": status}
            if value < args.threshold and args.shots and not args.no_fewshot:
                entry["data_needed"] = data_needed(res, lang, args, work, value)
            out["markets"][lang] = entry
    finally:
        import shutil

        shutil.rmtree(work, ignore_errors=True)
    out["summary"] = {s: [m for m, e in out["markets"].items() if e["status"] == s] for s in STATUS_COLORS}
    if not out["summary"]["ready"]:
        out["notes"].append(f"No market reaches {args.metric} {args.threshold:g} with confidence.")
    return out


def markets_markdown(markets: dict) -> str:
    """The "Markets" section of a model card (table + `markets.png`); it lives with the card renderer."""
    from lingbridge.cards.markets import markets_markdown as render  # imported late: `--help` stays cheap

    return render(markets)


def markets_figure(markets: dict):
    """The markets chart as a matplotlib figure: per-language bars coloured ready / close / not ready, the
    intervals as error bars, the threshold as a dashed line and the estimated local data above each bar."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    langs = list(markets["markets"])
    entries = [markets["markets"][lang] for lang in langs]
    values = [e["value"] for e in entries]
    err = [[max(0.0, e["value"] - e["lower"]) for e in entries], [max(0.0, e["upper"] - e["value"]) for e in entries]]
    fig, ax = plt.subplots(figsize=(max(4.5, 0.8 * len(langs) + 3.5), 3.8))
    ax.bar(langs, values, color=[STATUS_COLORS[e["status"]] for e in entries], yerr=err, capsize=4, ecolor="#333333")
    ax.axhline(markets["threshold"], color="black", linestyle="--", linewidth=1,
               label=f"threshold {markets['threshold']:g}")
    for i, e in enumerate(entries):
        need = e.get("data_needed") or {}
        if need.get("estimate"):
            ax.text(i, min(1.02, e["upper"] + 0.02), f"+{need['estimate']:,}", ha="center", fontsize=7)
        elif need.get("reachable") is False:
            ax.text(i, min(1.02, e["upper"] + 0.02), "✕", ha="center", fontsize=8)
    ax.set_ylim(0, 1.08)
    ax.set_ylabel(markets["metric"])
    ax.set_title(f"Markets: {markets['metric']} per language ({round(100 * markets['confidence'])}% intervals)",
                 fontsize=10)
    handles = [Patch(color=c, label=s) for s, c in STATUS_COLORS.items()] + ax.get_legend_handles_labels()[0]
    ax.legend(handles=handles, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False,
              title="+N: local examples needed\n✕: not reachable", title_fontsize=7)
    fig.tight_layout()
    return fig


def plot_markets(markets: dict, path: Path) -> Path:
    """Save `markets_figure` as a PNG."""
    import matplotlib.pyplot as plt

    fig = markets_figure(markets)
    fig.savefig(path, dpi=120, format="png")
    plt.close(fig)
    return path


def _readable(path: str) -> None:
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(path, 0o666 & ~mask)  # mkstemp makes 0600 files; the app and publishing read these


def write_markets(markets: dict, run_dir: str | Path) -> tuple[Path, Path]:
    """`markets.json` and `markets.png` into the run directory, each written to a temporary name and renamed."""
    run_dir = Path(run_dir)
    out_json, out_png = run_dir / "markets.json", run_dir / "markets.png"
    fd, tmp = tempfile.mkstemp(prefix=".markets-", suffix=".json", dir=run_dir)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(markets, fh, indent=2, ensure_ascii=False)
    _readable(tmp)
    os.replace(tmp, out_json)
    fd, tmp = tempfile.mkstemp(prefix=".markets-", suffix=".png", dir=run_dir)
    os.close(fd)
    try:
        plot_markets(markets, Path(tmp))
        _readable(tmp)
        os.replace(tmp, out_png)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return out_json, out_png


# ---- command line --------------------------------------------------------------------------------------------


def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="lingbridge readiness", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Classify each market (language) of a run as ready / close / not ready for a metric threshold, "
                    "with confidence intervals, and estimate the local labelled data the others need. Writes "
                    "markets.json and markets.png into the run directory.",
        epilog=__doc__.split("Per-item predictions")[1].join(["Per-item predictions", ""]))
    p.add_argument("run", help="a run directory: lingbridge evaluate, finetune_classification or finetune_qa")
    p.add_argument("--metric", default="accuracy", help="per-language metric (accuracy, f1, exact_match, ...)")
    p.add_argument("--threshold", type=float, required=True, help="the bar a market must clear, as a fraction (0.85)")
    p.add_argument("--markets", type=_csv, default=None, help="comma-separated languages (default: all in the run)")
    p.add_argument("--task", default=None, help="for a suite run: which task (pawsx, xquad, tatoeba)")
    p.add_argument("--close_margin", type=float, default=0.02,
                   help="'close' when the interval ends within this of the threshold (default 0.02)")
    p.add_argument("--confidence", type=float, default=0.95, help="interval coverage (default 0.95)")
    p.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples (default 1000)")
    p.add_argument("--shots", type=lambda v: [int(x) for x in _csv(v)], default=list(SHOTS),
                   help="few-shot sizes to finetune on for markets below the threshold (default 32,128,512)")
    p.add_argument("--no_fewshot", action="store_true", help="classify only; no few-shot finetunes")
    p.add_argument("--fewshot_data", default=None,
                   help="labelled local data (jsonl/tsv/csv with lang and the task's columns); default: the suite's "
                        "held-out pool or the run's train_file")
    p.add_argument("--fewshot_epochs", type=float, default=5.0, help="epochs of each few-shot finetune")
    p.add_argument("--learning_rate", type=float, default=5e-4, help="few-shot learning rate")
    p.add_argument("--use_lora", type=lambda v: v.lower() in ("1", "true", "yes"), default=True)
    p.add_argument("--qa_max_seq_length", type=int, default=256)
    p.add_argument("--seed", type=int, default=42)
    return p


def check_args(args) -> None:
    if not Path(args.run).is_dir():
        raise UserError(f"{args.run}: no such run directory")
    if not 0 < args.threshold <= 1:
        raise UserError(f"--threshold is a fraction of 1 (0.85 for 85%), got {args.threshold:g}")
    if not 0 < args.confidence < 1:
        raise UserError(f"--confidence must be in (0, 1), got {args.confidence:g}")
    if args.bootstrap < 100:
        raise UserError(f"--bootstrap needs at least 100 resamples, got {args.bootstrap}")
    if any(k < 0 for k in args.shots):
        raise UserError(f"--shots must be non-negative counts, got {args.shots}")
    if args.fewshot_data and not Path(args.fewshot_data).is_file():
        raise UserError(f"--fewshot_data: file not found: {args.fewshot_data}")
    if args.markets:
        from lingbridge.languages import check_languages

        check_languages(args.markets, "markets")


@exit_on_user_error
def cmd_readiness(argv: list[str] | None = None) -> dict:
    """Entry point of `lingbridge readiness`; returns the markets dict (also written to markets.json)."""
    args = build_parser().parse_args(argv)
    args.shots = sorted(set(args.shots))
    check_args(args)
    import logging
    import types

    from lingbridge.training import setup_logging

    setup_logging(types.SimpleNamespace(should_log=False))  # the few-shot finetunes log warnings only
    markets = assess(args)
    paths = write_markets(markets, args.run)
    print(markets_markdown(markets))
    print(f"written: {paths[0]} and {paths[1]}; `lingbridge card {args.run}` adds the Markets section to the card "
          "(publishing renders it too)")
    logging.getLogger("lingbridge").debug("readiness done")
    return markets
