"""The suite's data: PAWS-X, XQuAD, Tatoeba and FLORES-200, from local copies or the Hub, and their splits.

Local copies (`--data_dir`, laid out as the public releases are):

    pawsx/dev-<lang>.tsv              no header: sentence1, sentence2, label (0/1); rows aligned across languages
    xquad/xquad.<lang>.json           SQuAD v1.1 JSON, the same 48 articles and question ids in every language
    tatoeba-laser/tatoeba.<l3>-eng.{<l3>,eng}   LASER's Tatoeba test pairs, line-aligned
    flores200/<code>.devtest          FLORES-200 devtest, one sentence a line, line-aligned (eng_Latn, deu_Latn, ...)

Without local copies, PAWS-X and XQuAD come from the Hub as XTREME uses them
(`google-research-datasets/paws-x`, `rajpurkar/squad` for QA training, `google/xquad` for the test);
Tatoeba and FLORES-200 need the files (their Hub copies are not in the format XTREME scores).

Splits when only evaluation data exists locally (the offline case), stated in every run's output:
- PAWS-X: the local sets are the 2,000-pair dev sets, translations of the same English pairs. Pairs are
  shuffled once (seeded); the first `max_eval_samples` pair indices are the test set in every language,
  English pairs from the remaining indices train (and a slice of them selects the checkpoint), so no
  test pair, in any language, is a translation of a training pair.
- XQuAD: articles are shuffled once (seeded); half of the 48 are test articles in every language,
  English questions of the other half train: no article is in both.
"""

from __future__ import annotations

import csv
import json
import random
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import UserError

PAWSX_LANGUAGES = ("en", "de", "es", "fr", "ja", "ko", "zh")
XQUAD_LANGUAGES = ("en", "ar", "de", "el", "es", "hi", "ro", "ru", "th", "tr", "vi", "zh")  # the Hub's 12
FLORES_CODES = {"en": "eng_Latn", "de": "deu_Latn", "fr": "fra_Latn", "es": "spa_Latn", "ru": "rus_Cyrl",
                "zh": "zho_Hans", "ja": "jpn_Jpan", "ar": "arb_Arab", "vi": "vie_Latn", "ko": "kor_Hang",
                "it": "ita_Latn", "pt": "por_Latn", "tr": "tur_Latn", "nl": "nld_Latn", "pl": "pol_Latn",
                "hi": "hin_Deva", "id": "ind_Latn", "th": "tha_Thai", "uk": "ukr_Cyrl", "cs": "ces_Latn"}


@dataclass
class SplitData:
    """One task's rows, ready to be written as the files a recipe reads.

    `train`/`dev` are English (the source language); `test` holds every language; `pool` holds the
    labelled rows of every language that are NOT in the test set (what a few-shot finetune in a
    target market may learn from, `lingbridge readiness`); `notes` say how the split was made.
    """

    train: list[dict]
    dev: list[dict]
    test: list[dict]
    pool: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    source: str = ""


def _clean(text: str) -> str:
    # control characters (U+001C, U+0008 in dev-ko.tsv) break line-based readers and mean nothing
    return "".join(ch for ch in text if ch == "\t" or unicodedata.category(ch) != "Cc").strip()


def read_pawsx_file(path: Path) -> tuple[list[dict], list[str]]:
    """Rows `{text, text_pair, label}` of one PAWS-X tsv; malformed rows are skipped and named in the notes.

    Lines end at CR LF or LF only (not at the other characters `str.splitlines` treats as line
    breaks: dev-ko.tsv holds a U+001C inside a sentence, which would split its row in two).
    """
    raw = path.read_bytes().decode("utf-8")
    rows, notes = [], []
    fixed = 0
    for lineno, line in enumerate(raw.replace("\r\n", "\n").split("\n"), 1):
        if not line.strip():
            continue
        parts = next(csv.reader([line], delimiter="\t", quoting=csv.QUOTE_NONE))
        if len(parts) != 3 or parts[2].strip() not in ("0", "1"):
            notes.append(f"{path.name}:{lineno}: skipped (expected sentence1<TAB>sentence2<TAB>0|1)")
            rows.append(None)  # keep the row index: rows are aligned across languages
            continue
        a, b = _clean(parts[0]), _clean(parts[1])
        fixed += (a != parts[0].strip()) + (b != parts[1].strip())
        rows.append({"text": a, "text_pair": b, "label": parts[2].strip()})
    if fixed:
        notes.append(f"{path.name}: control characters removed from {fixed} sentence(s)")
    return rows, notes


