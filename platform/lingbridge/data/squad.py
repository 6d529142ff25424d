"""SQuAD-shaped extractive-QA data: nested SQuAD v1.1/v2.0 JSON files, flat files and Hub datasets.

The canonical shape is the Hub's `rajpurkar/squad`, flattened: one row per question with `id`,
`title`, `context`, `question`, `answers: {"text": [...], "answer_start": [...]}` (empty for
SQuAD v2.0's unanswerable questions) and lingbridge's `lang`. Nested files (XQuAD, MLQA, TyDi QA
GoldP, the bundled sample) are flattened on load; answer spans are checked against their context.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from ..errors import UserError
from ..languages import LANGUAGE_NAMES

QA_COLUMNS = ("id", "title", "context", "question", "answers", "lang")


def qa_features():
    """The `datasets.Features` of a flattened QA split."""
    from datasets import Features, Sequence, Value

    return Features({"id": Value("string"), "title": Value("string"), "context": Value("string"),
                     "question": Value("string"),
                     "answers": {"text": Sequence(Value("string")), "answer_start": Sequence(Value("int64"))},
                     "lang": Value("string")})


_NAME_TO_CODE = {name.lower(): code for code, name in LANGUAGE_NAMES.items()}


def language_from_name(name: str | None) -> str | None:
    """The language a file or dataset config names: `xquad.de.json` → de, `dev-context-zh-question-zh` → zh.

    The first dot/dash/underscore-separated part that is an ISO 639-1 code (for MLQA files, the
    context language) or an English language name (TyDi QA ids: `finnish-...`).
    """
    if not name:
        return None
    for part in re.split(r"[^A-Za-z]+", Path(name).name.removesuffix(".json")):
        low = part.lower()
        if low in LANGUAGE_NAMES and low not in ("json", "test", "dev"):
            return low
        if low in _NAME_TO_CODE:
            return _NAME_TO_CODE[low]
    return None


def squad_rows(doc: dict, lang: str, where: str) -> list[dict]:
    """Flatten a nested SQuAD v1.1/v2.0 document (`{"data": [{"paragraphs": [{"context", "qas"}]}]}`)."""
    rows = []
    for article in doc["data"]:
        for p, para in enumerate(article.get("paragraphs", [])):
            context = para["context"]
            for qa in para["qas"]:
                answers = [] if qa.get("is_impossible") else qa.get("answers", [])
                rows.append({"id": str(qa.get("id", f"{article.get('title', '')}-{p}-{len(rows)}")),
                             "title": article.get("title", ""), "context": context, "question": qa["question"],
                             "answers": {"text": [a["text"] for a in answers],
                                         "answer_start": [int(a["answer_start"]) for a in answers]},
                             "lang": qa.get("lang") or para.get("lang") or lang})
    if not rows:
        raise UserError(f"{where}: no questions found in the SQuAD-format file")
    return rows


def read_squad_file(path: str | Path, lang: str | None = None) -> list[dict] | None:
    """Rows of a SQuAD-format JSON file, or None when the file is not nested SQuAD (a flat table).

    The language is, in order: a `language` key at the top of the file, a language code or name in
    the file name, `lang`, else 'und'.
    """
    from .files import check_utf8

    path = Path(path)
    if path.suffix.lower() != ".json":
        return None
    check_utf8(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        return None  # JSON lines: a flat table for `datasets`
    except RecursionError:
        raise UserError(f"{path}: JSON nested too deeply to read") from None
    if not (isinstance(doc, dict) and isinstance(doc.get("data"), list) and doc["data"]
            and isinstance(doc["data"][0], dict) and "paragraphs" in doc["data"][0]):
        return None
    lang = doc.get("language") or language_from_name(path.name) or lang or "und"
    if not isinstance(lang, str):
        raise UserError(f"{path}: 'language' must be a language code, got {lang!r}")
    try:
        return squad_rows(doc, lang, str(path))
    except (KeyError, TypeError, AttributeError, ValueError) as err:
        if isinstance(err, UserError):
            raise
        what = f"a question or paragraph has no {err}" if isinstance(err, KeyError) else f"{type(err).__name__}: {err}"
        raise UserError(f"{path}: not a valid SQuAD file ({what}); expected "
                        "{'data': [{'paragraphs': [{'context': ..., 'qas': [{'question', 'answers'}]}]}]}") from None


def to_qa_dataset(rows: list[dict], where: str = "SQuAD file"):
    from datasets import Dataset

    try:
        return Dataset.from_list(rows, features=qa_features())
    except (TypeError, ValueError) as err:  # arrow's casts: a number or list where text belongs
        raise UserError(f"{where}: a field holds the wrong kind of value ({type(err).__name__}: "
                        f"{str(err).splitlines()[0][:200] if str(err) else ''}); contexts, questions and answer "
                        "texts are strings, answer_start an integer") from None


def standardise(ds, columns: dict[str, str], lang: str, where: str):
    """Rename the user's columns to `question`/`context`/`answers`/`id`, check `answers`, add `lang`."""
    cols = ds.column_names
    renames = {}
    for canon, col in columns.items():
        if col not in cols:
            if canon == "id":
                ds = ds.add_column("id", [str(i) for i in range(len(ds))])
                continue
            raise UserError(f"{where}: no column '{col}' for the {canon}; columns are: {', '.join(cols)}. "
                            f"Set --{canon}_column")
        if col != canon:
            renames[col] = canon
    ds = ds.rename_columns(renames) if renames else ds
    answers = ds.features["answers"]
    if not (isinstance(answers, dict) and {"text", "answer_start"} <= set(answers)):
        raise UserError(f"{where}: column 'answers' must hold {{'text': [...], 'answer_start': [...]}} as SQuAD does, "
                        f"got {answers}")
    if "title" not in ds.column_names:
        ds = ds.add_column("title", [""] * len(ds))
    if "lang" not in ds.column_names:
        # TyDi QA GoldP names the language in each id ("finnish-123...")
        ids = ds["id"][:1]
        lang = lang if lang != "und" else (language_from_name(ids[0].split("-")[0]) if ids else None) or lang
        ds = ds.add_column("lang", [lang] * len(ds))
    return ds.select_columns(list(QA_COLUMNS)).cast(qa_features())


