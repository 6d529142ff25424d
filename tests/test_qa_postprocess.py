"""QA post-processing and metrics on hand-made cases: stride boundaries, context edges, no answer."""

import numpy as np
import pytest

from lingbridge.data.squad import language_from_name
from lingbridge.tasks.qa import (answer_tokens, exact_and_f1, offsets_array, postprocess_qa_predictions,
                                 prepare_eval_features, prepare_train_features, truncate_questions)

WORDS = "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar papa".split()
CONTEXT = " ".join(WORDS)
STARTS = [CONTEXT.index(w) for w in WORDS]


def _window(word_ids, length=12, question_len=3):
    """A window over some words of CONTEXT: [CLS] q q q [SEP] words... [SEP] pad...; offsets None outside."""
    offsets = [None] * (1 + question_len + 1)
    offsets += [(STARTS[i], STARTS[i] + len(WORDS[i])) for i in word_ids]
    offsets += [None] * (length - len(offsets))
    return offsets


def _logits(length, peaks):
    """Low logits everywhere, `peaks` {position: value}."""
    x = np.full(length, -5.0, dtype=np.float32)
    for pos, v in peaks.items():
        x[pos] = v
    return x


def test_answer_crossing_a_stride_boundary_is_found_in_the_window_that_holds_it_whole():
    # window 0 holds words 0-6, window 1 holds words 4-10 (overlap 4-6); the answer is words 6-7
    # ("golf hotel"): it crosses the end of window 0 and lies whole in window 1.
    w0, w1 = _window(range(0, 7)), _window(range(4, 11))
    off = 5  # first context position in a window
    # window 0: the start is strong at "golf" but its end ("hotel") is outside; only shorter spans are valid there
    s0, e0 = _logits(12, {off + 6: 4.0}), _logits(12, {off + 6: 0.5})
    s1, e1 = _logits(12, {off + 2: 4.0}), _logits(12, {off + 3: 4.0})
    preds = postprocess_qa_predictions([CONTEXT], [0, 0], [w0, w1], np.stack([s0, s1]), np.stack([e0, e1]))
    assert preds[0]["text"] == "golf hotel"
    assert preds[0]["start"] == CONTEXT.index("golf")
    assert preds[0]["score"] == pytest.approx(8.0)


def test_answer_at_the_very_start_and_end_of_the_context():
    w = _window(range(len(WORDS)), length=len(WORDS) + 6)
    first, last = 5, 5 + len(WORDS) - 1
    start = _logits(len(w), {first: 3.0, last: 2.0})
    end = _logits(len(w), {first: 3.0, last: 2.5})
    preds = postprocess_qa_predictions([CONTEXT, CONTEXT], [0, 1], [w, w], np.stack([start, _logits(len(w), {last: 3.0})]),
                                       np.stack([end, _logits(len(w), {last: 3.0})]))
    assert preds[0]["text"] == "alpha" and preds[0]["start"] == 0
    assert preds[1]["text"] == "papa" and preds[1]["start"] + len("papa") == len(CONTEXT)


def test_spans_outside_the_context_reversed_or_too_long_are_never_chosen():
    w = _window(range(8), length=14)
    # best logits on question tokens (1..3) and CLS; a reversed pair; a long span
    start = _logits(14, {0: 9.0, 2: 8.0, 5 + 5: 6.0, 5 + 1: 1.0})
    end = _logits(14, {3: 8.0, 5 + 2: 6.0, 5 + 7: 5.5})
    pred = postprocess_qa_predictions([CONTEXT], [0], [w], start[None], end[None], max_answer_length=3)[0]
    # (5+5 → 5+2) is reversed, (5+5 → 5+7) is 3 tokens long: allowed; (5+1 → 5+7) is 7 tokens: too long
    assert pred["text"] == "foxtrot golf hotel"
    pred = postprocess_qa_predictions([CONTEXT], [0], [w], start[None], end[None], max_answer_length=2)[0]
    assert pred["text"] == "bravo charlie"  # the only valid pair left among the candidates


