"""Cleaning: normalisation, length filters, exact and near dedup, language id, decontamination.

Every rule counts what it changed, removed or flagged, per split; the counts go into the run
record so that a reader sees what happened to the data.
"""

from __future__ import annotations

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


def _near_duplicates(keys: list[str], threshold: float, num_perm: int = 128) -> list[int]:
    """Indices of rows that are near-duplicates (Jaccard ≥ threshold) of an earlier row.

    LSH bands are tuned against false negatives (weights 0.2/0.8); each candidate is then checked
    with the MinHash Jaccard estimate, which removes the extra false positives.
    """
    from datasketch import MinHash, MinHashLSH

    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm, weights=(0.2, 0.8))
    kept: dict[str, MinHash] = {}
    dropped = []
    for i, key in enumerate(keys):
        m = MinHash(num_perm=num_perm)
        m.update_batch(list(_shingles(key)))
        if any(kept[c].jaccard(m) >= threshold for c in lsh.query(m)):
            dropped.append(i)
        else:
            kept[str(i)] = m
            lsh.insert(str(i), m)
    return dropped


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


def clean_splits(dsd, args, text_columns=("text",), eval_splits=("validation", "test"), label_column: str = "label"):
    """Clean every split of `dsd` in place of the rules in `CleaningArguments`.

    Rows without a label (an empty cell, NaN, None) in `label_column`, when the data has that column, are
    dropped and counted as the rule `missing_label`: a user who leaves some rows unlabelled wants the
    labelled ones trained on and to be told how many were skipped, not a class called "None". Empty or
    missing texts are dropped by the length filter.

    Returns (DatasetDict, report). Raises `UserError` when a split is empty after cleaning.
    """
    report: dict = {"rows_before": {s: len(d) for s, d in dsd.items()}, "rules": defaultdict(dict)}
    langid = None
    keys_by_split: dict[str, list[str]] = {}
    for split in list(dsd):
        ds = dsd[split]
        columns = {c: list(ds[c]) for c in text_columns}
        keep = [True] * len(ds)

        # 0. rows without a label
        if label_column and label_column in ds.column_names:
            removed = 0
            # a ClassLabel column marks an unlabelled row with -1 (the Hub's test splits of GLUE and others)
            unlabelled = -1 if type(ds.features[label_column]).__name__ == "ClassLabel" else None
            for i, v in enumerate(ds[label_column]):
                if is_missing(v) or (unlabelled is not None and v == unlabelled):
                    keep[i] = False
                    removed += 1
            report["rules"]["missing_label"][split] = {"removed": removed}

        # 1. normalisation
        modified = 0
        for c, values in columns.items():
            for i, v in enumerate(values):
                text = v if isinstance(v, str) else "" if v is None else str(v)
                new = normalize_text(text, args.unicode_normalization, args.strip_control_chars,
                                     args.normalize_whitespace)
                if new != v:
                    values[i] = new
                    modified += 1
        report["rules"]["normalization"][split] = {"modified": modified}

        # 2. length
        removed = 0
        for i in range(len(ds)):
            if keep[i] and any(not args.min_chars <= len(columns[c][i]) <= args.max_chars for c in text_columns):
                keep[i] = False
                removed += 1
        report["rules"]["length_filter"][split] = {"removed": removed}

        keys = ["\u241f".join(dedup_key(columns[c][i]) for c in text_columns) for i in range(len(ds))]

        # Duplicates are looked for within each language: the same text under two language labels is
        # a different problem (a mislabelled row or a leak), flagged by the contamination rule below.
        row_langs = ds["lang"] if "lang" in ds.column_names else [""] * len(ds)

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
            for lang in sorted(set(row_langs)):
                alive = [i for i in range(len(ds)) if keep[i] and row_langs[i] == lang]
                near = _near_duplicates([keys[i] for i in alive], args.near_dedup_threshold)
                for j in near:
                    keep[alive[j]] = False
                removed += len(near)
            report["rules"]["near_dedup"][split] = {"removed": removed, "threshold": args.near_dedup_threshold}

        # 5. language id against the lang column
        if args.langid != "off" and "lang" in ds.column_names:
            langs = ds["lang"]
            if langid is None:
                all_langs = sorted({lang for d in dsd.values() for lang in d.unique("lang")})
                langid = _Langid(all_langs)
            flagged = []
            for i in range(len(ds)):
                if keep[i] and langs[i] in langid.langs:
                    detected = langid(columns[text_columns[0]][i])
                    if detected != langs[i]:
                        flagged.append({"row": i, "lang": langs[i], "detected": detected})
                        if args.langid == "drop":
                            keep[i] = False
            key = "removed" if args.langid == "drop" else "flagged"
            report["rules"]["langid"][split] = {key: len(flagged), "examples": flagged[:5]}

        ds = ds.remove_columns(list(text_columns))
        for c in text_columns:
            ds = ds.add_column(c, columns[c])
        indices = [i for i in range(len(ds)) if keep[i]]
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
