"""Extractive question answering: features with a stride, span post-processing, EM/F1.

The data (SQuAD-shaped rows with `lang`) comes from `lingbridge.data.squad`.

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
import time
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import UserError
from ..languages import NO_SPACE_LANGUAGES
from . import QuickstartStep, Task, register


@dataclass
class QAArguments:
    question_column: str = field(default="question", metadata={"help": "Column holding the question (flat data)."})
    context_column: str = field(default="context", metadata={"help": "Column holding the context (flat data)."})
    answer_column: str = field(default="answers", metadata={"help": "Column holding SQuAD-style answers {text, answer_start}."})
    id_column: str = field(default="id", metadata={"help": "Column holding the question id (flat data)."})
    eval_files: list[str] | None = field(
        default=None, metadata={"help": "Extra SQuAD JSON files to evaluate on, each one language (from the file name, e.g. xquad.de.json)."})
    eval_datasets: list[str] | None = field(
        default=None, metadata={"help": "Extra Hub datasets to evaluate on, as id:config (e.g. google/xquad:xquad.de); language from the config."})
    version_2_with_negative: bool | None = field(
        default=None, metadata={"help": "Some questions have no answer (SQuAD v2.0); default: detected from the data."})
    null_score_diff_threshold: float = field(
        default=0.0, metadata={"help": "v2.0: answer '' when null score − best span score exceeds this."})
    tune_null_threshold: bool = field(
        default=True, metadata={"help": "v2.0: replace null_score_diff_threshold by the one that maximises dev F1 "
                                         "(the SQuAD v2.0 script's best_f1_thresh)."})
    doc_stride: int = field(default=128, metadata={"help": "Tokens of overlap between the windows of a long context."})
    max_query_length: int = field(
        default=64, metadata={"help": "Questions longer than this many tokens are truncated (also to leave each "
                                      "window more than doc_stride tokens of context)."})
    n_best_size: int = field(default=20, metadata={"help": "Best start and end logits combined into candidate spans."})
    max_answer_length: int = field(default=30, metadata={"help": "Longest answer, in tokens."})
    train_languages: list[str] | None = field(
        default=None, metadata={"help": "Train on these languages only; the others are evaluated zero-shot (default: all)."})
    selection_languages: str = field(
        default="source", metadata={"help": "Dev set for model selection: 'source' (train languages: the honest zero-shot setting) or 'all'."})

    def __post_init__(self):
        from ..languages import check_languages

        if self.train_languages:
            check_languages(self.train_languages, "train_languages")
        if self.selection_languages not in ("source", "all"):
            raise UserError(f"selection_languages must be 'source' or 'all', got '{self.selection_languages}'")
        for name in ("doc_stride", "n_best_size", "max_answer_length", "max_query_length"):
            if getattr(self, name) < 1:
                raise UserError(f"{name} must be at least 1, got {getattr(self, name)}")
        for path in self.eval_files or []:
            if not Path(path).is_file():
                raise UserError(f"eval_files: file not found: {path}")
        for name in self.eval_datasets or []:
            if name.count(":") != 1:
                raise UserError(f"eval_datasets: '{name}' should be id:config, e.g. google/xquad:xquad.de")

# ---- features ------------------------------------------------------------------------------------------


def truncate_questions(questions: list[str], tokenizer, max_tokens: int) -> list[str]:
    """Each question cut to its first `max_tokens` tokens (at a token's end in the text), so a long
    question cannot take the window from the context."""
    enc = tokenizer(questions, add_special_tokens=False, return_offsets_mapping=True)
    return [q if len(offsets) <= max_tokens else q[:offsets[max_tokens - 1][1]]
            for q, offsets in zip(questions, enc["offset_mapping"])]


def _tokenize(batch, tokenizer, max_seq_length: int, doc_stride: int, pad_to_max_length: bool,
              max_query_length: int = 64):
    pad_right = tokenizer.padding_side == "right"
    questions = [q.lstrip() for q in batch["question"]]  # leading spaces waste the window (run_qa.py)
    # a window keeps more than doc_stride context tokens, or the tokenizer cannot stride through it
    room = max_seq_length - doc_stride - tokenizer.num_special_tokens_to_add(pair=True) - 1
    questions = truncate_questions(questions, tokenizer, max(1, min(max_query_length, room)))
    try:
        return tokenizer(questions if pad_right else batch["context"], batch["context"] if pad_right else questions,
                         truncation="only_second" if pad_right else "only_first", max_length=max_seq_length,
                         stride=doc_stride, return_overflowing_tokens=True, return_offsets_mapping=True,
                         padding="max_length" if pad_to_max_length else False)
    except Exception as err:  # the tokenizer refuses a question that leaves no room for the context
        raise UserError(f"cannot split contexts into windows of max_seq_length={max_seq_length} with "
                        f"doc_stride={doc_stride}: {str(err).splitlines()[0]}; raise max_seq_length or lower doc_stride") from None


def prepare_train_features(batch, tokenizer, max_seq_length: int, doc_stride: int, pad_to_max_length: bool = False,
                           max_query_length: int = 64):
    """Windows with `start_positions`/`end_positions` (the CLS index when the answer is not inside a window).

    The same labelling as `run_qa.py`'s `prepare_train_features`: the first gold answer is the target.
    """
    enc = _tokenize(batch, tokenizer, max_seq_length, doc_stride, pad_to_max_length, max_query_length)
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
                          pad_to_max_length: bool = False, max_query_length: int = 64):
    """Windows with `example_index` (row of the example) and `offset_mapping` ([-1, -1] outside the context)."""
    enc = _tokenize(batch, tokenizer, max_seq_length, doc_stride, pad_to_max_length, max_query_length)
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


# ---- the recipe's steps ------------------------------------------------------------------------------------


def squad_version(train, test, version_2_with_negative: bool | None) -> bool:
    """SQuAD v2.0 (unanswerable questions) when asked, else when the data has questions without answers."""
    if version_2_with_negative is None:
        return any(not a["text"] for split in (train, test) for a in split["answers"])
    if not version_2_with_negative and any(not a["text"] for a in train["answers"]):
        raise UserError("the training data has unanswerable questions (no answers) but version_2_with_negative is "
                        "false; set it to true (SQuAD v2.0) or remove them")
    return version_2_with_negative


def window_splits(train, dev, test, tokenizer, max_len: int, doc_stride: int, pad_to_max_length: bool = False,
                  num_proc=None, spans_for_dev: bool = False, max_query_length: int = 64) -> dict:
    """Windows of `max_len` tokens overlapping by `doc_stride`: labelled for train and dev (dev keeps its
    labels so that Trainer reports a loss for checkpoint selection), with spans for test (and dev, to tune
    the null threshold)."""
    kw = dict(tokenizer=tokenizer, max_seq_length=max_len, doc_stride=doc_stride, pad_to_max_length=pad_to_max_length,
              max_query_length=max_query_length)
    out = {}
    for name, ds, labelled in (("train", train, True), ("dev", dev, True), ("test", test, False),
                               *((("dev_spans", dev, False),) if spans_for_dev else ())):
        fn = prepare_train_features if labelled else prepare_eval_features
        out[name] = ds.map(fn, batched=True, with_indices=not labelled, fn_kwargs=kw, num_proc=num_proc,
                           remove_columns=ds.column_names, desc=f"Windows ({name})")
    return out


def predict_spans(trainer, examples, features, args, v2: bool, threshold: float):
    """One answer per question from `trainer.predict` on its windows; returns (predictions, post-processing seconds)."""
    out = trainer.predict(features.remove_columns(["example_index", "offset_mapping"]), metric_key_prefix="test")
    start_logits, end_logits = out.predictions[:2]
    started = time.perf_counter()
    preds = postprocess_qa_predictions(
        list(examples["context"]), np.asarray(features["example_index"]),
        offsets_array(features, start_logits.shape[1]), start_logits, end_logits, n_best_size=args.n_best_size,
        max_answer_length=args.max_answer_length, version_2_with_negative=v2, null_score_diff_threshold=threshold)
    return preds, time.perf_counter() - started


def write_predictions(path: Path, test, preds: list[dict], em, f1, v2: bool) -> Path:
    """`predictions.json`: each test question with its prediction, gold answers, EM and F1."""
    golds = [list(a["text"]) for a in test["answers"]]
    rows = [{"id": i, "lang": lang, "question": q, "prediction": p["text"], "answers": g, "exact_match": e, "f1": f,
             **({"null_score_diff": p["null_score_diff"]} if v2 else {})}
            for i, lang, q, p, g, e, f in zip(test["id"], test["lang"], test["question"], preds, golds, em, f1)]
    path.write_text(json.dumps(rows, ensure_ascii=False, indent=1), encoding="utf-8")
    return path


# ---- the registry entry -----------------------------------------------------------------------------------


def collator(tokenizer, pad_to_max_length: bool = False):
    """Dynamic padding of the windows (None when they are padded to max_seq_length already)."""
    from .classification import collator as padding_collator

    return padding_collator(tokenizer, pad_to_max_length)


def usage(model: str, example, adapter: bool = False) -> str:
    """transformers v5 has no question-answering pipeline: the card's snippet picks the span by hand."""
    ex = example if isinstance(example, dict) and example else {"question": "Where is the museum?",
                                                                "context": "The museum is in the old town."}
    return ('import torch\nfrom transformers import AutoModelForQuestionAnswering, AutoTokenizer\n\n'
            f'tokenizer = AutoTokenizer.from_pretrained("{model}")\n'
            f'model = AutoModelForQuestionAnswering.from_pretrained("{model}")\n'
            f'question, context = {ex.get("question")!r}, {ex.get("context")!r}\n'
            'enc = tokenizer(question, context, truncation="only_second", return_tensors="pt")\n'
            'with torch.no_grad():\n    out = model(**enc)\n'
            'start, end = int(out.start_logits[0].argmax()), int(out.end_logits[0].argmax())\n'
            'print(tokenizer.decode(enc["input_ids"][0][start:end + 1]))')


def quickstart_summary(record: dict) -> dict:
    """The quickstart's QA table: EM/F1 per language, the training languages marked as sources."""
    sources = record["train_languages"]
    table = {lang: {"role": "" if lang == "all" else ("source" if lang in sources else "zero-shot"), **row}
             for lang, row in record["metrics"]["per_language"].items()}
    cols = ["role", "exact_match", "f1"] + [c for c in ("has_ans_f1", "no_ans_f1") if c in table.get("all", {})] + ["n"]
    return {"heading": "Extractive QA (bundled SQuAD v2.0-style sample, test split; EM/F1 in %, zh F1 per character):",
            "table": table, "columns": cols}


TASK = register(Task(
    name="qa", pipeline_tag="question-answering", recipes=("finetune_qa",),
    auto_class="AutoModelForQuestionAnswering", peft_class="AutoPeftModelForQuestionAnswering",
    peft_task_type="QUESTION_ANS", headline_metrics=("f1", "exact_match"),
    preprocess=prepare_train_features, collator=collator, metrics=qa_metrics, postprocess=postprocess_qa_predictions,
    usage=usage,
    quickstart=QuickstartStep(config="finetune_qa/tiny", title="extractive QA from the pretrained model (train en, "
                              "zero-shot de/zh)", from_pretrain=True, summarize=quickstart_summary),
))