def check_answers(ds, where: str):
    """Every answer must be the span of the context it points to.

    A span off by a few characters (seen in translated sets) is moved to the nearest occurrence of
    its text; an answer whose text is not in the context is dropped, and a question left with no
    answer is dropped too (it would otherwise read as unanswerable). Returns (dataset, counts).
    """
    counts = {"moved": 0, "answers_dropped": 0, "questions_dropped": 0}
    if len(ds) == 0:
        return ds, counts
    keep = []
    fixed = []
    for context, ans in zip(ds["context"], ds["answers"]):
        texts, starts = [], []
        for text, start in zip(ans["text"], ans["answer_start"]):
            if context[start:start + len(text)] != text:
                hits = [m.start() for m in re.finditer(re.escape(text), context)] if text else []
                if not hits:
                    counts["answers_dropped"] += 1
                    continue
                start = min(hits, key=lambda h: abs(h - start))
                counts["moved"] += 1
            texts.append(text)
            starts.append(start)
        keep.append(bool(texts) or not ans["text"])
        fixed.append({"text": texts, "answer_start": starts})
    if counts["moved"] or counts["answers_dropped"]:
        ds = ds.remove_columns("answers").add_column("answers", fixed, feature=qa_features()["answers"])
        ds = ds.select_columns(list(QA_COLUMNS))
        if not all(keep):
            counts["questions_dropped"] = keep.count(False)
            ds = ds.select([i for i, k in enumerate(keep) if k])
    return ds, counts


def split_by_context(ds, percentage: int):
    """Hold out `percentage`% of the contexts (not rows: a context's questions stay together)."""
    import hashlib

    held = [int(hashlib.md5(c.encode()).hexdigest(), 16) % 100 < percentage for c in ds["context"]]
    return (ds.select([i for i, h in enumerate(held) if not h]), ds.select([i for i, h in enumerate(held) if h]))
