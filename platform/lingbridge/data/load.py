"""Load train/validation/test splits from a Hub id, local files or the bundled sample."""

from __future__ import annotations

from pathlib import Path

from ..errors import UserError
from ..languages import LANGUAGE_NAMES

_BUILDERS = {".csv": "csv", ".tsv": "csv", ".json": "json", ".jsonl": "json", ".parquet": "parquet", ".txt": "text"}


def check_utf8(path: str | Path) -> None:
    """Fail with the line and byte of the first invalid UTF-8 sequence in a text file."""
    with open(path, "rb") as fh:
        for lineno, line in enumerate(fh, 1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as err:
                raise UserError(
                    f"{path}:{lineno}: not valid UTF-8 (byte 0x{line[err.start]:02x} at column {err.start + 1}); "
                    "re-save the file as UTF-8"
                ) from None


def _load_files(files: dict[str, str], cache_dir=None):
    from datasets import load_dataset

    suffixes = {Path(f).suffix.lower() for f in files.values()}
    for split, f in files.items():
        if Path(f).suffix.lower() not in _BUILDERS:
            raise UserError(f"{split} file {f}: unsupported extension; use one of {', '.join(sorted(_BUILDERS))}")
    if len({_BUILDERS[s] for s in suffixes}) > 1 or (".tsv" in suffixes and ".csv" in suffixes):
        raise UserError(f"train/validation/test files must share one format, got {sorted(suffixes)}")
    suffix = suffixes.pop()
    for f in files.values():
        if suffix != ".parquet":
            check_utf8(f)
    kwargs = {"delimiter": "\t"} if suffix == ".tsv" else {}
    try:
        return load_dataset(_BUILDERS[suffix], data_files=files, cache_dir=cache_dir, **kwargs)
    except Exception as err:  # datasets wraps parser errors in many types
        msg = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UserError(f"could not read {', '.join(files.values())}: {msg}") from None


def load_raw(data_args, cache_dir=None, seed: int = 42):
    """Load the splits named by `DataArguments` (no column mapping). Returns (DatasetDict, sources)."""
    from datasets import DatasetDict, load_dataset

    if data_args.dataset_name and data_args.dataset_name.startswith("sample:"):
        from .sample import load_sample

        dsd = load_sample(data_args.dataset_name)
        sources = [{"name": data_args.dataset_name, "kind": "bundled sample"}]
    elif data_args.dataset_name:
        try:
            dsd = load_dataset(data_args.dataset_name, data_args.dataset_config_name, cache_dir=cache_dir)
        except Exception as err:
            msg = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise UserError(f"could not load dataset '{data_args.dataset_name}': {msg}") from None
        sources = [{"name": data_args.dataset_name, "config": data_args.dataset_config_name, "kind": "hub"}]
    elif data_args.train_file:
        files = {"train": data_args.train_file}
        if data_args.validation_file:
            files["validation"] = data_args.validation_file
        if data_args.test_file:
            files["test"] = data_args.test_file
        dsd = _load_files(files, cache_dir)
        sources = [{"name": str(Path(f).resolve()), "split": s, "kind": "local file"} for s, f in files.items()]
    else:
        raise UserError("no data: give dataset_name (a Hub id or sample:...) or train_file")

    dsd = DatasetDict(dsd)
    if "validation" not in dsd and "dev" in dsd:
        dsd["validation"] = dsd.pop("dev")
    if "train" not in dsd:
        raise UserError(f"the data has no 'train' split (found: {', '.join(dsd)})")
    if "validation" not in dsd and data_args.validation_split_percentage > 0:
        parts = dsd["train"].train_test_split(test_size=data_args.validation_split_percentage / 100, seed=seed)
        dsd["train"], dsd["validation"] = parts["train"], parts["test"]
    for src in sources:
        src["fingerprints"] = {s: d._fingerprint for s, d in dsd.items()}
    return dsd, sources


def map_columns(dsd, data_args, needed: dict[str, str], where: str = "data"):
    """Rename the user's columns to lingbridge's names (`text`, `label`, `lang`, ...).

    `needed` maps canonical name → user column name; `lang` is optional: when absent and a single
    language is configured, it is filled in, else set to 'und' (undetermined).
    """
    for split, ds in dsd.items():
        cols = ds.column_names
        renames = {}
        for canon, col in needed.items():
            if col not in cols:
                if canon == "lang":
                    continue
                raise UserError(
                    f"{where} ({split} split): no column '{col}' for {canon}; columns are: {', '.join(cols)}. "
                    f"Set --{canon}_column"
                )
            if col != canon:
                if canon in cols:
                    ds = ds.remove_columns(canon)
                renames[col] = canon
        if renames:
            ds = ds.rename_columns(renames)
        if "lang" not in ds.column_names:
            lang = data_args.languages[0] if data_args.languages and len(data_args.languages) == 1 else "und"
            ds = ds.add_column("lang", [lang] * len(ds))
        dsd[split] = ds
    return dsd


def check_row_languages(dsd, where: str = "data") -> list[str]:
    """Every row's language code must be known; returns the languages found, sorted."""
    found = set()
    for split, ds in dsd.items():
        langs = ds["lang"]
        for i, lang in enumerate(langs):
            if lang not in found:
                if lang != "und" and lang not in LANGUAGE_NAMES:
                    raise UserError(
                        f"{where} ({split} split, row {i + 1}): unknown language code '{lang}'; "
                        "use ISO 639-1 codes such as en, de, zh"
                    )
                found.add(lang)
    return sorted(found)


def filter_languages(dsd, languages: list[str] | None):
    if not languages:
        return dsd
    keep = set(languages)
    for split in list(dsd):
        dsd[split] = dsd[split].filter(lambda batch: [lang in keep for lang in batch["lang"]], batched=True)
    return dsd


def limit(ds, n: int | None):
    return ds.select(range(min(n, len(ds)))) if n is not None and n < len(ds) else ds


def load_splits(data_args, needed: dict[str, str], cache_dir=None, seed: int = 42, where: str | None = None):
    """Load, map columns, check language codes, keep the configured languages.

    Returns (DatasetDict, sources, languages).
    """
    where = where or data_args.dataset_name or data_args.train_file
    dsd, sources = load_raw(data_args, cache_dir=cache_dir, seed=seed)
    dsd = map_columns(dsd, data_args, needed, where=where)
    found = check_row_languages(dsd, where=where)
    if data_args.languages:
        missing = [lang for lang in data_args.languages if lang not in found]
        if missing:
            raise UserError(f"languages {missing} not in {where} (it has: {', '.join(found)})")
    dsd = filter_languages(dsd, data_args.languages)
    for src in sources:
        src["rows_loaded"] = {s: len(d) for s, d in dsd.items()}
    return dsd, sources, data_args.languages or found
