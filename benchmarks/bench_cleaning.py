"""Cleaning on datatrove (`lingbridge.data.clean_distributed`) against today's `clean_splits` loops, in one run.

Same real input, same rules, same settings: both sides of every pair in ../shared/datasets/parallel
(131,476 pairs → 262,952 monolingual rows, `text` + `lang`), split train/validation/test by pair
(both sides of a pair in one split, 90/5/5 by a hash of the pair's position), language id on (flag).
Each side runs in its own process (fair peak memory, no warm caches shared). Reports rows/s, wall
seconds and peak RSS per side, the ratios against `clean_splits`, and checks that every per-rule count
is identical.

    nice -n 10 python benchmarks/bench_cleaning.py                     # 2 workers, the whole corpus
    nice -n 10 python benchmarks/bench_cleaning.py --max_pairs 20000 --workers 1 2
"""

from __future__ import annotations

import argparse
import hashlib
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PARALLEL = ROOT.parent / "shared" / "datasets" / "parallel"
sys.path.insert(0, str(ROOT / "platform"))


def build_input(max_pairs: int | None):
    """The parallel corpus as monolingual rows, split by pair."""
    from datasets import Dataset, DatasetDict

    parts = {"train": [], "validation": [], "test": []}
    for path in sorted(PARALLEL.glob("*.tsv")):
        lines = path.read_text(encoding="utf-8").splitlines()[1:]
        for i, line in enumerate(lines[:max_pairs]):
            sl, s, tl, t = line.split("\t")
            bucket = int(hashlib.md5(f"{path.name}:{i}".encode()).hexdigest(), 16) % 100
            split = "train" if bucket < 90 else "validation" if bucket < 95 else "test"
            parts[split] += [{"text": s, "lang": sl}, {"text": t, "lang": tl}]
    return DatasetDict({k: Dataset.from_list(v) for k, v in parts.items()})


def run_side(side: str, workers: int, max_pairs: int | None, out: Path) -> None:
    import copy

    from lingbridge.config import CleaningArguments

    dsd = build_input(max_pairs)
    rows = sum(len(d) for d in dsd.values())
    args = CleaningArguments(langid="flag")
    start = time.perf_counter()
    stages = None
    if side == "clean_splits":
        from lingbridge.data import clean_splits

        _, report = clean_splits(copy.deepcopy(dsd), args)
    else:
        from lingbridge.data.clean_distributed import CleaningEngineArguments, clean_splits_datatrove

        engine = CleaningEngineArguments(cleaning_workers=workers, cleaning_rows_per_shard=10000)
        with tempfile.TemporaryDirectory() as work:
            _, report = clean_splits_datatrove(dsd, args, work, engine)
            # task seconds per stage (summed over tasks), from datatrove's own stats
            stages = {p.parent.name: round(sum(s["time_stats"]["total"] for s in json.loads(p.read_text())
                                               if isinstance(s.get("time_stats"), dict)), 1)
                      for p in Path(work, "logs").glob("*/stats.json")}
    wall = time.perf_counter() - start
    peak = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    out.write_text(json.dumps({"side": side, "workers": workers, "rows": rows, "wall_s": wall,
                               "stage_task_s": stages if side != "clean_splits" else None,
                               "rows_per_s": rows / wall, "peak_rss_mb": peak / 1024, "report": report}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--max_pairs", type=int, default=None, help="Pairs per language file (default: all).")
    parser.add_argument("--workers", type=int, nargs="+", default=[2], help="datatrove worker counts to measure.")
    parser.add_argument("--_side", help=argparse.SUPPRESS)
    parser.add_argument("--_out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args._side:
        run_side(args._side, args.workers[0], args.max_pairs, Path(args._out))
        return
    if not PARALLEL.is_dir():
        sys.exit(f"{PARALLEL} is absent")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for side, workers in [("clean_splits", 1)] + [("datatrove", w) for w in args.workers]:
            out = Path(tmp) / f"{side}-{workers}.json"
            cmd = [sys.executable, __file__, "--_side", side, "--_out", str(out), "--workers", str(workers)]
            cmd += ["--max_pairs", str(args.max_pairs)] if args.max_pairs else []
            subprocess.run(cmd, check=True, env={"HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1",
                                                 "HF_DATASETS_DISABLE_PROGRESS_BARS": "1", "PATH": "/usr/bin:/bin",
                                                 "LOGURU_LEVEL": "WARNING", "OMP_NUM_THREADS": "1"})
            results.append(json.loads(out.read_text()))
            r = results[-1]
            print(f"{side:>12} workers={workers}: {r['rows']} rows in {r['wall_s']:.1f} s = {r['rows_per_s']:.0f} rows/s, "
                  f"peak RSS {r['peak_rss_mb']:.0f} MB, task seconds per stage {r['stage_task_s']}", flush=True)
            print(f"load average now: {open('/proc/loadavg').read().split()[:3]}", flush=True)
    base = results[0]
    print("\n| side | workers | rows/s | wall s | peak RSS MB | rows/s ratio | counts identical |\n|---|---|---|---|---|---|---|")
    for r in results:
        same = r["report"] == base["report"]
        print(f"| {r['side']} | {r['workers']} | {r['rows_per_s']:.0f} | {r['wall_s']:.1f} | {r['peak_rss_mb']:.0f} | "
              f"{r['rows_per_s'] / base['rows_per_s']:.2f} | {'yes' if same else 'NO'} |")
    rules = base["report"]["rules"]
    print("\ncounts:", json.dumps({rule: {split: {k: v for k, v in c.items() if k != "examples"} for split, c in per.items()}
                                   for rule, per in rules.items()}))
    results_dir = ROOT / "benchmarks" / "results"
    results_dir.mkdir(exist_ok=True)
    (results_dir / "cleaning.json").write_text(json.dumps(results, indent=1))
    if any(r["report"] != base["report"] for r in results):
        sys.exit("counts differ")


if __name__ == "__main__":
    main()
