"""Extractive question answering: SQuAD-shaped data, features with a stride, span post-processing, EM/F1.

The data shape is SQuAD's, flattened as the Hub's `rajpurkar/squad` is: one row per question with
`id`, `title`, `context`, `question`, `answers: {"text": [...], "answer_start": [...]}` (empty for
SQuAD v2.0's unanswerable questions) and lingbridge's `lang`. Nested SQuAD v1.1/v2.0 JSON files
(XQuAD, MLQA, TyDi QA GoldP, the bundled sample) are flattened on load.

Features follow `run_qa.py`: a context longer than `max_seq_length` becomes several windows that
overlap by `doc_stride` tokens (fast tokenizer, `return_overflowing_tokens`), with the offset
mapping to go back to characters. Post-processing picks, for each question, the best valid span
over all its windows from the `n_best_size` best start and end logits (vectorised over every
window at once), and for v2.0 predicts "no answer" when the null score beats the best span by more
than `null_score_diff_threshold`.
"""

from __future__ import annotations

import json
import re
import string
import unicodedata
from collections import Counter
from pathlib import Path

import numpy as np

from ..errors import UserError
from ..languages import LANGUAGE_NAMES, NO_SPACE_LANGUAGES

QA_COLUMNS = ("id", "title", "context", "question", "answers", "lang")


def qa_features():
    """The `datasets.Features` of a flattened QA split."""
    from datasets import Features, Sequence, Value

    return Features({"id": Value("string"), "title": Value("string"), "context": Value("string"),
                     "question": Value("string"),
                     "answers": {"text": Sequence(Value("string")), "answer_start": Sequence(Value("int64"))},
                     "lang": Value("string")})


