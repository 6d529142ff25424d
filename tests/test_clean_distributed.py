"""Cleaning on datatrove: the same counts and rows as `clean_splits` on real text; the executor switch."""

from __future__ import annotations

import copy

import pytest

from conftest import SHARED_DATASETS
from lingbridge.config import CleaningArguments
from lingbridge.data import clean_splits
from lingbridge.data.clean_distributed import CleaningEngineArguments, clean_splits_datatrove
from lingbridge.errors import UserError

PARALLEL = SHARED_DATASETS / "parallel"
needs_data = pytest.mark.skipif(not PARALLEL.is_dir(), reason="../shared/datasets/parallel is absent")


def real_rows(per_file: int = 400, files=("en-de", "en-fr", "en-ja")) -> list[dict]:
    """Both sides of the last `per_file` pairs (Tatoeba: short everyday sentences, where duplicates,
    near-duplicates, cross-language copies and language-id misses occur) of a few real pair files."""
    rows = []
    for name in files:
        lines = (PARALLEL / f"{name}.tsv").read_text(encoding="utf-8").splitlines()[1:][-per_file:]
        for line in lines:
            sl, s, tl, t = line.split("\t")
            rows.append({"src_lang": sl, "src": s, "tgt_lang": tl, "tgt": t})
    return rows


def _splits(rows: list[dict], monolingual: bool):
    """train/validation/test by position (every 7th and 11th row held out), as a DatasetDict."""
    from datasets import Dataset, DatasetDict

    if monolingual:
        rows = [r for p in rows for r in ({"text": p["src"], "lang": p["src_lang"]}, {"text": p["tgt"], "lang": p["tgt_lang"]})]
    # a few exact copies, some of which land in validation/test: leaks, as real corpora have
    rows = rows + [dict(r) for r in rows[:40:3]]
    parts = {"train": [], "validation": [], "test": []}
    for i, r in enumerate(rows):
        parts["validation" if i % 7 == 3 else "test" if i % 11 == 5 else "train"].append(r)
    return DatasetDict({k: Dataset.from_list(v) for k, v in parts.items()})


@needs_data
@pytest.mark.parametrize("monolingual,langid", [(True, "flag"), (True, "drop"), (False, "off")])
def test_same_counts_and_rows_as_clean_splits(tmp_path, monolingual, langid):
    args = CleaningArguments(langid=langid, min_chars=3, max_chars=300)
    columns = ("text",) if monolingual else ("src", "tgt")
    dsd = _splits(real_rows(), monolingual)
    expected, expected_report = clean_splits(copy.deepcopy(dsd), args, text_columns=columns)
    engine = CleaningEngineArguments(cleaning_workers=1, cleaning_rows_per_shard=700)  # several shards, in-process
    got, report = clean_splits_datatrove(dsd, args, tmp_path / "work", engine, text_columns=columns)
    assert report == expected_report
    rules = report["rules"]
    assert rules["exact_dedup"]["train"]["removed"] > 0 and rules["near_dedup"]["train"]["removed"] > 0
    assert rules["contamination"]["train"]["train_rows_in_eval"] > 0
    if monolingual:
        assert rules["langid"]["train"][{"flag": "flagged", "drop": "removed"}[langid]] > 0
    for split in dsd:
        assert got[split].to_list() == expected[split].to_list()
    assert sorted(p.name for p in (tmp_path / "work" / "output" / "train").glob("*.parquet"))  # cleaned shards


def test_same_counts_on_the_bundled_sample_with_two_processes(tmp_path):
    from lingbridge.data import load_sample

    dsd = load_sample("corpus")
    dsd = type(dsd)({k: v.select(range(0, len(v), 4)) for k, v in dsd.items()})
    args = CleaningArguments(langid="flag")
    _, expected = clean_splits(copy.deepcopy(dsd), args)
    engine = CleaningEngineArguments(cleaning_workers=2, cleaning_rows_per_shard=500)
    _, report = clean_splits_datatrove(dsd, args, tmp_path / "work", engine)
    assert report == expected


@pytest.mark.parametrize("kwargs,match", [
    ({"cleaning_executor": "spark"}, "cleaning_executor must be one of local, slurm, ray"),
    ({"cleaning_workers": 0}, "cleaning_workers must be at least 1"),
    ({"cleaning_tasks": 0}, "cleaning_tasks must be at least 1"),
    ({"cleaning_rows_per_shard": 0}, "cleaning_rows_per_shard must be at least 1"),
    ({"cleaning_executor": "slurm"}, "needs cleaning_slurm_partition"),
    ({"cleaning_executor": "slurm", "cleaning_slurm_partition": "cpu"}, "sbatch not found"),
])
def test_executor_switch_is_validated(kwargs, match):
    with pytest.raises(UserError, match=match):
        CleaningEngineArguments(**kwargs)


def test_executor_switch_picks_the_datatrove_executor(tmp_path):
    from datatrove.executor import LocalPipelineExecutor

    from lingbridge.data.clean_distributed import _executor

    ex = _executor(CleaningEngineArguments(cleaning_workers=3), [], 8, str(tmp_path), None, "scan")
    assert isinstance(ex, LocalPipelineExecutor) and ex.workers == 3 and ex.tasks == 8
    pytest.importorskip("ray")
    from datatrove.executor.ray import RayPipelineExecutor

    ex = _executor(CleaningEngineArguments(cleaning_executor="ray", cleaning_workers=2), [], 8, str(tmp_path), None, "scan")
    assert isinstance(ex, RayPipelineExecutor) and ex.workers == 2


@pytest.mark.slow
def test_ray_executor_on_a_local_ray_instance(tmp_path):
    ray = pytest.importorskip("ray")
    from lingbridge.data import load_sample

    dsd = load_sample("corpus")
    dsd = type(dsd)({k: v.select(range(0, len(v), 8)) for k, v in dsd.items()})
    args = CleaningArguments(langid="flag")
    _, expected = clean_splits(copy.deepcopy(dsd), args)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        engine = CleaningEngineArguments(cleaning_executor="ray", cleaning_workers=2, cleaning_rows_per_shard=300)
        _, report = clean_splits_datatrove(dsd, args, tmp_path / "work", engine)
    finally:
        ray.shutdown()
    assert report == expected


@pytest.mark.slow
def test_pretrain_recipe_cleans_on_datatrove_with_the_same_counts(tmp_path):
    """`--cleaning_engine datatrove`: the run record's cleaning counts are clean_splits's; shards in the run folder."""
    import json

    from conftest import config
    from lingbridge.recipes import pretrain

    common = ["--config", config("pretrain"), "--max_steps", "1", "--save_strategy", "no", "--disable_tqdm", "true",
              "--report_to", "none"]
    pretrain.main([*common, "--output_dir", str(tmp_path / "loops")])
    pretrain.main([*common, "--output_dir", str(tmp_path / "datatrove"), "--cleaning_engine", "datatrove",
                   "--cleaning_workers", "2"])
    loops = json.loads((tmp_path / "loops" / "lingbridge_run.json").read_text())
    dt = json.loads((tmp_path / "datatrove" / "lingbridge_run.json").read_text())
    assert dt["cleaning"].pop("engine") == "local"
    assert dt["cleaning"] == loops["cleaning"] and dt["parallel_cleaning"] == loops["parallel_cleaning"]
    assert list((tmp_path / "datatrove" / "cleaning" / "corpus" / "output" / "train").glob("*.parquet"))
