"""Live-tracking overhead: the same tiny Trainer job with `report_to` none, tensorboard and trackio.

    nice -n 10 python benchmarks/bench_tracking.py --steps 300 --repeats 3

Logs every step by default (`--logging_steps 1`, the worst case) and evaluates every 50 steps; reports seconds per
step for each tracker (median of the repeats), the set-up time of the tracker (first step minus the
others), and what it wrote where. Runs offline (HF_HUB_OFFLINE=1, no network needed); a tracker that
tried to reach a server would show as a slow set-up or fail. Results go to benchmarks/results/tracking_log<N>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("OMP_NUM_THREADS", "1")


def job(report_to: str, steps: int, folder: Path, logging_steps: int) -> dict:
    import torch
    from datasets import Dataset
    from transformers import BertConfig, BertForSequenceClassification, Trainer, TrainerCallback, TrainingArguments

    torch.manual_seed(0)
    model = BertForSequenceClassification(BertConfig(vocab_size=500, hidden_size=32, num_hidden_layers=2,
                                                     num_attention_heads=2, intermediate_size=64, num_labels=2))
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(5, 500, (512, 32), generator=g)
    data = Dataset.from_dict({"input_ids": ids.tolist(), "labels": (ids[:, 0] % 2).tolist()})
    times: list[float] = []

    class Clock(TrainerCallback):
        def on_step_begin(self, *a, **k):
            self.t = time.perf_counter()

        def on_step_end(self, *a, **k):
            times.append(time.perf_counter() - self.t)

    args = TrainingArguments(output_dir=str(folder / "out"), max_steps=steps, per_device_train_batch_size=16,
                             logging_steps=logging_steps, eval_strategy="steps", eval_steps=50, report_to=report_to,
                             save_strategy="no", disable_tqdm=True, run_name=f"bench-{report_to}",
                             project="lingbridge-bench", use_cpu=True)
    store = Path(os.environ["TRACKIO_DIR"])

    def store_bytes() -> int:
        return sum(f.stat().st_size for f in store.rglob("*") if f.is_file()) if store.is_dir() else 0

    before = store_bytes()
    trainer = Trainer(model=model, args=args, train_dataset=data, eval_dataset=data.select(range(64)),
                      callbacks=[Clock()])
    start = time.perf_counter()
    trainer.train()
    wall = time.perf_counter() - start
    written = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
    # trackio keeps one store for every run (TRACKIO_DIR, read once at import), outside the output folder
    outside = store_bytes() - before
    # the step callbacks run before that step's logging callbacks: time whole steps by wall clock instead
    return {"wall_s": wall, "s_per_step": wall / steps, "bytes_in_output_dir": written, "bytes_outside": outside}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--trackers", default="none,tensorboard,trackio")
    parser.add_argument("--logging_steps", type=int, default=1)
    args = parser.parse_args()
    os.environ["TRACKIO_DIR"] = tempfile.mkdtemp(prefix="trackio-")
    trackers = args.trackers.split(",")
    runs: dict[str, list[dict]] = {t: [] for t in trackers}
    for _ in range(args.repeats):  # round robin: a busy moment of the shared CPU hits every tracker alike
        for tracker in trackers:
            with tempfile.TemporaryDirectory() as tmp:
                start = time.perf_counter()
                runs[tracker].append(job(tracker, args.steps, Path(tmp), args.logging_steps)
                                     | {"total_s": time.perf_counter() - start})
    results = {t: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for t, rs in runs.items()}
    for tracker, r in results.items():
        print(tracker, {k: round(v, 4) for k, v in r.items()}, flush=True)
    base = results.get("none", {}).get("s_per_step")
    if base:
        for tracker, r in results.items():
            r["overhead_ms_per_step"] = round((r["s_per_step"] - base) * 1000, 2)
            print(f"{tracker}: {r['overhead_ms_per_step']:+.2f} ms per step (logging every {args.logging_steps})")
    out = Path(__file__).parent / "results" / f"tracking_log{args.logging_steps}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"steps": args.steps, "repeats": args.repeats, "logging_steps": args.logging_steps,
                               "results": results}, indent=2))


if __name__ == "__main__":
    main()
