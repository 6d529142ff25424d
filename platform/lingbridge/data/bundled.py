"""The bundled sample data (the embedded default), written for this project.

`sample_data/parallel/*.jsonl` holds sentences with translations in every sample language
(`{"id", "en", "de", ...}`); `sample_data/sentiment/*.jsonl` holds reviews labelled negative,
neutral or positive with the same translations; `sample_data/qa/{en,de,zh}.json` holds parallel
extractive-QA paragraphs in SQuAD v2.0 format (split by paragraph title). Splits are made by item id, so every
translation of an item lands in the same split: no test item leaks into training through
another language.
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from importlib import resources

from ..errors import UserError

SAMPLES = ("sentiment", "corpus", "parallel", "qa")
SENTIMENT_LABELS = ["negative", "neutral", "positive"]
_SPLITS = (("train", 70), ("validation", 85), ("test", 100))  # cumulative percentages


def _split_of(item_id: str) -> str:
    bucket = int(hashlib.md5(item_id.encode()).hexdigest(), 16) % 100
    return next(name for name, upper in _SPLITS if bucket < upper)


@lru_cache(maxsize=None)
def _items(kind: str) -> tuple[dict, ...]:
    folder = resources.files("lingbridge") / "sample_data" / kind
    items = []
    for entry in sorted(folder.iterdir(), key=lambda p: p.name):
        if entry.name.endswith(".jsonl"):
            items.extend(json.loads(line) for line in entry.read_text(encoding="utf-8").splitlines() if line.strip())
    return tuple(items)


def sample_languages() -> list[str]:
    """Languages of the bundled sample, English first."""
    keys = [k for k in _items("parallel")[0] if k not in ("id", "label")]
    return ["en"] + [k for k in keys if k != "en"]


def _rows(name: str) -> dict[str, list[dict]]:
    langs = sample_languages()
    splits: dict[str, list[dict]] = {"train": [], "validation": [], "test": []}
    if name == "sentiment":
        for item in _items("sentiment"):
            for lang in langs:
                splits[_split_of(item["id"])].append(
                    {"id": f"{item['id']}-{lang}", "text": item[lang], "label": item["label"], "lang": lang}
                )
    elif name == "corpus":
        for item in _items("parallel"):
            for lang in langs:
                splits[_split_of(item["id"])].append({"id": f"{item['id']}-{lang}", "text": item[lang], "lang": lang})
    elif name == "parallel":
        for item in _items("parallel"):
            for lang in langs[1:]:
                splits[_split_of(item["id"])].append(
                    {"id": f"{item['id']}-en-{lang}", "translation": {"en": item["en"], lang: item[lang]},
                     "src_lang": "en", "tgt_lang": lang, "src": item["en"], "tgt": item[lang]}
                )
    elif name == "qa":
        from .squad import squad_rows

        for entry in sorted((resources.files("lingbridge") / "sample_data" / "qa").iterdir(), key=lambda p: p.name):
            if entry.name.endswith(".json"):
                doc = json.loads(entry.read_text(encoding="utf-8"))
                for row in squad_rows(doc, doc["language"], f"sample:qa/{entry.name}"):
                    splits[_split_of(row["title"])].append(row)
    else:
        raise UserError(f"unknown bundled sample 'sample:{name}'; choose one of: " + ", ".join(f"sample:{s}" for s in SAMPLES))
    return splits


def load_sample(name: str):
    """Load a bundled sample as a `DatasetDict` with train/validation/test splits.

    Args:
        name: `sentiment` (text, label, lang), `corpus` (text, lang), `parallel`
            (src_lang, tgt_lang, src, tgt, and a Hub-style `translation` dict) or `qa` (SQuAD
            v2.0 rows: id, title, context, question, answers, lang).
    """
    from datasets import ClassLabel, Dataset, DatasetDict

    name = name.removeprefix("sample:")
    splits = _rows(name)
    out = {}
    for split, rows in splits.items():
        if name == "parallel":
            # Hub translation datasets hold one dict per row; ours vary in language pair, so the
            # flat columns are the canonical form here.
            rows = [{k: v for k, v in r.items() if k != "translation"} for r in rows]
        if name == "qa":
            from .squad import qa_features

            out[split] = Dataset.from_list(rows, features=qa_features())
            continue
        ds = Dataset.from_list(rows)
        if name == "sentiment":
            ds = ds.cast_column("label", ClassLabel(names=SENTIMENT_LABELS))
        out[split] = ds
    return DatasetDict(out)
