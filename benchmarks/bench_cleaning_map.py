"""`clean_splits` through `datasets.map` against the plain Python loops it replaced, on the largest real set.

Input: both sides of every pair in ../shared/datasets/parallel (131,476 pairs → 262,952 monolingual rows,
`text` + `lang`, split 90/5/5 by pair, as in bench_cleaning.py), saved to disk once so that every side
reads the same file-backed dataset (the case where `datasets.map` caches). Rules: the defaults plus
language id (flag). Sides, each in its own process:

- `loop`: the implementation before the change (commit LOOP_COMMIT, read with `git show`);
- `map` with 1 and 2 processes (`--cleaning_num_workers`), a cold cache;
- `map cached`: the same call again in the same process — the per-row pass comes from the cache.

Reports rows/s, wall seconds, peak RSS, and whether every per-rule count and every kept row is identical
to the loop's. Results in benchmarks/results/cleaning_map.json.

    nice -n 10 python benchmarks/bench_cleaning_map.py
    nice -n 10 python benchmarks/bench_cleaning_map.py --max_pairs 5000 --workers 1
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOOP_COMMIT = "ac6b2de"  # the last clean_splits written as Python loops
sys.path.insert(0, str(ROOT / "benchmarks"))


def loop_clean_splits():
    """`clean_splits` as it was at LOOP_COMMIT, loaded from git."""
    import types

    source = subprocess.run(["git", "-C", str(ROOT), "show", f"{LOOP_COMMIT}:platform/lingbridge/data/clean.py"],
                            capture_output=True, text=True, check=True).stdout
    module = types.ModuleType("clean_loop")
    module.__dict__["__package__"] = "lingbridge.data"  # its relative import of ..errors
    exec(compile(source, "clean_loop.py", "exec"), module.__dict__)
    return module.clean_splits


def fingerprint(dsd) -> str:
    """Order-independent digest of the kept rows (the loop moved the text column last; rows are compared as dicts)."""
    digest = hashlib.sha256()
    for split in sorted(dsd):
        for row in sorted(json.dumps(r, sort_keys=True, ensure_ascii=False) for r in dsd[split].to_list()):
            digest.update(f"{split}\t{row}\n".encode())
    return digest.hexdigest()


def run_side(side: str, workers: int, data: Path, out: Path) -> None:
    from datasets import load_from_disk

    from lingbridge.config import CleaningArguments

    dsd = load_from_disk(str(data))
    rows = sum(len(d) for d in dsd.values())
    args = CleaningArguments(langid="flag", cleaning_num_workers=workers if workers > 1 else None)
    if side == "loop":
        clean = loop_clean_splits()
    else:
        from lingbridge.data import clean_splits as clean
    results = []
    for attempt in (["cold", "cached"] if side == "map" else ["cold"]):
        start = time.perf_counter()
        cleaned, report = clean(copy.copy(dsd), args)
        wall = time.perf_counter() - start
        peak = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                   resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
        results.append({"side": side if attempt == "cold" else "map cached", "workers": workers, "rows": rows,
                        "wall_s": wall, "rows_per_s": rows / wall, "peak_rss_mb": peak / 1024, "report": report,
                        "rows_digest": fingerprint(cleaned)})
    out.write_text(json.dumps(results))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--max_pairs", type=int, default=None, help="Pairs per language file (default: all).")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="map process counts to measure.")
    parser.add_argument("--_side", help=argparse.SUPPRESS)
    parser.add_argument("--_data", help=argparse.SUPPRESS)
    parser.add_argument("--_out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args._side:
        run_side(args._side, args.workers[0], Path(args._data), Path(args._out))
        return
    from bench_cleaning import PARALLEL, build_input

    if not PARALLEL.is_dir():
        sys.exit(f"{PARALLEL} is absent")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "input"
        build_input(args.max_pairs).save_to_disk(str(data))
        for side, workers in [("loop", 1)] + [("map", w) for w in args.workers]:
            out = Path(tmp) / f"{side}-{workers}.json"
            cmd = [sys.executable, __file__, "--_side", side, "--_data", str(data), "--_out", str(out),
                   "--workers", str(workers)]
            env = {"HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1", "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",
                   "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1", "HF_DATASETS_CACHE": str(Path(tmp) / "cache")}
            subprocess.run(cmd, check=True, env=env)
            for r in json.loads(out.read_text()):
                results.append(r)
                print(f"{r['side']:>10} workers={workers}: {r['rows']} rows in {r['wall_s']:.1f} s = "
                      f"{r['rows_per_s']:.0f} rows/s, peak RSS {r['peak_rss_mb']:.0f} MB", flush=True)
            print(f"load average now: {open('/proc/loadavg').read().split()[:3]}", flush=True)
    base = results[0]
    print("\n| side | processes | rows/s | wall s | peak RSS MB | × loop | counts identical | rows identical |")
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['side']} | {r['workers']} | {r['rows_per_s']:.0f} | {r['wall_s']:.1f} | {r['peak_rss_mb']:.0f} | "
              f"{r['rows_per_s'] / base['rows_per_s']:.2f} | {'yes' if r['report'] == base['report'] else 'NO'} | "
              f"{'yes' if r['rows_digest'] == base['rows_digest'] else 'NO'} |")
    results_dir = ROOT / "benchmarks" / "results"
    results_dir.mkdir(exist_ok=True)
    (results_dir / "cleaning_map.json").write_text(json.dumps(results, indent=1))
    if any(r["report"] != base["report"] or r["rows_digest"] != base["rows_digest"] for r in results):
        sys.exit("counts or rows differ")


if __name__ == "__main__":
    main()
