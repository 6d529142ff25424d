"""The cleaning rules of `clean.py` as a datatrove pipeline: same rules, same counts, many cores or a cluster.

`clean_splits` runs every rule in one Python process. Here the same rules run as four datatrove
stages, each an executor run that depends on the one before (as datatrove's MinHash example does):

1. **scan** (one task per input shard, in parallel): Unicode normalisation, control characters,
   whitespace, length filter, the dedup key, the MinHash signature of its character 5-grams and the
   language id of each row. Writes `stage1/<split>/<shard>.parquet` and the rule counts.
2. **candidates** (one task per group of LSH bands, in parallel): rows of one split and language that
   share a band (among the exact-dedup survivors) and whose MinHash Jaccard estimate reaches the
   threshold. Writes the edges `stage2/<task>.parquet`.
3. **decide** (one task): exact dedup, near dedup (greedy in row order: a row goes when an earlier
   *kept* row is a candidate above the threshold, which is what `MinHashLSH` gives `clean_splits`),
   language id, contamination. Writes `report.json` (the same keys and counts as `clean_splits`)
   and the kept rows.
4. **write** (one task per input shard, in parallel): the cleaned shards `output/<split>/<shard>.parquet`.

The expensive work (normalisation, hashing, language id, candidate checks) is in the parallel
stages; stage 3 only walks rows and edges. Executors (`CleaningEngineArguments.cleaning_executor`):

- `local` (default): datatrove's `LocalPipelineExecutor`, `cleaning_workers` processes on this machine.
- `slurm`: `SlurmPipelineExecutor`; each stage is an sbatch array job that depends on the one before.
  The call returns once the jobs are submitted; `report.json` and `output/` appear in
  `cleaning_work_dir` (which must be on a filesystem every node sees) when the last job ends.
- `ray`: `RayPipelineExecutor` on the Ray cluster at `cleaning_ray_address` (or a local Ray instance
  when it is empty); same shared-filesystem rule.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import UserError

EXECUTORS = ("local", "slurm", "ray")
NUM_PERM = 128  # as clean.py's MinHash
_INTERNAL = ("__row", "__lang", "__key", "__minhash", "__detected")


@dataclass
class CleaningEngineArguments:
    """Where the cleaning pipeline runs (datatrove executors)."""

    cleaning_engine: str = field(
        default="loops",
        metadata={"help": "Where a recipe cleans an in-memory corpus: 'loops' (clean_splits, this process) or "
                          "'datatrove' (the same rules and counts as a datatrove pipeline on cleaning_executor)."})
    cleaning_executor: str = field(
        default="local",
        metadata={"help": "datatrove executor for the cleaning pipeline: local (processes on this machine), slurm or ray."})
    cleaning_workers: int = field(default=2, metadata={"help": "Processes run at once (local) or tasks at once (ray)."})
    cleaning_tasks: int | None = field(
        default=None, metadata={"help": "Tasks of the parallel stages (default: one per input shard; bands for stage 2)."})
    cleaning_rows_per_shard: int = field(
        default=20000, metadata={"help": "Rows per parquet shard when the input is a dataset (the unit of parallel work)."})
    cleaning_work_dir: str | None = field(
        default=None, metadata={"help": "Folder for the stages' files, logs and cleaned shards (shared by all nodes on a cluster)."})
    cleaning_slurm_partition: str | None = field(default=None, metadata={"help": "Slurm partition (executor slurm)."})
    cleaning_slurm_time: str = field(default="4:00:00", metadata={"help": "Slurm time limit per task (executor slurm)."})
    cleaning_slurm_cpus_per_task: int = field(default=1, metadata={"help": "CPUs per Slurm task (executor slurm)."})
    cleaning_slurm_mem_per_cpu_gb: float = field(default=2, metadata={"help": "Memory per CPU in GB (slurm and ray)."})
    cleaning_ray_address: str | None = field(
        default=None, metadata={"help": "Ray cluster address (executor ray); empty: start a local Ray instance."})

    def __post_init__(self):
        if self.cleaning_engine not in ("loops", "datatrove"):
            raise UserError(f"cleaning_engine must be 'loops' or 'datatrove', got '{self.cleaning_engine}'")
        if self.cleaning_executor not in EXECUTORS:
            raise UserError(f"cleaning_executor must be one of {', '.join(EXECUTORS)}, got '{self.cleaning_executor}'")
        if self.cleaning_workers < 1:
            raise UserError(f"cleaning_workers must be at least 1, got {self.cleaning_workers}")
        if self.cleaning_tasks is not None and self.cleaning_tasks < 1:
            raise UserError(f"cleaning_tasks must be at least 1, got {self.cleaning_tasks}")
        if self.cleaning_rows_per_shard < 1:
            raise UserError(f"cleaning_rows_per_shard must be at least 1, got {self.cleaning_rows_per_shard}")
        if self.cleaning_executor == "slurm":
            if not self.cleaning_slurm_partition:
                raise UserError("cleaning_executor slurm needs cleaning_slurm_partition (the partition to submit to)")
            if shutil.which("sbatch") is None:
                raise UserError("cleaning_executor slurm: sbatch not found on PATH; run on a Slurm login node")
            if not self.cleaning_work_dir:
                raise UserError("cleaning_executor slurm needs cleaning_work_dir on a filesystem every node sees")
        if self.cleaning_executor == "ray":
            try:
                import ray  # noqa: F401
            except ImportError:
                raise UserError("cleaning_executor ray needs Ray: pip install 'lingbridge[corpus]' (or ray)") from None


# ---- helpers shared by the stages ------------------------------------------------------------------


def _settings(args) -> dict:
    """The `CleaningArguments` values the stages need, as a plain dict (it travels to workers)."""
    return {k: getattr(args, k) for k in ("unicode_normalization", "strip_control_chars", "normalize_whitespace",
                                          "min_chars", "max_chars", "dedup", "near_dedup", "near_dedup_threshold",
                                          "langid", "decontaminate")}


def _key_digest(key: str) -> bytes:
    # 128-bit digests stand for the keys: the same equality as the strings, at a fixed 16 bytes a row
    return hashlib.blake2b(key.encode(), digest_size=16).digest()


def _lsh_bands(threshold: float) -> list[tuple[int, int]]:
    """The bands `clean.py`'s `MinHashLSH` uses (same threshold, permutations and weights)."""
    from datasketch import MinHashLSH

    return list(MinHashLSH(threshold=threshold, num_perm=NUM_PERM, weights=(0.2, 0.8)).hashranges)


