"""Cleaning: normalisation, length filters, exact and near dedup, language id, decontamination.

Every rule counts what it changed, removed or flagged, per split; the counts go into the run
record so that a reader sees what happened to the data.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections import defaultdict

from ..errors import UserError

_WS = re.compile(r"\s+")
_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)
_SPACES = "\t\n\r\x0b\x0c\x85\u2028\u2029"
_KEEP_FORMAT = "\u200c\u200d"  # zero-width non-joiner / joiner


def normalize_text(text: str, form: str | None = "NFKC", strip_control: bool = True, whitespace: bool = True) -> str:
    if form:
        text = unicodedata.normalize(form, text)
    if strip_control:
        # Cc (controls) and Cf (format: zero-width spaces, BOMs, bidi marks) go, except the joiners
        # that Persian, Hindi and emoji need; tabs and line breaks become spaces.
        text = "".join(
            " " if ch in _SPACES else ch
            for ch in text
            if ch in _SPACES or ch in _KEEP_FORMAT or unicodedata.category(ch) not in ("Cc", "Cf")
        )
    if whitespace:
        text = _WS.sub(" ", text).strip()
    return text


def dedup_key(text: str) -> str:
    """What 'the same text' means for dedup: case-folded, punctuation and spaces removed."""
    return _NON_WORD.sub("", text.casefold())


def _shingles(key: str, n: int = 5) -> set[bytes]:
    if len(key) <= n:
        return {key.encode()}
    return {key[i : i + n].encode() for i in range(len(key) - n + 1)}


class _Langid:
    def __init__(self, languages):
        import py3langid.langid as L

        self.ident = L.LanguageIdentifier.from_modelpath(L.MODEL_DIR / L.MODEL_FILE)
        supported = set(self.ident.nb_classes)
        self.langs = [lang for lang in languages if lang in supported]
        if len(self.langs) >= 2:
            # Restricting the candidates to the data's languages makes short sentences far more reliable.
            self.ident.set_languages(self.langs)

    def __call__(self, text: str) -> str:
        return self.ident.classify(text)[0]


def is_missing(value) -> bool:
    """An empty cell: None, NaN (pandas reads an empty CSV cell in a number column as NaN) or blank text."""
    if value is None:
        return True
    if isinstance(value, float):
        return value != value  # NaN
    return isinstance(value, str) and not value.strip()


@functools.lru_cache(maxsize=4)
def _identifier(languages: tuple) -> _Langid:
    """One language identifier per process and language set (loading the model takes seconds); cached here,
    not in a global dict that `datasets` would hash with the map function."""
    return _Langid(list(languages))


def _column(ds, name: str) -> list:
    """A column as a Python list (indexing a `datasets` column row by row is slow)."""
    return ds.select_columns([name]).to_dict()[name]


def _row_pass(batch, text_columns, label_column, unlabelled, form, strip_control, whitespace, min_chars, max_chars,
              near_dedup, langid_languages):
    """Everything about a row that needs no other row, for `datasets.map` (batched, parallel, cached).

    Adds the normalised text columns (`__text_<column>`) and, per row: whether its label is missing, how many of
    its text cells normalisation changed, whether every text passes the length filter, the dedup key,
    the MinHash signature of the key (for near dedup) and the detected language (for langid).
    """
    n = len(batch[text_columns[0]])
    out = {"__missing": [False] * n, "__modified": [0] * n, "__len_ok": [True] * n}
    if label_column:
        out["__missing"] = [is_missing(v) or (unlabelled is not None and v == unlabelled) for v in batch[label_column]]
    for c in text_columns:
        values = batch[c]
        new_values = []
        for i, v in enumerate(values):
            new = normalize_text(v if isinstance(v, str) else "" if v is None else str(v), form, strip_control, whitespace)
            out["__modified"][i] += new != v
            out["__len_ok"][i] = out["__len_ok"][i] and min_chars <= len(new) <= max_chars
            new_values.append(new)
        out[f"__text_{c}"] = new_values  # a new column: text even where the file's column held numbers
    out["__key"] = ["\u241f".join(dedup_key(out[f"__text_{c}"][i]) for c in text_columns) for i in range(n)]
    if near_dedup:
        from datasketch import MinHash

        # one set of permutations for the whole batch (a fresh MinHash draws its own: most of the time here)
        sketches = MinHash.bulk([list(_shingles(key)) for key in out["__key"]], num_perm=128)
        out["__minhash"] = [m.hashvalues.tolist() for m in sketches]
    if langid_languages:
        ident = _identifier(tuple(langid_languages))
        langs = batch["lang"]
        out["__detected"] = [ident(out[f"__text_{text_columns[0]}"][i]) if langs[i] in ident.langs else ""
                             for i in range(n)]
    return out


def _near_duplicates_of(signatures, threshold: float, num_perm: int = 128) -> list[int]:
    """Indices of rows that are near-duplicates (Jaccard ≥ threshold) of an earlier row, from the MinHash
    signatures `_row_pass` computed.

    LSH bands are tuned against false negatives (weights 0.2/0.8); each candidate is then checked
    with the MinHash Jaccard estimate, which removes the extra false positives.
    """
    import numpy as np
    from datasketch import MinHash, MinHashLSH
    from tqdm.auto import tqdm

    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm, weights=(0.2, 0.8))
    fresh = MinHash(num_perm=num_perm)  # the scheme and dtype `_row_pass` signed with
    kept: dict[str, MinHash] = {}
    dropped = []
    for i, values in enumerate(tqdm(signatures, desc="near dedup", unit="row", disable=len(signatures) < 20000)):
        m = MinHash(hashvalues=np.asarray(values, dtype=fresh.hashvalues.dtype), permutations=fresh.permutations,
                    scheme=fresh.scheme)
        if any(kept[c].jaccard(m) >= threshold for c in lsh.query(m)):
            dropped.append(i)
        else:
            kept[str(i)] = m
            lsh.insert(str(i), m)
    return dropped


def clean_splits(dsd, args, text_columns=("text",), eval_splits=("validation", "test"), label_column: str = "label"):
    """Clean every split of `dsd` in place of the rules in `CleaningArguments`.

    The per-row work (normalisation, lengths, dedup keys, MinHash signatures, language id) is one batched
    `datasets.map` per split, in `args.cleaning_num_workers` processes and cached with the dataset's files;
    the rules that compare rows (exact and near dedup, contamination) then run over its results in order.

    Rows without a label (an empty cell, NaN, None) in `label_column`, when the data has that column, are
    dropped and counted as the rule `missing_label`: a user who leaves some rows unlabelled wants the
    labelled ones trained on and to be told how many were skipped, not a class called "None". Empty or
    missing texts are dropped by the length filter.

    Returns (DatasetDict, report). Raises `UserError` when a split is empty after cleaning.
    """
    report: dict = {"rows_before": {s: len(d) for s, d in dsd.items()}, "rules": defaultdict(dict)}
    keys_by_split: dict[str, list[str]] = {}
    text_columns = tuple(text_columns)
    langid_languages = None
    if args.langid != "off" and all("lang" in d.column_names for d in dsd.values()):
        langid_languages = tuple(sorted({lang for d in dsd.values() for lang in d.unique("lang")}))
        supported = _identifier(langid_languages).langs  # the languages py3langid knows, in the data's order
        langid_languages = langid_languages if supported else None
    for split in list(dsd):
        ds = dsd[split]
        has_label = bool(label_column) and label_column in ds.column_names
        # a ClassLabel column marks an unlabelled row with -1 (the Hub's test splits of GLUE and others)
        unlabelled = -1 if has_label and type(ds.features[label_column]).__name__ == "ClassLabel" else None
        ds = ds.map(_row_pass, batched=True, batch_size=1000, num_proc=getattr(args, "cleaning_num_workers", None),
                    desc=f"cleaning {split}", fn_kwargs=dict(
                        text_columns=text_columns, label_column=label_column if has_label else None,
                        unlabelled=unlabelled, form=args.unicode_normalization, strip_control=args.strip_control_chars,
                        whitespace=args.normalize_whitespace, min_chars=args.min_chars, max_chars=args.max_chars,
                        near_dedup=args.near_dedup,
                        langid_languages=langid_languages if "lang" in ds.column_names else None))
        missing, modified, len_ok, keys = (_column(ds, c) for c in ("__missing", "__modified", "__len_ok", "__key"))
        keep = [not m for m in missing]

        # 0. rows without a label
        if has_label:
            report["rules"]["missing_label"][split] = {"removed": sum(missing)}
        # 1. normalisation
        report["rules"]["normalization"][split] = {"modified": sum(modified)}
        # 2. length
        removed = 0
        for i, ok in enumerate(len_ok):
            if keep[i] and not ok:
                keep[i] = False
                removed += 1
        report["rules"]["length_filter"][split] = {"removed": removed}

        # Duplicates are looked for within each language: the same text under two language labels is
        # a different problem (a mislabelled row or a leak), flagged by the contamination rule below.
        row_langs = _column(ds, "lang") if "lang" in ds.column_names else [""] * len(ds)

        # 3. exact duplicates after normalisation
        if args.dedup:
            seen, removed = set(), 0
            for i, k in enumerate(keys):
                if keep[i]:
                    if (row_langs[i], k) in seen:
                        keep[i] = False
                        removed += 1
                    seen.add((row_langs[i], k))
            report["rules"]["exact_dedup"][split] = {"removed": removed}

        # 4. near duplicates
        if args.near_dedup:
            removed = 0
            # a (rows, 128) integer array: as Python lists the signatures of 260k rows took over 1 GB
            signatures = ds.select_columns(["__minhash"]).with_format("numpy")[:]["__minhash"]
            for lang in sorted(set(row_langs)):
                alive = [i for i in range(len(ds)) if keep[i] and row_langs[i] == lang]
                near = _near_duplicates_of(signatures[alive], args.near_dedup_threshold)
                for j in near:
                    keep[alive[j]] = False
                removed += len(near)
            report["rules"]["near_dedup"][split] = {"removed": removed, "threshold": args.near_dedup_threshold}

        # 5. language id against the lang column
        if args.langid != "off" and "lang" in ds.column_names:
            flagged = []
            if langid_languages:
                detected = _column(ds, "__detected")
                for i in range(len(ds)):
                    if keep[i] and detected[i] and detected[i] != row_langs[i]:
                        flagged.append({"row": i, "lang": row_langs[i], "detected": detected[i]})
                        if args.langid == "drop":
                            keep[i] = False
            key = "removed" if args.langid == "drop" else "flagged"
            report["rules"]["langid"][split] = {key: len(flagged), "examples": flagged[:5]}

        indices = [i for i in range(len(ds)) if keep[i]]
        ds = ds.remove_columns(list(text_columns))
        for c in text_columns:
            ds = ds.rename_column(f"__text_{c}", c)
        ds = ds.remove_columns([c for c in ds.column_names if c.startswith("__")])
        dsd[split] = ds.select(indices)
        keys_by_split[split] = [keys[i] for i in indices]

    # 6. contamination: eval rows that occur in train, across splits and across languages
    cross_languages = None
    if all("lang" in d.column_names for d in dsd.values()):
        langs_by_key = defaultdict(set)
        for split, d in dsd.items():
            for k, lang in zip(keys_by_split[split], d["lang"]):
                langs_by_key[k].add(lang)
        cross = sum(1 for v in langs_by_key.values() if len(v) > 1)
        cross_languages = {"flagged": cross}

    evals = [s for s in eval_splits if s in dsd]
    eval_keys = {k: s for s in evals for k in keys_by_split[s]}
    if "train" in dsd:
        train_hits = [i for i, k in enumerate(keys_by_split["train"]) if k in eval_keys]
        entry = {"train_rows_in_eval": len(train_hits)}
        if args.decontaminate and train_hits:
            hit = set(train_hits)
            dsd["train"] = dsd["train"].select([i for i in range(len(dsd["train"])) if i not in hit])
            keys_by_split["train"] = [k for i, k in enumerate(keys_by_split["train"]) if i not in hit]
            entry["removed_from_train"] = len(train_hits)
        report["rules"]["contamination"]["train"] = entry
    if len(evals) == 2:
        a, b = evals
        shared = set(keys_by_split[a]) & set(keys_by_split[b])
        report["rules"]["contamination"][f"{a}_vs_{b}"] = {"flagged": len(shared)}
    if cross_languages is not None:
        # the same text under two language labels: a mislabelled row or a leak between languages
        report["rules"]["contamination"]["across_languages"] = cross_languages
    report["rows_after"] = {s: len(d) for s, d in dsd.items()}
    report["rules"] = dict(report["rules"])
    for split, n in report["rows_after"].items():
        if n == 0 and report["rows_before"][split] > 0:
            missing = report["rules"].get("missing_label", {}).get(split, {}).get("removed", 0)
            hint = f"{missing} had no label; " if missing else ""
            raise UserError(
                f"the {split} split is empty after cleaning ({report['rows_before'][split]} rows before; {hint}"
                "check min_chars/max_chars, langid, the text column and the label column)"
            )
    return dsd, report