# ---- loading ------------------------------------------------------------------------------------------

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
    from ..data.load import check_utf8

    path = Path(path)
    if path.suffix.lower() != ".json":
        return None
    check_utf8(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        return None  # JSON lines: a flat table for `datasets`
    if not (isinstance(doc, dict) and isinstance(doc.get("data"), list) and doc["data"]
            and isinstance(doc["data"][0], dict) and "paragraphs" in doc["data"][0]):
        return None
    lang = doc.get("language") or language_from_name(path.name) or lang or "und"
    return squad_rows(doc, lang, str(path))


def to_qa_dataset(rows: list[dict]):
    from datasets import Dataset

    return Dataset.from_list(rows, features=qa_features())


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


def _split_by_context(ds, percentage: int):
    """Hold out `percentage`% of the contexts (not rows: a context's questions stay together)."""
    import hashlib

    held = [int(hashlib.md5(c.encode()).hexdigest(), 16) % 100 < percentage for c in ds["context"]]
    return (ds.select([i for i, h in enumerate(held) if not h]), ds.select([i for i, h in enumerate(held) if h]))


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

    from ..data.load import _load_files, check_row_languages, filter_languages, load_raw

    cols = {"question": qa_args.question_column, "context": qa_args.context_column,
            "answers": qa_args.answer_column, "id": qa_args.id_column}
    single = data_args.languages[0] if data_args.languages and len(data_args.languages) == 1 else None
    name = data_args.dataset_name or (None if data_args.train_file else "sample:qa")
    if name and name.startswith("sample:"):
        from ..data.sample import load_sample

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
                dsd[split] = standardise(_load_files({split: f}, cache_dir)[split], cols, lang, f)
            sources.append({"name": str(Path(f).resolve()), "split": split, "kind": "local file"})

    dev_from_train = "test" not in dsd or "validation" not in dsd
    if "test" not in dsd and "validation" in dsd:
        dsd["test"] = dsd.pop("validation")
    if dev_from_train:
        if data_args.validation_split_percentage > 0:
            dsd["train"], dsd["validation"] = _split_by_context(dsd["train"], data_args.validation_split_percentage)
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


# ---- features ------------------------------------------------------------------------------------------


def _tokenize(batch, tokenizer, max_seq_length: int, doc_stride: int, pad_to_max_length: bool):
    pad_right = tokenizer.padding_side == "right"
    questions = [q.lstrip() for q in batch["question"]]  # leading spaces waste the window (run_qa.py)
    try:
        return tokenizer(questions if pad_right else batch["context"], batch["context"] if pad_right else questions,
                         truncation="only_second" if pad_right else "only_first", max_length=max_seq_length,
                         stride=doc_stride, return_overflowing_tokens=True, return_offsets_mapping=True,
                         padding="max_length" if pad_to_max_length else False)
    except Exception as err:  # the tokenizer refuses a question that leaves no room for the context
        raise UserError(f"cannot split contexts into windows of max_seq_length={max_seq_length} with "
                        f"doc_stride={doc_stride}: {str(err).splitlines()[0]}; raise max_seq_length or lower doc_stride") from None


def prepare_train_features(batch, tokenizer, max_seq_length: int, doc_stride: int, pad_to_max_length: bool = False):
    """Windows with `start_positions`/`end_positions` (the CLS index when the answer is not inside a window).

    The same labelling as `run_qa.py`'s `prepare_train_features`: the first gold answer is the target.
    """
    enc = _tokenize(batch, tokenizer, max_seq_length, doc_stride, pad_to_max_length)
    sample_map = enc.pop("overflow_to_sample_mapping")
    offsets_all = enc.pop("offset_mapping")
    ctx_id = 1 if tokenizer.padding_side == "right" else 0
    starts, ends = [], []
    for i, offsets in enumerate(offsets_all):
        input_ids = enc["input_ids"][i]
        cls = input_ids.index(tokenizer.cls_token_id) if tokenizer.cls_token_id in input_ids else 0
        seq = enc.sequence_ids(i)
        answers = batch["answers"][sample_map[i]]
        if not answers["answer_start"]:
            starts.append(cls), ends.append(cls)
            continue
        start_char = answers["answer_start"][0]
        end_char = start_char + len(answers["text"][0])
        first = seq.index(ctx_id)
        last = len(seq) - 1 - seq[::-1].index(ctx_id)
        if not (offsets[first][0] <= start_char and offsets[last][1] >= end_char):
            starts.append(cls), ends.append(cls)  # the answer is not (wholly) in this window
            continue
        while first < len(offsets) and offsets[first][0] <= start_char:
            first += 1
        while offsets[last][1] >= end_char:
            last -= 1
        starts.append(first - 1), ends.append(last + 1)
    enc["start_positions"], enc["end_positions"] = starts, ends
    return enc


def prepare_eval_features(batch, indices, tokenizer, max_seq_length: int, doc_stride: int,
                          pad_to_max_length: bool = False):
    """Windows with `example_index` (row of the example) and `offset_mapping` ([-1, -1] outside the context)."""
    enc = _tokenize(batch, tokenizer, max_seq_length, doc_stride, pad_to_max_length)
    sample_map = enc.pop("overflow_to_sample_mapping")
    ctx_id = 1 if tokenizer.padding_side == "right" else 0
    enc["example_index"] = [indices[s] for s in sample_map]
    enc["offset_mapping"] = [[o if s == ctx_id else (-1, -1) for o, s in zip(offsets, enc.sequence_ids(i))]
                             for i, offsets in enumerate(enc["offset_mapping"])]
    return enc


def offsets_array(features, length: int) -> np.ndarray:
    """`(windows, length, 2)` character offsets from a features dataset's `offset_mapping` (-1 outside
    the context and beyond each window), converted in Arrow without a Python loop over tokens."""
    import pyarrow as pa

    col = features.with_format("arrow")[:]["offset_mapping"].combine_chunks()
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    lengths = np.diff(np.asarray(col.offsets))
    flat = np.asarray(col.flatten().flatten()).reshape(-1, 2)
    out = np.full((len(lengths), length, 2), -1, dtype=np.int64)
    rows = np.repeat(np.arange(len(lengths)), lengths)
    pos = np.arange(len(flat)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    keep = pos < length
    out[rows[keep], pos[keep]] = flat[keep]
    return out


# ---- post-processing ------------------------------------------------------------------------------------


def _as_offsets(offset_mapping, n: int, length: int) -> np.ndarray:
    if isinstance(offset_mapping, np.ndarray):
        return offset_mapping
    out = np.full((n, length, 2), -1, dtype=np.int64)
    for f, offsets in enumerate(offset_mapping):
        for t, o in enumerate(offsets[:length]):
            if o is not None and len(o) == 2:
                out[f, t] = o
    return out


def postprocess_qa_predictions(contexts: list[str], example_index, offset_mapping, start_logits, end_logits,
                               n_best_size: int = 20, max_answer_length: int = 30,
                               version_2_with_negative: bool = False, null_score_diff_threshold: float = 0.0):
    """Turn window logits into one answer per example (the `run_qa.py` post-processing, vectorised).

    For every window, the candidate spans are the pairs of its `n_best_size` best start and end
    tokens that lie in the context, in order, and at most `max_answer_length` tokens long; an
    example's answer is its best-scoring candidate (start logit + end logit) over all its windows.
    With `version_2_with_negative`, the null score is the lowest CLS score (start + end logit at
    index 0) over the example's windows, and the answer is "" when null score − best span score
    exceeds `null_score_diff_threshold`.

    Args:
        contexts: the context of each example.
        example_index: `(windows,)` the example each window belongs to (windows may be in any order).
        offset_mapping: `(windows, length, 2)` character offsets, negative outside the context; or,
            as in `run_qa.py`, one list per window with `None` outside the context.
        start_logits, end_logits: `(windows, length)`; positions past a window's end are ignored.

    Returns:
        A list with one dict per example: `text` (the answer, "" for no answer), `score`, `start`
        (character offset, -1 for no answer) and, with `version_2_with_negative`, `null_score_diff`.
    """
    start_logits = np.asarray(start_logits, dtype=np.float32)
    end_logits = np.asarray(end_logits, dtype=np.float32)
    n_win, length = start_logits.shape
    offsets = _as_offsets(offset_mapping, n_win, length)[:, :length]
    if offsets.shape[1] < length:  # logits padded wider than the offsets: the extra positions are padding
        offsets = np.concatenate([offsets, np.full((n_win, length - offsets.shape[1], 2), -1)], axis=1)
    in_context = offsets[:, :, 0] >= 0
    example_index = np.asarray(example_index)
    rows = np.arange(n_win)[:, None]

    # candidates: the k best starts × the k best ends of each window
    k = min(n_best_size, length)
    top_s = np.argpartition(-start_logits, k - 1, axis=1)[:, :k]
    top_e = np.argpartition(-end_logits, k - 1, axis=1)[:, :k]
    s, e = top_s[:, :, None], top_e[:, None, :]
    valid = (in_context[rows, top_s][:, :, None] & in_context[rows, top_e][:, None, :]
             & (e >= s) & (e - s + 1 <= max_answer_length))
    score = start_logits[rows, top_s][:, :, None] + end_logits[rows, top_e][:, None, :]
    score = np.where(valid, score, -np.inf).reshape(n_win, -1)
    best = score.argmax(axis=1)
    best_score = score[np.arange(n_win), best]
    best_s = top_s[np.arange(n_win), best // k]
    best_e = top_e[np.arange(n_win), best % k]
    null = start_logits[:, 0] + end_logits[:, 0]

    # per example: the best window's span, and the lowest null score over its windows
    n_ex = len(contexts)
    order = np.lexsort((-best_score, example_index))
    ex_sorted = example_index[order]
    first = order[np.minimum(np.searchsorted(ex_sorted, np.arange(n_ex)), max(n_win - 1, 0))] if n_win else None
    has_window = np.isin(np.arange(n_ex), example_index)
    null_min = np.full(n_ex, np.inf, dtype=np.float64)
    np.minimum.at(null_min, example_index, null)

    out = []
    for i, context in enumerate(contexts):
        w = first[i] if has_window[i] else None
        span_score = float(best_score[w]) if w is not None else -np.inf
        if np.isfinite(span_score):
            start = int(offsets[w, best_s[w], 0])
            text = context[start:int(offsets[w, best_e[w], 1])]
            # a Metaspace/BPE token may carry the space before a word: trim it (metrics ignore it anyway)
            pred = {"text": text.strip(), "score": span_score, "start": start + len(text) - len(text.lstrip())}
        else:
            pred = {"text": "", "score": span_score, "start": -1}
        if version_2_with_negative:
            diff = float(null_min[i] - span_score) if has_window[i] else float("inf")
            pred["null_score_diff"] = diff
            if diff > null_score_diff_threshold:
                pred = {**pred, "text": "", "start": -1}
        out.append(pred)
    return out


# ---- metrics ---------------------------------------------------------------------------------------------

_EN_PUNCT = set(string.punctuation)
_ARTICLES = {  # MLQA's evaluation script
    "en": r"\b(a|an|the)\b", "es": r"\b(un|una|unos|unas|el|la|los|las)\b", "vi": r"\b(của|là|cái|chiếc|những)\b",
    "de": r"\b(ein|eine|einen|einem|eines|einer|der|die|das|den|dem|des)\b", "ar": r"\sال^|ال",
}
_HAN = re.compile(r"[\u4e00-\u9fa5]")


def _is_punct(ch: str) -> bool:
    return ch in _EN_PUNCT or unicodedata.category(ch).startswith("P")


def _mixed_segmentation(text: str) -> list[str]:
    """MLQA's Chinese segmentation: every Han character and punctuation mark is a token."""
    out, run = [], ""
    for ch in text:
        if _HAN.match(ch) or _is_punct(ch):
            out.extend(run.split())
            run = ""
            out.append(ch)
        else:
            run += ch
    out.extend(run.split())
    return out


def answer_tokens(s: str, lang: str = "en") -> list[str]:
    """Normalised answer tokens, as the official scripts compare them.

    English (and unknown languages): the SQuAD v1.1/v2.0 script (lower case, ASCII punctuation and
    a/an/the removed, whitespace tokens). Other languages: the MLQA script (Unicode punctuation,
    that language's articles); Chinese is split into characters (character-level F1), and other
    scripts written without spaces (ja, th, ...) likewise.
    """
    s = s.lower()
    if lang in ("en", "und"):
        s = "".join(ch for ch in s if ch not in _EN_PUNCT)
        return re.sub(r"\b(a|an|the)\b", " ", s).split()
    s = "".join(ch for ch in s if not _is_punct(ch))
    if lang in _ARTICLES:
        s = re.sub(_ARTICLES[lang], " ", s)
    if lang == "zh":
        return [t for t in _mixed_segmentation(s) if t.strip()]
    if lang in NO_SPACE_LANGUAGES:
        return [ch for ch in s if not ch.isspace()]
    return s.split()


def exact_and_f1(prediction: str, golds: list[str], lang: str = "en") -> tuple[float, float]:
    """SQuAD exact match and token F1 of one prediction against its gold answers (max over golds).

    No gold answer (SQuAD v2.0 unanswerable) means the gold is "": only an empty prediction scores.
    """
    pred = answer_tokens(prediction, lang)
    golds = [g for g in golds if answer_tokens(g, lang)] or [""]
    best_em = best_f1 = 0.0
    for gold in golds:
        ref = answer_tokens(gold, lang)
        best_em = max(best_em, float(pred == ref))
        if not pred or not ref:
            f1 = float(pred == ref)
        else:
            same = sum((Counter(pred) & Counter(ref)).values())
            f1 = 0.0 if same == 0 else 2 * same / (len(pred) + len(ref))
        best_f1 = max(best_f1, f1)
    return best_em, best_f1


def score_rows(predictions: list[str], answers: list[list[str]], langs) -> tuple[np.ndarray, np.ndarray]:
    """Per-row exact match and F1 (0/1 scale), each with its row's language rules."""
    pairs = [exact_and_f1(p, g, lang) for p, g, lang in zip(predictions, answers, langs)]
    em, f1 = (np.array(x, dtype=np.float64) for x in zip(*pairs)) if pairs else (np.zeros(0), np.zeros(0))
    return em, f1


def best_null_threshold(preds: list[dict], golds: list[list[str]], langs) -> float:
    """The null-score threshold that maximises F1 on a dev set (the SQuAD v2.0 script's `best_f1_thresh`).

    Args:
        preds: `postprocess_qa_predictions` output with `version_2_with_negative` and an infinite
            threshold, so that each `text` is the best span and `null_score_diff` its margin.
        golds, langs: gold answer texts and language of each example.
    """
    diffs = np.array([p["null_score_diff"] for p in preds], dtype=np.float64)
    if not len(diffs):
        return 0.0
    _, f1_span = score_rows([p["text"] for p in preds], golds, langs)
    _, f1_null = score_rows([""] * len(preds), golds, langs)
    order = np.argsort(diffs, kind="stable")
    d = diffs[order]
    # threshold d[i] answers the examples order[:i + 1] (diff <= threshold) and abstains on the rest
    scores = f1_null.sum() + np.cumsum((f1_span - f1_null)[order])
    last_of_tie = np.append(d[1:] != d[:-1], True)
    scores = np.where(last_of_tie & np.isfinite(d), scores, -np.inf)
    best = int(np.argmax(scores))
    if not np.isfinite(scores[best]) or scores[best] <= f1_null.sum():
        return float(d[np.isfinite(d)].min() - 1.0) if np.isfinite(d).any() else 0.0  # abstaining everywhere is best
    return float(d[best])


def qa_metrics(em: np.ndarray, f1: np.ndarray, has_answer: np.ndarray) -> dict[str, float]:
    """EM and F1 in percent (as the SQuAD script reports them); for data with unanswerable questions
    also F1 on the answerable (`has_ans_f1`) and unanswerable (`no_ans_f1`) ones."""
    out = {"exact_match": 100 * float(em.mean()) if len(em) else 0.0, "f1": 100 * float(f1.mean()) if len(f1) else 0.0}
    if len(has_answer) and not has_answer.all():
        if has_answer.any():
            out["has_ans_f1"] = 100 * float(f1[has_answer].mean())
        out["no_ans_f1"] = 100 * float(f1[~has_answer].mean())
    return out


# ---- quickstart --------------------------------------------------------------------------------------------


def quickstart_step(root, pretrain_dir, epochs=None) -> str:
    """The QA step of `lingbridge quickstart`: the tiny recipe from the pretrained run into `root/qa`.

    Returns the per-language EM/F1 table (trained on the tiny config's languages, the rest zero-shot).
    """
    from ..cli import config_path
    from ..evaluation import format_table
    from ..recipes import finetune_qa
    from ..runs import read_record

    out = Path(root) / "qa"
    args = ["--config", config_path("finetune_qa"), "--model_name_or_path", str(pretrain_dir), "--output_dir", str(out)]
    if epochs is not None:
        args += ["--num_train_epochs", str(epochs)]
    finetune_qa.main(args)
    record = read_record(out)
    sources = record["train_languages"]
    table = {lang: {"role": "" if lang == "all" else ("source" if lang in sources else "zero-shot"), **row}
             for lang, row in record["metrics"]["per_language"].items()}
    cols = ["role", "exact_match", "f1"] + [c for c in ("has_ans_f1", "no_ans_f1") if c in table.get("all", {})] + ["n"]
    return ("Extractive QA (bundled SQuAD v2.0-style sample, test split; EM/F1 in %, zh F1 per character):\n"
            + format_table(table, cols))
