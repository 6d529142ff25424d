"""Load train/validation/test splits from a Hub id, local files or the bundled sample."""

from __future__ import annotations

from pathlib import Path

from ..errors import UserError
from ..languages import LANGUAGE_NAMES
from .files import load_files

def load_raw(data_args, cache_dir=None, seed: int = 42):
    """Load the splits named by `DataArguments` (no column mapping). Returns (DatasetDict, sources)."""
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


def zero_shot_splits(dsd, train_languages: list[str], selection_languages: list[str], data_args,
                     eval_split: str | None = None):
    """The cross-lingual splits of a run: train on `train_languages`, select checkpoints on the dev rows of
    `selection_languages`, test on every language (the `test` split, else `validation`).

    Returns (train, dev, test, eval split name), each capped by `max_train_samples`/`max_eval_samples`.
    """
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
                dsd[split] = to_qa_dataset(rows)
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
        extra.append(to_qa_dataset(rows))
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