def _read_parquet(folder, name: str, columns=None):
    import pyarrow.parquet as pq

    with folder.open(name, "rb") as f:
        return pq.read_table(f, columns=columns)


def _write_parquet(folder, name: str, table) -> None:
    import pyarrow.parquet as pq

    with folder.open(name, "wb") as f:
        pq.write_table(table, f)


def _write_json(folder, name: str, obj) -> None:
    with folder.open(name, "wt") as f:
        json.dump(obj, f)


def _read_json(folder, name: str):
    with folder.open(name, "rt") as f:
        return json.load(f)


def _pipeline_step():
    from datatrove.pipeline.base import PipelineStep

    return PipelineStep


# ---- stage 1: scan ---------------------------------------------------------------------------------


class ScanShards(_pipeline_step()):
    """Normalise, length-filter, key, MinHash and language-id every row of this task's input shards."""

    name = "lingbridge scan"
    type = "🧹 - CLEAN"

    def __init__(self, shards: list[dict], text_columns, settings: dict, languages: list[str], work_dir: str):
        super().__init__()
        self.shards, self.text_columns, self.settings = shards, list(text_columns), settings
        self.languages, self.work_dir = languages, work_dir

    def run(self, data=None, rank: int = 0, world_size: int = 1):
        import numpy as np
        import pyarrow as pa
        from datatrove.io import get_datafolder

        from .clean import _Langid, _shingles, dedup_key, normalize_text

        s = self.settings
        work = get_datafolder(self.work_dir)
        langid = _Langid(self.languages) if s["langid"] != "off" and self.languages else None
        perms = scheme = None
        if s["near_dedup"]:
            from datasketch import MinHash

            proto = MinHash(num_perm=NUM_PERM)  # permutations made once, not per row: same hash values
            perms, scheme = proto.permutations, proto.scheme
        for shard in self.shards[rank::world_size]:
            with self.track_time():
                table = _read_parquet(get_datafolder(shard["folder"]), shard["file"])
                n = table.num_rows
                cols = {c: table.column(c).to_pylist() for c in self.text_columns}
                modified = 0
                for values in cols.values():
                    for i, v in enumerate(values):
                        new = normalize_text(v or "", s["unicode_normalization"], s["strip_control_chars"],
                                             s["normalize_whitespace"])
                        if new != v:
                            values[i] = new
                            modified += 1
                keep = [all(s["min_chars"] <= len(cols[c][i]) <= s["max_chars"] for c in self.text_columns)
                        for i in range(n)]
                has_lang = "lang" in table.column_names
                langs = table.column("lang").to_pylist() if has_lang else [""] * n
                rows, keys, sigs, detected = [], [], [], []
                for i in range(n):
                    if not keep[i]:
                        continue
                    key = "\u241f".join(dedup_key(cols[c][i]) for c in self.text_columns)
                    rows.append(shard["offset"] + i)
                    keys.append(_key_digest(key))
                    if perms is not None:
                        m = MinHash(num_perm=NUM_PERM, permutations=perms, scheme=scheme)
                        m.update_batch(list(_shingles(key)))
                        sigs.append(m.hashvalues.astype(np.uint32).tobytes())
                    det = ""
                    if langid is not None and has_lang and langs[i] in langid.langs:
                        det = langid(cols[self.text_columns[0]][i])
                    detected.append(det)
                kept_idx = [i for i in range(n) if keep[i]]
                out = table.take(pa.array(kept_idx, type=pa.int64()))
                for c in self.text_columns:
                    out = out.set_column(out.column_names.index(c), c, pa.array([cols[c][i] for i in kept_idx], pa.string()))
                out = out.append_column("__row", pa.array(rows, pa.int64()))
                out = out.append_column("__lang", pa.array([langs[i] for i in kept_idx], pa.string()))
                out = out.append_column("__key", pa.array(keys, pa.binary(16)))
                if perms is not None:
                    out = out.append_column("__minhash", pa.array(sigs, pa.binary(4 * NUM_PERM)))
                out = out.append_column("__detected", pa.array(detected, pa.string()))
                _write_parquet(work, f"stage1/{shard['split']}/{shard['index']:05d}.parquet", out)
                _write_json(work, f"stage1/counts/{shard['split']}-{shard['index']:05d}.json",
                            {"split": shard["split"], "rows": n, "modified": modified, "length_removed": n - len(kept_idx),
                             "has_lang": has_lang})
                self.stat_update(f"{shard['split']}/rows", value=n)
                self.stat_update(f"{shard['split']}/normalization_modified", value=modified)
                self.stat_update(f"{shard['split']}/length_removed", value=n - len(kept_idx))
        return
        yield  # a generator, as datatrove steps are


