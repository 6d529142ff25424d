"""Load train/validation/test splits from a Hub id, local files or the bundled sample."""

from __future__ import annotations

from pathlib import Path

from ..errors import UserError
from ..languages import LANGUAGE_NAMES
from .files import LINE_COLUMN, ROW_COLUMN, file_positions, load_files


def split_sources(data_args) -> dict[str, str]:
    """The file (or dataset) each split comes from, for error messages: `{split: name}`."""
    base = data_args.dataset_name or data_args.train_file or "data"
    return {"train": base, "validation": data_args.validation_file or base, "test": data_args.test_file or base}


def row_position(ds, i: int) -> str:
    """Where row `i` of `ds` came from: `line N` of its file, else `row N` of its source (1-based)."""
    if LINE_COLUMN in ds.column_names:
        return f"line {ds[i][LINE_COLUMN]}"
    if ROW_COLUMN in ds.column_names:
        return f"row {ds[i][ROW_COLUMN]}"
    return f"row {i + 1}"


def drop_positions(dsd):
    """Remove the row-position columns `load_splits` added (before tokenising or saving)."""
    for split in list(dsd):
        extra = [c for c in (LINE_COLUMN, ROW_COLUMN) if c in dsd[split].column_names]
        if extra:
            dsd[split] = dsd[split].remove_columns(extra)
    return dsd


def _add_positions(dsd, files: dict[str, str] | None):
    """A column that remembers each row's place in its file, added before any shuffle or filter."""
    for split in list(dsd):
        ds = dsd[split]
        if LINE_COLUMN in ds.column_names or ROW_COLUMN in ds.column_names:
            continue
        if files and split in files:
            name, values = file_positions(files[split], len(ds))
        else:
            name, values = ROW_COLUMN, list(range(1, len(ds) + 1))
        dsd[split] = ds.add_column(name, values)
    return dsd


def load_raw(data_args, cache_dir=None, seed: int = 42, positions: bool = False):
    """Load the splits named by `DataArguments` (no column mapping). Returns (DatasetDict, sources).

    With `positions`, each row gets its line in its file (`_line`) or its row in its source (`_row`)
    before the validation split is drawn, so that errors name a place the user can find.
    """
    from datasets import DatasetDict, load_dataset

    if data_args.dataset_name and data_args.dataset_name.startswith("sample:"):
        from .bundled import load_sample

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
        dsd = load_files(files, cache_dir)
        sources = [{"name": str(Path(f).resolve()), "split": s, "kind": "local file"} for s, f in files.items()]
    else:
        raise UserError("no data: give dataset_name (a Hub id or sample:...) or train_file")

    dsd = DatasetDict(dsd)
    if "validation" not in dsd and "dev" in dsd:
        dsd["validation"] = dsd.pop("dev")
    if "train" not in dsd:
        raise UserError(f"the data has no 'train' split (found: {', '.join(dsd)})")
    if len(dsd["train"]) == 0:
        raise UserError(f"{data_args.dataset_name or data_args.train_file}: the train split has no rows")
    if positions:
        dsd = _add_positions(dsd, files if data_args.train_file and not data_args.dataset_name else None)
    if "validation" not in dsd and data_args.validation_split_percentage > 0:
        if len(dsd["train"]) < 2:
            raise UserError(f"{data_args.dataset_name or data_args.train_file}: {len(dsd['train'])} training row is too "
                            "few to hold out a validation split; add rows or give a validation_file")
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
    owner: dict[str, str] = {}
    for canon, col in needed.items():
        if col in owner:
            raise UserError(f"--{owner[col]}_column and --{canon}_column both name the column {col!r}; "
                            "each needs a column of its own")
        owner[col] = canon
    for split, ds in dsd.items():
        cols = [c for c in ds.column_names if c not in (LINE_COLUMN, ROW_COLUMN)]
        renames = {}
        for canon, col in needed.items():
            if col not in cols:
                if canon == "lang":
                    continue
                raise UserError(
                    f"{where} ({split} split): no column {col!r} for {canon}; columns are: {column_list(cols)}. "
                    f"Set --{canon}_column"
                )
            if col != canon:
                renames[col] = canon
        # a column that has a taken name and is not itself renamed (an unused `text` beside --text_column) goes
        clash = [c for c in renames.values() if c in ds.column_names and c not in renames]
        if clash:
            ds = ds.remove_columns(clash)
        if renames:
            ds = ds.rename_columns(renames)
        if "lang" not in ds.column_names:
            lang = data_args.languages[0] if data_args.languages and len(data_args.languages) == 1 else "und"
            ds = ds.add_column("lang", [lang] * len(ds))
        for canon in [c for c in needed if c not in ("label",) and c in ds.column_names]:
            ds = _as_text(ds, canon, needed.get(canon, canon), f"{where} ({split} split)")
        dsd[split] = ds
    return dsd