def test_unanswerable_null_score_threshold():
    w = _window(range(8))
    start = _logits(12, {0: 5.0, 6: 3.0})
    end = _logits(12, {0: 5.0, 7: 3.0})
    # null score 10, best span 6: difference 4
    v1 = postprocess_qa_predictions([CONTEXT], [0], [w], start[None], end[None])[0]
    assert v1["text"] == "bravo charlie"
    v2 = postprocess_qa_predictions([CONTEXT], [0], [w], start[None], end[None], version_2_with_negative=True)[0]
    assert v2["text"] == "" and v2["null_score_diff"] == pytest.approx(4.0)
    lenient = postprocess_qa_predictions([CONTEXT], [0], [w], start[None], end[None], version_2_with_negative=True,
                                         null_score_diff_threshold=4.5)[0]
    assert lenient["text"] == "bravo charlie"


def test_null_score_is_the_minimum_over_windows_and_windows_may_be_unordered():
    w0, w1 = _window(range(0, 7)), _window(range(4, 11))
    s = np.stack([_logits(12, {0: 6.0, 5: 2.0}), _logits(12, {0: 1.0, 7: 2.0}), _logits(12, {0: 9.0})])
    e = np.stack([_logits(12, {0: 6.0, 5: 2.0}), _logits(12, {0: 1.0, 7: 2.0}), _logits(12, {0: 9.0})])
    # windows: example 1, example 0, example 1 again (any order)
    preds = postprocess_qa_predictions([CONTEXT, CONTEXT], [1, 0, 1], [w0, w1, w0], s, e, version_2_with_negative=True)
    assert preds[1]["text"] == ""  # its lowest null score (12) beats its best span (4)
    assert preds[0]["text"] == "golf"  # null 2 < span 4
    assert preds[0]["null_score_diff"] == pytest.approx(-2.0)


def test_real_tokenizer_windows_with_stride_recover_the_answer(minilm_path):
    """Features from a real fast tokenizer: labels hit the answer in every window that holds it,
    and logits peaked on those labels post-process back to the exact answer text."""
    from datasets import Dataset
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(minilm_path)
    context = " ".join(f"Sentence {i} is about the number {i * 7}." for i in range(30))
    answer = "the number 105"
    start = context.index(answer)
    ds = Dataset.from_dict({"question": ["Which number?"], "context": [context],
                            "answers": [{"text": [answer], "answer_start": [start]}]})
    kw = dict(tokenizer=tok, max_seq_length=64, doc_stride=16)
    train = ds.map(prepare_train_features, batched=True, fn_kwargs=kw, remove_columns=ds.column_names)
    ev = ds.map(prepare_eval_features, batched=True, with_indices=True, fn_kwargs=kw, remove_columns=ds.column_names)
    assert len(train) > 3 and len(train) == len(ev)  # the context was split into windows
    hits = [i for i, (s, e) in enumerate(zip(train["start_positions"], train["end_positions"])) if s != 0]
    assert hits, "some window holds the whole answer"
    length = max(len(x) for x in ev["input_ids"])
    offsets = offsets_array(ev, length)
    for i in hits:
        s, e = train["start_positions"][i], train["end_positions"][i]
        assert context[offsets[i, s, 0]:offsets[i, e, 1]] == answer
    start_logits = np.full((len(ev), length), -5.0, dtype=np.float32)
    end_logits = start_logits.copy()
    i = hits[0]
    start_logits[i, train["start_positions"][i]] = 5.0
    end_logits[i, train["end_positions"][i]] = 5.0
    pred = postprocess_qa_predictions([context], ev["example_index"], offsets, start_logits, end_logits)[0]
    assert pred["text"] == answer and pred["start"] == start
    # windows that do not hold the whole answer point at CLS
    assert all(train["start_positions"][j] == 0 for j in range(len(train)) if j not in hits)