# ---- stage 2: near-duplicate candidates --------------------------------------------------------------


def _split_rows(work, split: str, columns: list[str]):
    """All stage-1 rows of a split, sorted by row, as a pyarrow table."""
    import pyarrow as pa

    files = sorted(work.list_files(f"stage1/{split}", glob_pattern="*.parquet"))
    tables = [_read_parquet(work, f, columns) for f in files]  # paths relative to the work folder
    if not tables:
        return None
    table = pa.concat_tables(tables)
    return table.sort_by("__row")


def _exact_survivors(langs, keys) -> list[bool]:
    """First occurrence of each (language, key), in row order: exact dedup as clean_splits does it."""
    seen, out = set(), []
    for lang, key in zip(langs, keys):
        out.append((lang, key) not in seen)
        seen.add((lang, key))
    return out


class NearCandidates(_pipeline_step()):
    """Rows sharing an LSH band with an earlier row of the same split and language, Jaccard estimate ≥ threshold."""

    name = "lingbridge near-dup candidates"
    type = "🫂 - DEDUP"

    def __init__(self, splits: list[str], settings: dict, work_dir: str):
        super().__init__()
        self.splits, self.settings, self.work_dir = splits, settings, work_dir

    def run(self, data=None, rank: int = 0, world_size: int = 1):
        import numpy as np
        import pyarrow as pa
        from datatrove.io import get_datafolder

        work = get_datafolder(self.work_dir)
        threshold = self.settings["near_dedup_threshold"]
        bands = _lsh_bands(threshold)[rank::world_size]
        edges = {"split": [], "row": [], "earlier": []}
        for split in self.splits:
            with self.track_time():
                table = _split_rows(work, split, ["__row", "__lang", "__key", "__minhash"])
                if table is None or table.num_rows < 2:
                    continue
                langs, keys = table.column("__lang").to_pylist(), table.column("__key").to_pylist()
                alive = np.flatnonzero(_exact_survivors(langs, keys)) if self.settings["dedup"] else np.arange(len(keys))
                rows = table.column("__row").to_numpy()[alive]
                sigs = np.frombuffer(b"".join(table.column("__minhash").to_pylist()), dtype=np.uint32).reshape(-1, NUM_PERM)[alive]
                lang_arr = [langs[i] for i in alive]
                pairs = set()
                for start, end in bands:
                    groups = defaultdict(list)
                    band = sigs[:, start:end]
                    for pos in range(len(alive)):
                        groups[(lang_arr[pos], band[pos].tobytes())].append(pos)
                    for members in groups.values():
                        for k in range(1, len(members)):
                            j = members[k]
                            earlier = np.asarray(members[:k])
                            est = np.count_nonzero(sigs[earlier] == sigs[j], axis=1) / float(NUM_PERM)
                            for i in earlier[est >= threshold]:
                                pairs.add((int(rows[j]), int(rows[i])))
                for j, i in sorted(pairs):
                    edges["split"].append(split)
                    edges["row"].append(j)
                    edges["earlier"].append(i)
                self.stat_update(f"{split}/candidate_edges", value=len(pairs))
        _write_parquet(work, f"stage2/{rank:05d}.parquet", pa.table({
            "split": pa.array(edges["split"], pa.string()), "row": pa.array(edges["row"], pa.int64()),
            "earlier": pa.array(edges["earlier"], pa.int64())}))
        return
        yield