def column_list(columns) -> str:
    """Column names for a message: quoted where a name is empty, blank, or holds commas or control characters."""
    def show(c):
        return c if c.strip() and c.isprintable() and "," not in c and c == c.strip() else repr(c)

    return ", ".join(show(str(c)) for c in columns) or "(none)"


def _as_text(ds, column: str, user_name: str, where: str):
    """Text and language columns must hold strings: numbers become text (a CSV column of numbers is read as
    integers), lists and records are a `UserError`; missing cells stay None (the cleaner drops them)."""
    from datasets import Value

    feature = ds.features[column]
    if isinstance(feature, Value) and feature.dtype in ("string", "large_string"):
        return ds
    if isinstance(feature, Value) and feature.dtype != "binary":
        try:
            return ds.cast_column(column, Value("string"))
        except Exception as err:  # arrow casts fail for exotic types (timestamps with zones, decimals)
            raise UserError(f"{where}: column {user_name!r} cannot be read as text ({type(err).__name__})") from None
    kind = type(feature).__name__ if not isinstance(feature, Value) else feature.dtype
    raise UserError(f"{where}: column {user_name!r} holds {_describe_feature(feature, kind)}, expected text "
                    "(one string per row)")


def _describe_feature(feature, kind: str) -> str:
    if isinstance(feature, (list, tuple)) or kind in ("List", "LargeList", "Sequence"):
        return "lists"
    if isinstance(feature, dict):
        return "records (JSON objects)"
    return f"values of type {kind}"