def pawsx_splits(data_dir: Path | None, languages: list[str], max_train: int | None, max_test: int | None,
                 dev_size: int, seed: int, cache_dir: str | None = None) -> SplitData:
    """PAWS-X for zero-shot transfer from English: see the module docstring for the split."""
    if data_dir is None:
        return _pawsx_hub(languages, max_train, max_test, dev_size, seed, cache_dir)
    folder = Path(data_dir) / "pawsx"
    languages = languages or sorted(p.stem.split("-", 1)[1] for p in folder.glob("dev-*.tsv"))
    per_lang, notes, missing = {}, [], []
    for lang in dict.fromkeys(["en", *languages]):
        path = folder / f"dev-{lang}.tsv"
        if not path.is_file():
            if lang == "en":
                raise UserError(f"PAWS-X: {path} not found; the suite trains on English (dev-en.tsv)")
            missing.append(lang)
            continue
        per_lang[lang], file_notes = read_pawsx_file(path)
        notes += file_notes
    if missing:
        notes.append(f"PAWS-X has no data for {', '.join(missing)} (skipped)")
    n = min(len(rows) for rows in per_lang.values())
    order = list(range(n))
    random.Random(seed).shuffle(order)
    n_test = min(max_test or n // 2, n // 2)
    test_idx, rest = order[:n_test], order[n_test:]
    dev_idx = rest[:dev_size]
    train_idx = rest[dev_size:dev_size + max_train] if max_train else rest[dev_size:]
    en = per_lang["en"]

    def rows(lang, idx, split):
        return [{**per_lang[lang][i], "lang": lang, "id": f"pawsx-{i}", "split": split}
                for i in idx if per_lang[lang][i] is not None]

    test = [r for lang in per_lang if lang in languages for r in rows(lang, test_idx, "test")]
    pool = [r for lang in per_lang for r in rows(lang, rest, "pool")]
    notes.insert(0, f"PAWS-X offline split (seed {seed}): the {n} aligned dev pairs of each language shuffled once; "
                    f"{len(test_idx)} pair indices are the test set in every language, {len(train_idx)} English pairs "
                    f"from the other indices train and {len(dev_idx)} select the checkpoint: no test pair is a "
                    "translation of a training pair. The published figures use the official test split instead.")
    return SplitData(train=rows("en", train_idx, "train"), dev=rows("en", dev_idx, "dev"), test=test, pool=pool,
                     notes=notes, source=str(folder))


def _hub(name: str, config: str | None, split: str, cache_dir=None):
    from datasets import load_dataset

    try:
        return load_dataset(name, config, split=split, cache_dir=cache_dir)
    except Exception as err:  # offline, unknown config, ...: one line for the user
        msg = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UserError(f"could not load {name} ({config}, {split}) from the Hub: {msg}; give --data_dir with local "
                        "copies to run offline") from None


def _pawsx_hub(languages, max_train, max_test, dev_size, seed, cache_dir) -> SplitData:
    languages = languages or list(PAWSX_LANGUAGES)
    def take(ds, n):
        return ds.shuffle(seed=seed).select(range(min(n, len(ds)))) if n else ds

    def rows(ds, lang, split):
        return [{"text": r["sentence1"], "text_pair": r["sentence2"], "label": str(r["label"]), "lang": lang,
                 "id": f"pawsx-{r['id']}", "split": split} for r in ds]

    name = "google-research-datasets/paws-x"
    train = rows(take(_hub(name, "en", "train", cache_dir), max_train), "en", "train")
    dev = rows(take(_hub(name, "en", "validation", cache_dir), dev_size), "en", "dev")
    test = [r for lang in languages if lang in PAWSX_LANGUAGES
            for r in rows(take(_hub(name, lang, "test", cache_dir), max_test), lang, "test")]
    pool = [r for lang in languages if lang in PAWSX_LANGUAGES and lang != "en"
            for r in rows(_hub(name, lang, "validation", cache_dir), lang, "pool")]
    return SplitData(train=train, dev=dev, test=test, pool=pool, source=name, notes=[
        f"PAWS-X from the Hub ({name}): English train ({len(train)} pairs), English validation for the checkpoint, "
        "the official test split of every language (XTREME's protocol); validation pairs of the other languages "
        "are the few-shot pool."])


# ---- XQuAD -----------------------------------------------------------------------------------------------------


def _squad_rows(doc: dict, lang: str) -> list[dict]:
    rows = []
    for article in doc["data"]:
        for para in article["paragraphs"]:
            for qa in para["qas"]:
                rows.append({"id": str(qa["id"]), "title": article.get("title", ""), "context": para["context"],
                             "question": qa["question"], "lang": lang,
                             "answers": {"text": [a["text"] for a in qa["answers"]],
                                         "answer_start": [int(a["answer_start"]) for a in qa["answers"]]}})
    return rows


def xquad_splits(data_dir: Path | None, languages: list[str], max_train: int | None, max_test: int | None,
                 test_share: float, seed: int, cache_dir: str | None = None) -> SplitData:
    """XQuAD: English questions of some articles train, the OTHER articles test in every language."""
    if data_dir is None:
        return _xquad_hub(languages, max_train, max_test, seed, cache_dir)
    folder = Path(data_dir) / "xquad"
    languages = languages or sorted(p.name.split(".")[1] for p in folder.glob("xquad.*.json"))
    per_lang, notes, missing = {}, [], []
    for lang in dict.fromkeys(["en", *languages]):
        path = folder / f"xquad.{lang}.json"
        if not path.is_file():
            if lang == "en":
                raise UserError(f"XQuAD: {path} not found; the suite trains on English articles (xquad.en.json)")
            missing.append(lang)
            continue
        try:
            per_lang[lang] = _squad_rows(json.loads(path.read_text(encoding="utf-8")), lang)
        except (json.JSONDecodeError, KeyError, TypeError) as err:
            raise UserError(f"{path}: not SQuAD v1.1 JSON ({type(err).__name__}: {err})") from None
    if missing:
        notes.append(f"XQuAD has no data for {', '.join(missing)} (skipped)")
    titles = sorted({r["title"] for r in per_lang["en"]})
    random.Random(seed).shuffle(titles)
    n_test = max(1, min(len(titles) - 1, round(len(titles) * test_share)))
    test_titles, train_titles = set(titles[:n_test]), titles[n_test:]
    dev_titles = set(train_titles[:max(1, len(train_titles) // 8)])  # checkpoint selection, English
    rng = random.Random(seed)
    en_test_ids = [r["id"] for r in per_lang["en"] if r["title"] in test_titles]
    if max_test and max_test < len(en_test_ids):
        # the same questions in every language (XQuAD is parallel), so languages stay comparable
        en_test_ids = sorted(rng.sample(en_test_ids, max_test))
    keep = set(en_test_ids)
    test = [{**r, "split": "test"} for lang in per_lang if lang in languages for r in per_lang[lang] if r["id"] in keep]
    train = [{**r, "split": "train"} for r in per_lang["en"]
             if r["title"] not in test_titles and r["title"] not in dev_titles]
    if max_train and max_train < len(train):
        train = rng.sample(train, max_train)
    dev = [{**r, "split": "dev"} for r in per_lang["en"] if r["title"] in dev_titles]
    pool = [{**r, "split": "pool"} for lang in per_lang for r in per_lang[lang] if r["title"] not in test_titles]
    notes.insert(0, f"XQuAD offline split (seed {seed}): {len(test_titles)} of the {len(titles)} articles are the test "
                    f"set in every language ({len(keep)} questions each); English questions of {len(train_titles) - len(dev_titles)} "
                    f"other articles train ({len(train)} questions) and {len(dev_titles)} article(s) select the "
                    "checkpoint. No article is in both training and test. The published figures train on SQuAD v1.1 "
                    "and test on all 48 articles.")
    return SplitData(train=train, dev=dev, test=test, pool=pool, notes=notes, source=str(folder))


def _xquad_hub(languages, max_train, max_test, seed, cache_dir) -> SplitData:
    def rows(ds, lang, split, n=None):
        ds = ds.shuffle(seed=seed).select(range(min(n, len(ds)))) if n else ds
        return [{"id": r["id"], "title": r.get("title", ""), "context": r["context"], "question": r["question"],
                 "answers": {"text": list(r["answers"]["text"]), "answer_start": list(r["answers"]["answer_start"])},
                 "lang": lang, "split": split} for r in ds]

    train = rows(_hub("rajpurkar/squad", None, "train", cache_dir), "en", "train", max_train)
    dev = rows(_hub("rajpurkar/squad", None, "validation", cache_dir), "en", "dev", 500)
    test = []
    for lang in languages or XQUAD_LANGUAGES:
        if lang in XQUAD_LANGUAGES:
            test += rows(_hub("google/xquad", f"xquad.{lang}", "validation", cache_dir), lang, "test", max_test)
    return SplitData(train=train, dev=dev, test=test, source="rajpurkar/squad + google/xquad", notes=[
        "XQuAD from the Hub: trained on SQuAD v1.1 (rajpurkar/squad), tested on google/xquad (XTREME's protocol; "
        "XQuAD's articles come from the SQuAD v1.1 dev set, so none is in training). No few-shot pool."])


# ---- Tatoeba and FLORES-200 ---------------------------------------------------------------------------------


def flores_sentences(data_dir: Path | None, languages: list[str], max_sentences: int | None) -> dict[str, list[str]]:
    """`{lang: devtest sentences}` (line-aligned across languages) from FLORES-200 files."""
    if data_dir is None:
        raise UserError("FLORES-200 needs --data_dir with flores200/<code>.devtest files (eng_Latn.devtest, ...)")
    folder = Path(data_dir) / "flores200"
    out = {}
    for lang in languages:
        path = folder / f"{FLORES_CODES.get(lang, lang)}.devtest"
        if not path.is_file():
            raise UserError(f"FLORES-200: no {path} for '{lang}'")
        lines = path.read_text(encoding="utf-8").rstrip("\n").split("\n")
        out[lang] = lines[:max_sentences] if max_sentences else lines
    if len({len(v) for v in out.values()}) > 1:
        raise UserError(f"FLORES-200 files in {folder} are not line-aligned ({ {k: len(v) for k, v in out.items()} })")
    return out


def write_jsonl(rows: list[dict], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    return path


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|(?<=[。！？])")


def split_sentences(text: str) -> list[tuple[int, int]]:
    """(start, end) character spans of a paragraph's sentences: after . ! ? and a space, or after 。！？."""
    spans, start = [], 0
    for m in _SENTENCE_END.finditer(text):
        if m.start() > start:
            spans.append((start, m.start()))
        start = m.end()
    if start < len(text):
        spans.append((start, len(text)))
    return [(a, b) for a, b in spans if text[a:b].strip()]


def answer_sentence_pairs(rows: list[dict], seed: int) -> list[dict]:
    """QNLI from extractive QA, as GLUE built QNLI from SQuAD: (question, a sentence of its paragraph), label 1 if
    the sentence holds the answer. Each question gives its answer sentence and one other sentence of the same
    paragraph (seeded by the question id, so the choice is the same at every call), so the classes are balanced
    and chance is 50%. A question whose paragraph is one sentence, or whose answer crosses a sentence boundary,
    gives nothing."""
    pairs = []
    for r in rows:
        context, start = r["context"], r["answers"]["answer_start"][0]
        end = start + len(r["answers"]["text"][0])
        spans = split_sentences(context)
        holds = [i for i, (a, b) in enumerate(spans) if a <= start and end <= b]
        if len(spans) < 2 or not holds:
            continue
        others = [i for i in range(len(spans)) if i != holds[0]]
        other = random.Random(f"{seed}:{r['id']}").choice(others)
        for i, label in ((holds[0], 1), (other, 0)):
            a, b = spans[i]
            pairs.append({"id": r["id"], "text": r["question"], "text_pair": context[a:b].strip(), "label": str(label),
                          "lang": r["lang"]})
    return pairs