# ---- stage 3: decide ------------------------------------------------------------------------------------


class Decide(_pipeline_step()):
    """Exact dedup, greedy near dedup, language id and contamination: the decisions and counts of clean_splits."""

    name = "lingbridge decide"
    type = "🧹 - CLEAN"

    def __init__(self, splits: list[str], eval_splits, settings: dict, languages: list[str], work_dir: str):
        super().__init__()
        self.splits, self.eval_splits, self.settings = splits, list(eval_splits), settings
        self.languages, self.work_dir = languages, work_dir

    def run(self, data=None, rank: int = 0, world_size: int = 1):
        import numpy as np
        from datatrove.io import get_datafolder

        s = self.settings
        work = get_datafolder(self.work_dir)
        counts = defaultdict(lambda: {"rows": 0, "modified": 0, "length_removed": 0, "has_lang": False})
        for f in work.list_files("stage1/counts", glob_pattern="*.json"):
            c = _read_json(work, f)
            entry = counts[c["split"]]
            for k in ("rows", "modified", "length_removed"):
                entry[k] += c[k]
            entry["has_lang"] |= c["has_lang"]
        edges = defaultdict(lambda: defaultdict(list))
        if s["near_dedup"]:
            for f in work.list_files("stage2", glob_pattern="*.parquet"):
                t = _read_parquet(work, f).to_pydict()
                for split, j, i in zip(t["split"], t["row"], t["earlier"]):
                    edges[split][j].append(i)
        from .clean import _Langid

        langid_langs = _Langid(self.languages).langs if s["langid"] != "off" and self.languages else []
        report = {"rows_before": {sp: counts[sp]["rows"] for sp in self.splits}, "rules": defaultdict(dict)}
        kept_rows, keys_by_split, langs_by_split = {}, {}, {}
        for split in self.splits:
            with self.track_time():
                report["rules"]["normalization"][split] = {"modified": counts[split]["modified"]}
                report["rules"]["length_filter"][split] = {"removed": counts[split]["length_removed"]}
                table = _split_rows(work, split, ["__row", "__lang", "__key", "__detected"])
                cols = table.to_pydict() if table is not None else {"__row": [], "__lang": [], "__key": [], "__detected": []}
                rows, langs, keys, detected = cols["__row"], cols["__lang"], cols["__key"], cols["__detected"]
                keep = [True] * len(rows)
                if s["dedup"]:
                    keep = _exact_survivors(langs, keys)
                    report["rules"]["exact_dedup"][split] = {"removed": keep.count(False)}
                if s["near_dedup"]:
                    kept_row = {}
                    removed = 0
                    split_edges = edges.get(split, {})
                    for pos, row in enumerate(rows):
                        if not keep[pos]:
                            continue
                        if any(kept_row.get(i, False) for i in split_edges.get(row, ())):
                            keep[pos] = False
                            removed += 1
                        else:
                            kept_row[row] = True
                    report["rules"]["near_dedup"][split] = {"removed": removed, "threshold": s["near_dedup_threshold"]}
                if s["langid"] != "off" and counts[split]["has_lang"]:
                    flagged = []
                    for pos, row in enumerate(rows):
                        if keep[pos] and langs[pos] in langid_langs and detected[pos] != langs[pos]:
                            flagged.append({"row": row, "lang": langs[pos], "detected": detected[pos]})
                            if s["langid"] == "drop":
                                keep[pos] = False
                    key = "removed" if s["langid"] == "drop" else "flagged"
                    report["rules"]["langid"][split] = {key: len(flagged), "examples": flagged[:5]}
                kept_rows[split] = [r for r, k in zip(rows, keep) if k]
                keys_by_split[split] = [x for x, k in zip(keys, keep) if k]
                langs_by_split[split] = [x for x, k in zip(langs, keep) if k]

        # contamination, as clean_splits: eval rows in train, eval split vs eval split, one text under two languages
        cross = None
        if all(counts[sp]["has_lang"] for sp in self.splits):
            langs_by_key = defaultdict(set)
            for split in self.splits:
                for k, lang in zip(keys_by_split[split], langs_by_split[split]):
                    langs_by_key[k].add(lang)
            cross = {"flagged": sum(1 for v in langs_by_key.values() if len(v) > 1)}
        evals = [sp for sp in self.eval_splits if sp in self.splits]
        eval_keys = {k for sp in evals for k in keys_by_split[sp]}
        if "train" in self.splits:
            hits = [i for i, k in enumerate(keys_by_split["train"]) if k in eval_keys]
            entry = {"train_rows_in_eval": len(hits)}
            if s["decontaminate"] and hits:
                hit = set(hits)
                kept_rows["train"] = [r for i, r in enumerate(kept_rows["train"]) if i not in hit]
                entry["removed_from_train"] = len(hits)
            report["rules"]["contamination"]["train"] = entry
        if len(evals) == 2:
            a, b = evals
            report["rules"]["contamination"][f"{a}_vs_{b}"] = {"flagged": len(set(keys_by_split[a]) & set(keys_by_split[b]))}
        if cross is not None:
            report["rules"]["contamination"]["across_languages"] = cross
        report["rows_after"] = {sp: len(kept_rows[sp]) for sp in self.splits}
        report["rules"] = dict(report["rules"])
        for split in self.splits:
            with work.open(f"stage3/keep-{split}.npy", "wb") as f:
                np.save(f, np.asarray(kept_rows[split], dtype=np.int64))
        _write_json(work, "report.json", report)
        return
        yield


