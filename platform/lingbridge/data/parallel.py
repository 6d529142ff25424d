"""Parallel pairs (for TLM and translation): bundled sample, tsv/csv/jsonl files or Hub datasets.

The canonical row is `{"src_lang", "tgt_lang", "src", "tgt"}`; Hub-style rows
`{"translation": {"en": ..., "de": ...}}` are converted to it.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import UserError
from ..languages import check_language


def _from_translation_dicts(ds, where: str):
    def convert(batch):
        out = {"src_lang": [], "tgt_lang": [], "src": [], "tgt": []}
        for row in batch["translation"]:
            if not isinstance(row, dict):
                raise UserError(f"{where}: 'translation' must map two language codes to texts "
                                f"({{\"en\": ..., \"de\": ...}}), got {type(row).__name__}")
            langs = [k for k, v in row.items() if v is not None]
            if len(langs) != 2:
                raise UserError(f"{where}: each translation needs exactly two languages, got {langs}")
            a, b = sorted(langs, key=lambda k: (k != "en", k))  # English first when present
            out["src_lang"].append(a)
            out["tgt_lang"].append(b)
            out["src"].append(row[a])
            out["tgt"].append(row[b])
        return out

    return ds.map(convert, batched=True, remove_columns=ds.column_names)


def _from_language_columns(ds, where: str):
    """A file whose two columns are named by language codes (`en\tde` header) → canonical rows."""
    a, b = sorted(ds.column_names, key=lambda k: (k != "en", k))
    check_language(a, where)
    check_language(b, where)
    return ds.map(lambda batch: {"src_lang": [a] * len(batch[a]), "tgt_lang": [b] * len(batch[a]),
                                 "src": batch[a], "tgt": batch[b]}, batched=True, remove_columns=ds.column_names)


def load_parallel(source: str | dict[str, str], languages: list[str] | None = None, seed: int = 42,
                  validation_share: float = 0.1, keep_test: bool = False, config_name: str | None = None,
                  role: str = "parallel (TLM)"):
    """Load parallel pairs as a DatasetDict (train, validation) plus its source description.

    Args:
        source: `sample:parallel`, a tsv/csv/json/jsonl/parquet file, a `{split: file}` dict, or a Hub id.
        keep_test: also return a `test` split when the source has one.
        config_name: the Hub dataset config (e.g. `de-en` for wmt16).
        role: what the pairs are for, as the run record shows it.
    """
    from datasets import DatasetDict, load_dataset

    from .files import load_files

    if isinstance(source, dict):
        for split, f in source.items():
            if not Path(f).is_file():
                raise UserError(f"parallel data: {split} file not found: {f}")
        dsd = load_files(source)
        kind = "local file"
        source = ", ".join(source.values())
    elif source.startswith("sample:"):
        from .bundled import load_sample

        dsd = load_sample(source)
        kind = "bundled sample"
    elif Path(source).suffix.lower() in (".tsv", ".csv", ".json", ".jsonl", ".parquet"):
        if not Path(source).is_file():
            raise UserError(f"parallel data: file not found: {source}")
        dsd = load_files({"train": source})
        kind = "local file"
    else:
        try:
            dsd = load_dataset(source, config_name)
        except Exception as err:
            raise UserError(f"could not load parallel dataset '{source}': {str(err).splitlines()[0]}") from None
        kind = "hub"
    dsd = DatasetDict(dsd)
    for split in list(dsd):
        ds = dsd[split]
        if "translation" in ds.column_names and "src" not in ds.column_names:
            ds = _from_translation_dicts(ds, source)
        elif len(ds.column_names) == 2 and "src" not in ds.column_names:
            ds = _from_language_columns(ds, f"{source} ({split} split) column name")
        missing = [c for c in ("src_lang", "tgt_lang", "src", "tgt") if c not in ds.column_names]
        if missing:
            raise UserError(f"{source} ({split} split): missing columns {missing}; expected src_lang, tgt_lang, src, tgt "
                            "or a 'translation' dict per row")
        for lang in set(ds.unique("src_lang")) | set(ds.unique("tgt_lang")):
            if not isinstance(lang, str) or not lang.strip():
                what = "no language code" if lang in (None, "") else f"the language code {lang!r}"
                raise UserError(f"{source} ({split} split): a row has {what} in src_lang/tgt_lang; "
                                "use ISO 639-1 codes such as en, de, zh")
            check_language(lang, f"{source} ({split} split)")
        if languages:
            keep = set(languages)
            ds = ds.filter(lambda b: [s in keep and t in keep for s, t in zip(b["src_lang"], b["tgt_lang"])],
                           batched=True)
        dsd[split] = ds.select_columns(["src_lang", "tgt_lang", "src", "tgt"])
    if "validation" not in dsd:
        if len(dsd["train"]) < 2:
            raise UserError(f"{source}: {len(dsd['train'])} pair is too few to hold out a validation split; add pairs "
                            "or give a validation file")
        parts = dsd["train"].train_test_split(test_size=validation_share, seed=seed)
        dsd["train"], dsd["validation"] = parts["train"], parts["test"]
    splits = ["train", "validation"] + (["test"] if keep_test and "test" in dsd else [])
    return DatasetDict({s: dsd[s] for s in splits}), {
        "name": source, "kind": kind, "role": role, **({"config": config_name} if config_name else {}),
        "rows_loaded": {s: len(dsd[s]) for s in splits},
    }


def load_translation_pairs(data_args, seed: int):
    """Parallel pairs for translation (train, validation, test when present) from `DataArguments`: local
    files, a Hub id, or the bundled `sample:parallel`."""
    if data_args.train_file:
        source = {s: f for s, f in (("train", data_args.train_file), ("validation", data_args.validation_file),
                                    ("test", data_args.test_file)) if f}
    else:
        source = data_args.dataset_name or "sample:parallel"
    return load_parallel(source, data_args.languages, seed=seed, keep_test=True, role="parallel (translation)",
                         validation_share=data_args.validation_split_percentage / 100 or 0.1,
                         config_name=data_args.dataset_config_name)