def check_row_languages(dsd, where: str | dict[str, str] = "data") -> list[str]:
    """Every row's language code must be known; returns the languages found, sorted.

    `where` names the data (or `{split: file}`); a bad row is named by its line in the file when known.
    """
    found = set()
    for split, ds in dsd.items():
        name = where.get(split, next(iter(where.values()), "data")) if isinstance(where, dict) else where
        langs = ds["lang"]
        for i, lang in enumerate(langs):
            if not isinstance(lang, str):
                raise UserError(f"{name} ({split} split, {row_position(ds, i)}): "
                                f"{'no language code' if lang is None else f'language code {lang!r} is not text'}; "
                                "use ISO 639-1 codes such as en, de, zh")
            if lang not in found:
                if lang != "und" and lang not in LANGUAGE_NAMES:
                    raise UserError(
                        f"{name} ({split} split, {row_position(ds, i)}): unknown language code {lang!r}; "
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

    Every split gets a `_line` column (the row's line in its csv/tsv/jsonl/txt file) or a `_row` column
    (its 1-based row in a json/parquet file or a Hub/bundled split), so that later errors (labels, language
    codes) name the place in the file, not a position after shuffling and cleaning; `drop_positions`
    (or `cast_labels`) removes it.

    Returns (DatasetDict, sources, languages).
    """
    where = where or data_args.dataset_name or data_args.train_file
    dsd, sources = load_raw(data_args, cache_dir=cache_dir, seed=seed, positions=True)
    dsd = map_columns(dsd, data_args, needed, where=where)
    found = check_row_languages(dsd, where=split_sources(data_args))
    if data_args.languages:
        missing = [lang for lang in data_args.languages if lang not in found]
        if missing:
            raise UserError(f"languages {missing} not in {where} (it has: {', '.join(found)})")
    dsd = filter_languages(dsd, data_args.languages)
    for src in sources:
        src["rows_loaded"] = {s: len(d) for s, d in dsd.items()}
    return dsd, sources, data_args.languages or found


def zero_shot_splits(dsd, train_languages: list[str], selection_languages: list[str], data_args,
                     eval_split: str | None = None):
    """The cross-lingual splits of a run: train on `train_languages`, select checkpoints on the dev rows of
    `selection_languages`, test on every language (the `test` split, else `validation`).

    Returns (train, dev, test, eval split name), each capped by `max_train_samples`/`max_eval_samples`.
    """
    if "validation" not in dsd:
        raise UserError("no validation rows: with validation_split_percentage 0, give a validation_file (the run "
                        "selects checkpoints and reports dev metrics on it), or hold out a share of train "
                        "with validation_split_percentage (default 10)")
    eval_split = eval_split or ("test" if "test" in dsd else "validation")
    train = limit(filter_languages({"t": dsd["train"]}, train_languages)["t"], data_args.max_train_samples)
    dev = limit(filter_languages({"d": dsd["validation"]}, selection_languages)["d"], data_args.max_eval_samples)
    test = limit(dsd[eval_split], data_args.max_eval_samples) if eval_split == "test" else dsd[eval_split]
    if len(train) == 0:
        raise UserError(f"no training rows in languages {train_languages}")
    return train, dev, test, eval_split


def load_qa_splits(data_args, qa_args, cache_dir=None, seed: int = 42):
    """Load QA data as train/validation/test `DatasetDict` of flattened SQuAD rows with `lang`.

    Sources: the bundled `sample:qa` (default), a Hub dataset (`dataset_name`, SQuAD-shaped), or
    local files (`train_file`/`validation_file`/`test_file`: nested SQuAD JSON, or flat json/jsonl/
    parquet with the SQuAD columns); plus `eval_files` / `eval_datasets`, added to the test split.

    Without a test split, the validation split is the test set and the dev set (checkpoint
    selection) is held out from train by context (`validation_split_percentage`); without either,
    the held-out part is both.

    Returns:
        (DatasetDict, sources, languages, answer-span report per split)
    """
    from dataclasses import replace

    from datasets import DatasetDict, concatenate_datasets, load_dataset

    from .squad import check_answers, language_from_name, read_squad_file, split_by_context, standardise, to_qa_dataset

    cols = {"question": qa_args.question_column, "context": qa_args.context_column,
            "answers": qa_args.answer_column, "id": qa_args.id_column}
    single = data_args.languages[0] if data_args.languages and len(data_args.languages) == 1 else None
    name = data_args.dataset_name or (None if data_args.train_file else "sample:qa")
    if name and name.startswith("sample:"):
        from .bundled import load_sample

        raw = load_sample(name)
        sources = [{"name": name, "kind": "bundled sample"}]
        dsd = {split: standardise(ds, cols, single or "und", name) for split, ds in raw.items()}
    elif name:
        raw, sources = load_raw(replace(data_args, dataset_name=name, validation_split_percentage=0),
                                cache_dir=cache_dir, seed=seed)
        lang = language_from_name(data_args.dataset_config_name) or single or "und"
        dsd = {split: standardise(ds, cols, lang, name) for split, ds in raw.items()}
    else:
        files = {s: f for s, f in (("train", data_args.train_file), ("validation", data_args.validation_file),
                                   ("test", data_args.test_file)) if f}
        dsd, sources = {}, []
        for split, f in files.items():
            rows = read_squad_file(f, single)
            if rows is not None:
                dsd[split] = to_qa_dataset(rows, f)
            else:
                lang = language_from_name(f) or single or "und"
                dsd[split] = standardise(load_files({split: f}, cache_dir)[split], cols, lang, f)
            sources.append({"name": str(Path(f).resolve()), "split": split, "kind": "local file"})

    dev_from_train = "test" not in dsd or "validation" not in dsd
    if "test" not in dsd and "validation" in dsd:
        dsd["test"] = dsd.pop("validation")
    if dev_from_train:
        if data_args.validation_split_percentage > 0:
            dsd["train"], dsd["validation"] = split_by_context(dsd["train"], data_args.validation_split_percentage)
        else:
            dsd["validation"] = dsd["train"].select([])
    extra = []
    for f in qa_args.eval_files or []:
        rows = read_squad_file(f, single)
        if rows is None:
            raise UserError(f"eval_files: {f} is not a SQuAD-format JSON file ({{'data': [{{'paragraphs': ...}}]}})")
        extra.append(to_qa_dataset(rows, f))
        sources.append({"name": str(Path(f).resolve()), "split": "test", "kind": "local file"})
    for spec in qa_args.eval_datasets or []:
        hub_id, config = spec.split(":")
        try:
            ev = load_dataset(hub_id, config or None, cache_dir=cache_dir)
        except Exception as err:
            msg = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise UserError(f"could not load eval dataset '{spec}': {msg}") from None
        split = next((s for s in ("test", "validation") if s in ev), next(iter(ev)))
        extra.append(standardise(ev[split], cols, language_from_name(config) or single or "und", spec))
        sources.append({"name": hub_id, "config": config, "split": split, "kind": "hub"})
    if extra:
        dsd["test"] = concatenate_datasets(([dsd["test"]] if "test" in dsd else []) + extra)
    if "test" not in dsd:
        dsd["test"] = dsd["validation"]
    dsd = DatasetDict(dsd)

    where = name or data_args.train_file
    found = check_row_languages(dsd, where=where)
    if data_args.languages:
        missing = [lang for lang in data_args.languages if lang not in found]
        if missing:
            raise UserError(f"languages {missing} not in {where} (it has: {', '.join(found)})")
        dsd = DatasetDict(filter_languages(dsd, data_args.languages))
    spans = {}
    for split in dsd:
        dsd[split], spans[split] = check_answers(dsd[split], f"{where} ({split})")
    if len(dsd["train"]) == 0:
        raise UserError(f"{where}: no training questions")
    for src in sources:
        src["fingerprints"] = {s: d._fingerprint for s, d in dsd.items()}
        src["rows_loaded"] = {s: len(d) for s, d in dsd.items()}
    return dsd, sources, data_args.languages or found, spans