# ---- stage 4: write the cleaned shards -----------------------------------------------------------------


class WriteCleanShards(_pipeline_step()):
    """Keep the rows stage 3 kept; write the cleaned shards with the input's columns (texts normalised)."""

    name = "lingbridge write"
    type = "💽 - WRITER"

    def __init__(self, shards: list[dict], work_dir: str, output_dir: str):
        super().__init__()
        self.shards, self.work_dir, self.output_dir = shards, work_dir, output_dir

    def run(self, data=None, rank: int = 0, world_size: int = 1):
        import numpy as np
        import pyarrow as pa
        from datatrove.io import get_datafolder

        work, out = get_datafolder(self.work_dir), get_datafolder(self.output_dir)
        keep = {}
        for shard in self.shards[rank::world_size]:
            split = shard["split"]
            if split not in keep:
                with work.open(f"stage3/keep-{split}.npy", "rb") as f:
                    keep[split] = np.load(f)
            table = _read_parquet(work, f"stage1/{split}/{shard['index']:05d}.parquet")
            mask = np.isin(table.column("__row").to_numpy(), keep[split])
            table = table.filter(pa.array(mask)).drop_columns([c for c in _INTERNAL if c in table.column_names])
            _write_parquet(out, f"{split}/{shard['index']:05d}.parquet", table)
            self.stat_update(f"{split}/rows_written", value=table.num_rows)
        return
        yield


