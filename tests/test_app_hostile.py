"""The app against careless and hostile input (issue 11's app cases): texts longer than the model reads,
unbounded or empty feedback, a damaged run record, bad language codes — each a clear message or a normal
answer, never a crash, and nothing written beyond the bounds."""

import json
import shutil

import pytest

pytest.importorskip("gradio")

from conftest import config  # noqa: E402
from lingbridge.app import backend  # noqa: E402
from lingbridge.errors import UserError  # noqa: E402
from lingbridge.recipes import finetune_classification  # noqa: E402

LONG = "The soup was cold, the waiter was rude and the bill was wrong. " * 40  # 2,480 characters, ~600 tokens


@pytest.fixture(scope="module")
def root(pretrained_run, tiny_seq2seq, tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile_app")
    finetune_classification.main([
        "--config", config("finetune_classification", "sentiment_tiny"), "--model_name_or_path", str(pretrained_run),
        "--output_dir", str(root / "sentiment"), "--max_steps", "2", "--eval_strategy", "no", "--save_strategy", "no",
        "--load_best_model_at_end", "false", "--disable_tqdm", "true"])
    shutil.copytree(pretrained_run, root / "pretrain")
    shutil.copytree(tiny_seq2seq, root / "mt")
    from lingbridge.record import write_record

    write_record(root / "mt", {"job": "finetune_translation", "pipeline_tag": "translation", "languages": ["en", "de"],
                               "directions": ["en-de"]})
    return root


@pytest.fixture(scope="module")
def reg(root):
    return backend.Registry([root], max_input_chars=3000)


def test_texts_longer_than_the_model_reads(reg):
    assert len(LONG) > 2000
    scores, note = backend.classify(reg, "sentiment", LONG)  # was: "index 131 is out of bounds"
    assert abs(sum(scores.values()) - 1) < 1e-4 and "English" in note
    top = backend.fill_mask(reg, "pretrain", "Paris is the <mask> of France. " + LONG)
    assert len(top) == 5
    with pytest.raises(UserError, match="mask token comes after the first"):
        backend.fill_mask(reg, "pretrain", LONG + " Paris is the <mask> of France.")
    a, _, b, _ = backend.compare(reg, "sentiment", "sentiment", LONG)
    assert a == b
    tokens, drops, label = backend.token_attributions(reg, "sentiment", LONG)
    assert len(tokens) == len(drops) <= backend.MAX_EXPLAIN_TOKENS
    assert isinstance(backend.translate(reg, "mt", LONG, "en", "de"), str)


@pytest.mark.parametrize("text", ["", "   ", "\x00\x01\x02", "\u200b\u200b", "\t\n\r", None, 12])
def test_empty_or_control_only_input_is_refused(reg, text):
    with pytest.raises(UserError, match="empty|must be text"):
        backend.classify(reg, "sentiment", text)


def test_feedback_is_bounded(reg, root, monkeypatch):
    run = reg.runs["sentiment"]
    with pytest.raises(UserError, match="'predicted' must be one of this model's labels"):
        reg.add_feedback(run, "Fine.", "x" * 5_000_000, None)
    with pytest.raises(UserError, match="empty"):
        reg.add_feedback(run, "\x00\x00", "negative", "positive")
    with pytest.raises(UserError, match="limit is 3000"):
        reg.add_feedback(run, "a" * 3001, "negative", "positive")
    monkeypatch.setattr(backend, "MAX_FEEDBACK_BYTES", 1000)
    path = reg.add_feedback(run, "The soup was cold.", "positive", "negative")
    for _ in range(20):
        try:
            reg.add_feedback(run, "The soup was cold again, and the bread was stale.", "positive", "negative")
        except UserError as err:
            assert "is full" in str(err)
            break
    else:
        pytest.fail("the feedback file grew past its cap")
    assert path.stat().st_size <= 1000
    assert all(json.loads(line)["label"] == "negative" for line in path.read_text().splitlines())


def test_bad_language_codes_in_translate(reg):
    with pytest.raises(UserError, match="source language 'xx' is not one this run translates"):
        backend.translate(reg, "mt", "Good morning", "xx", "de")
    with pytest.raises(UserError, match="target language"):
        backend.translate(reg, "mt", "Good morning", "en", "../../etc")


def test_a_damaged_record_does_not_stop_the_app(root, tmp_path):
    many = tmp_path / "runs"
    shutil.copytree(root / "sentiment", many / "good")
    shutil.copytree(root / "sentiment", many / "broken")
    (many / "broken" / "lingbridge_run.json").write_text("{ not json", encoding="utf-8")
    (many / "empty").mkdir()
    (many / "empty" / "lingbridge_run.json").write_text("[]", encoding="utf-8")
    reg = backend.Registry([many])
    assert list(reg.runs) == ["good"]
    assert any("broken" in e and "unreadable" in e for e in reg.errors), reg.errors
    assert any("empty" in e and "damaged" in e for e in reg.errors), reg.errors
    from lingbridge.app.app import build_demo

    build_demo(reg)  # the page builds, listing the damage


def test_warm_up_builds_every_pipeline(root):
    reg = backend.Registry([root])
    reg.warm_up(background=False)
    assert {r.path for r in reg.runs.values()} <= set(reg._pipelines)
    assert backend._langid is not None  # every answer names the language: its model loads with the runs'


def test_first_requests_at_once_load_the_language_model_once(monkeypatch):
    """20 first requests at once used to load py3langid's model 20 times (about a second each, under one GIL):
    the burst's answers took 12 s. One load, the others wait for it."""
    import threading

    from py3langid.langid import LanguageIdentifier

    loads = []
    real = LanguageIdentifier.from_model_file.__func__

    def counted(cls, *args, **kwargs):
        loads.append(1)
        return real(cls, *args, **kwargs)

    monkeypatch.setattr(backend, "_langid", None)
    monkeypatch.setattr(LanguageIdentifier, "from_model_file", classmethod(counted))
    threads = [threading.Thread(target=backend.detect_language, args=("Das Hotel war wunderbar.",)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(loads) == 1