def test_a_long_question_is_truncated_not_refused(minilm_path):
    """A 400-word question in a 64-token window with stride 16: the Rust tokenizer alone panics ("stride
    must be strictly less than max_len"); the question is cut so each window keeps context beyond the stride."""
    from datasets import Dataset
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(minilm_path)
    context = "Paris is the capital of France. " * 20
    ds = Dataset.from_dict({"question": ["What is the capital " * 100], "context": [context],
                            "answers": [{"text": ["Paris"], "answer_start": [0]}]})
    kw = dict(tokenizer=tok, max_seq_length=64, doc_stride=16)
    train = ds.map(prepare_train_features, batched=True, fn_kwargs=kw, remove_columns=ds.column_names)
    ev = ds.map(prepare_eval_features, batched=True, with_indices=True, fn_kwargs=kw, remove_columns=ds.column_names)
    assert len(train) == len(ev) > 1 and max(len(x) for x in train["input_ids"]) <= 64
    question_tokens = train[0]["input_ids"].index(tok.sep_token_id) - 1  # [CLS] question [SEP] context [SEP]
    assert question_tokens <= 64 - 16 - 3 - 1
    assert train["start_positions"][0] != 0  # the answer at the head of the context is still labelled
    short = truncate_questions(["Who?", "a b c d e f"], tok, 3)
    assert short == ["Who?", "a b c"]


@pytest.mark.parametrize("pred,golds,lang,em,f1", [
    ("The Eiffel Tower!", ["Eiffel tower"], "en", 1.0, 1.0),  # case, article, punctuation
    ("in the year 1889", ["1889"], "en", 0.0, 2 / 4),  # tokens: in, year, 1889 vs 1889 → P=1/3, R=1
    ("", [], "en", 1.0, 1.0),  # unanswerable, abstained
    ("Paris", [], "en", 0.0, 0.0),  # unanswerable, answered
    ("", ["Paris"], "en", 0.0, 0.0),
    ("der Fluss Kell", ["Kell"], "de", 0.0, 2 / 3),  # German article removed (MLQA): fluss kell vs kell
    ("北光工坊", ["北光工坊"], "zh", 1.0, 1.0),
    ("北光公司", ["北光工坊"], "zh", 0.0, 0.5),  # character-level: 2 of 4 characters shared
    ("奥登穆尔。", ["奥登穆尔"], "zh", 1.0, 1.0),  # Chinese punctuation removed
    ("x", ["Paris", "x"], "en", 1.0, 1.0),  # max over golds
])
def test_exact_match_and_f1(pred, golds, lang, em, f1):
    got_em, got_f1 = exact_and_f1(pred, golds, lang)
    assert got_em == em and got_f1 == pytest.approx(f1)


def test_english_normalisation_is_the_squad_script():
    assert answer_tokens("  The  cat's   hat, an 'A' ") == ["cats", "hat"]


def test_language_from_file_and_config_names():
    assert language_from_name("xquad.de.json") == "de"
    assert language_from_name("/data/dev-context-zh-question-en.json") == "zh"
    assert language_from_name("mlqa.ar.ar") == "ar"
    assert language_from_name("finnish") == "fi"
    assert language_from_name("train-v1.1.json") is None


def test_best_null_threshold_maximises_dev_f1():
    from lingbridge.tasks.qa import best_null_threshold

    preds = [{"text": "paris", "null_score_diff": -1.0}, {"text": "rome", "null_score_diff": 2.0},
             {"text": "oslo", "null_score_diff": 5.0}, {"text": "bern", "null_score_diff": float("inf")}]
    golds = [["Paris"], ["Rome"], [], []]
    # answer where diff <= t: t = 2 gets the first two right and abstains on the two unanswerable ones
    assert best_null_threshold(preds, golds, ["en"] * 4) == 2.0
    assert best_null_threshold(preds[2:], golds[2:], ["en"] * 2) < 5.0  # abstaining everywhere is best