# ---- the pipeline ----------------------------------------------------------------------------------------


def write_input_shards(dsd, folder: str | Path, rows_per_shard: int = 20000) -> dict[str, list[str]]:
    """Write each split of a `DatasetDict` as parquet shards of `rows_per_shard` rows (the unit of parallel work)."""
    out = {}
    for split, ds in dsd.items():
        n = max(1, -(-len(ds) // rows_per_shard))
        d = Path(folder) / split
        d.mkdir(parents=True, exist_ok=True)
        out[split] = []
        for i in range(n):
            path = d / f"{i:05d}.parquet"
            ds.shard(n, i, contiguous=True).to_parquet(str(path))
            out[split].append(str(path))
    return out


def _shards(inputs: dict[str, list[str]]) -> list[dict]:
    """One work item per input file, with the row offset of its first row within its split."""
    import pyarrow.parquet as pq
    from datatrove.io import get_datafolder

    shards = []
    for split, files in inputs.items():
        offset = 0
        for index, path in enumerate(files):
            parent, name = str(Path(path).parent), Path(path).name
            with get_datafolder(parent).open(name, "rb") as f:
                n = pq.ParquetFile(f).metadata.num_rows
            shards.append({"split": split, "folder": parent, "file": name, "index": index, "offset": offset})
            offset += n
    return shards


def _languages(inputs: dict[str, list[str]]) -> list[str]:
    """Every language code in the inputs' `lang` columns (language id is restricted to them, as in clean.py)."""
    import pyarrow.parquet as pq

    found = set()
    for files in inputs.values():
        for path in files:
            if "lang" in pq.ParquetFile(path).schema_arrow.names:
                found |= set(pq.read_table(path, columns=["lang"]).column("lang").unique().to_pylist())
    return sorted(found)


def _executor(engine: CleaningEngineArguments, pipeline, tasks: int, logging_dir: str, depends, name: str):
    workers = min(tasks, engine.cleaning_workers)
    if engine.cleaning_executor == "local":
        from datatrove.executor import LocalPipelineExecutor

        return LocalPipelineExecutor(pipeline=pipeline, tasks=tasks, workers=workers, logging_dir=logging_dir,
                                     depends=depends, skip_completed=True)
    if engine.cleaning_executor == "slurm":
        from datatrove.executor import SlurmPipelineExecutor

        return SlurmPipelineExecutor(pipeline=pipeline, tasks=tasks, time=engine.cleaning_slurm_time,
                                     partition=engine.cleaning_slurm_partition, logging_dir=logging_dir, depends=depends,
                                     job_name=f"lingbridge-clean-{name}", cpus_per_task=engine.cleaning_slurm_cpus_per_task,
                                     mem_per_cpu_gb=engine.cleaning_slurm_mem_per_cpu_gb)
    from datatrove.executor.ray import RayPipelineExecutor

    return RayPipelineExecutor(pipeline=pipeline, tasks=tasks, workers=workers, logging_dir=logging_dir, depends=depends,
                               mem_per_cpu_gb=engine.cleaning_slurm_mem_per_cpu_gb)


def clean_shards(inputs: dict[str, list[str]], args, work_dir: str | Path, engine: CleaningEngineArguments | None = None,
                 text_columns=("text",), eval_splits=("validation", "test")) -> dict | None:
    """Run the cleaning rules of `CleaningArguments` on parquet shards with datatrove.

    Args:
        inputs: `{split: [parquet files in row order]}`; rows keep the order of the files.
        args: a `CleaningArguments`.
        work_dir: a local folder or fsspec URL for the stages; the cleaned shards go to `work_dir/output/<split>/`.
        engine: the executor switch (default: local, 2 workers).
        text_columns: the columns cleaned and compared (`("src", "tgt")` for parallel pairs).

    Returns:
        The report, with the same keys and counts as `clean_splits`; `None` for Slurm, whose jobs are
        still running when this returns (the report is then `work_dir/report.json`).
    """
    from datatrove.io import get_datafolder

    engine = engine or CleaningEngineArguments()
    work_dir = str(work_dir)
    missing = [p for files in inputs.values() for p in files if "://" not in p and not Path(p).is_file()]
    if missing:
        raise UserError(f"cleaning input: file not found: {missing[0]}")
    settings, splits = _settings(args), list(inputs)
    shards = _shards(inputs)
    languages = _languages(inputs) if settings["langid"] != "off" else []
    tasks = engine.cleaning_tasks or len(shards)
    logs = f"{work_dir.rstrip('/')}/logs"
    if engine.cleaning_executor == "ray":
        import ray

        if not ray.is_initialized():
            ray.init(address=engine.cleaning_ray_address or None, include_dashboard=False, log_to_driver=False)
    stage = _executor(engine, [ScanShards(shards, text_columns, settings, languages, work_dir)],
                      min(tasks, len(shards)), f"{logs}/scan", None, "scan")
    if settings["near_dedup"]:
        stage = _executor(engine, [NearCandidates(splits, settings, work_dir)],
                          min(engine.cleaning_tasks or engine.cleaning_workers, len(_lsh_bands(settings["near_dedup_threshold"]))),
                          f"{logs}/candidates", stage, "candidates")
    stage = _executor(engine, [Decide(splits, eval_splits, settings, languages, work_dir)], 1, f"{logs}/decide", stage, "decide")
    stage = _executor(engine, [WriteCleanShards(shards, work_dir, f"{work_dir.rstrip('/')}/output")],
                      min(tasks, len(shards)), f"{logs}/write", stage, "write")
    stage.run()
    if engine.cleaning_executor == "slurm":
        return None
    report = _read_json(get_datafolder(work_dir), "report.json")
    for split, n in report["rows_after"].items():
        if n == 0 and report["rows_before"][split] > 0:
            raise UserError(
                f"the {split} split is empty after cleaning ({report['rows_before'][split]} rows before); "
                "check min_chars/max_chars, langid and the text column"
            )
    return report


def clean_splits_datatrove(dsd, args, work_dir: str | Path, engine: CleaningEngineArguments | None = None,
                           text_columns=("text",), eval_splits=("validation", "test")):
    """`clean_splits` on datatrove: write the splits as shards, clean them, read the cleaned shards back.

    Returns `(DatasetDict, report)` like `clean_splits`, with the same counts.
    """
    from datasets import Dataset, DatasetDict

    engine = engine or CleaningEngineArguments()
    if engine.cleaning_executor == "slurm":
        raise UserError("clean_splits_datatrove waits for the result; with slurm, call clean_shards and read report.json")
    inputs = write_input_shards(dsd, Path(work_dir) / "input", engine.cleaning_rows_per_shard)
    report = clean_shards(inputs, args, work_dir, engine, text_columns, eval_splits)
    out = {}
    for split, ds in dsd.items():
        files = sorted(str(p) for p in (Path(work_dir) / "output" / split).glob("*.parquet"))
        cleaned = Dataset.from_parquet(files, cache_dir=str(Path(work_dir) / "cache")) if files else ds.select([])
        out[split] = cleaned.cast(ds.features) if len(cleaned) else cleaned
    return DatasetDict(out), report
