"""The Gradio app, served for real on a free loopback port and driven with gradio_client: every
tab's function, the limits (input cap, path traversal), the empty state and the feedback loop back
into training."""

import json
import shutil
import socket

import pytest

pytest.importorskip("gradio")
from gradio_client import Client  # noqa: E402

from conftest import config  # noqa: E402
from lingbridge.app import backend  # noqa: E402
from lingbridge.errors import UserError  # noqa: E402
from lingbridge.app.app import build_demo  # noqa: E402
from lingbridge.recipes import finetune_classification  # noqa: E402
from lingbridge.record import read_record, write_record  # noqa: E402

LABELS = ["negative", "neutral", "positive"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _fake_run(folder, record: dict):
    """A run directory for tasks whose recipes may not exist yet: a real tiny model + a record."""
    write_record(folder, {"languages": ["en", "de"], "base_model": None, **record})


@pytest.fixture(scope="module")
def runs_root(pretrained_run, tiny_seq2seq, tmp_path_factory):
    root = tmp_path_factory.mktemp("app_runs")
    finetune_classification.main([
        "--config", config("finetune_classification", "sentiment_tiny"), "--model_name_or_path", str(pretrained_run), "--output_dir",
        str(root / "sentiment"), "--max_steps", "10", "--eval_strategy", "no", "--save_strategy", "no",
        "--load_best_model_at_end", "false", "--disable_tqdm", "true"])
    shutil.copytree(pretrained_run, root / "pretrain")
    from transformers import AutoModelForQuestionAnswering, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(pretrained_run)
    (root / "qa").mkdir()
    AutoModelForQuestionAnswering.from_pretrained(pretrained_run).save_pretrained(root / "qa")
    tok.save_pretrained(root / "qa")
    _fake_run(root / "qa", {"job": "finetune_qa", "pipeline_tag": "question-answering",
                            "metrics": {"per_language": {"all": {"f1": 0.25, "exact_match": 0.1, "n": 8}}}})
    shutil.copytree(tiny_seq2seq, root / "mt")
    _fake_run(root / "mt", {"job": "finetune_translation", "pipeline_tag": "translation",
                            "metrics": {"per_language": {"en-de": {"bleu": 1.0, "chrf": 10.0, "n": 4},
                                                         "all": {"bleu": 1.0, "chrf": 10.0, "n": 4}}}})
    return root


@pytest.fixture(scope="module")
def served(runs_root):
    registry = backend.Registry([runs_root], max_input_chars=300)
    demo = build_demo(registry, concurrency=2)
    demo.launch(server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, share=False,
                quiet=True)
    try:
        yield registry, Client(demo.local_url, verbose=False), demo
    finally:
        demo.close()


def test_model_picker_lists_runs_with_metrics(served):
    registry, client, _ = served
    table = client.predict(api_name="/runs")
    rows = {r[0]: r for r in table["data"]}
    assert set(rows) == {"sentiment", "pretrain", "qa", "mt"}
    assert rows["sentiment"][2] == "text-classification" and rows["sentiment"][4].startswith("accuracy ")
    assert rows["pretrain"][4].startswith("perplexity ") and rows["mt"][4].startswith("bleu ")


def test_training_curves_of_a_run(served):
    registry, client, _ = served
    assert registry.runs["sentiment"].record["metrics"]["loss_curve"]  # the run logged its loss
    plot = client.predict("sentiment", api_name="/curves")
    assert plot and plot["type"] == "matplotlib" and len(plot["plot"]) > 1000  # a rendered image
    assert client.predict("qa", api_name="/curves") is None  # a record with no curve: an empty plot, no error
    with pytest.raises(Exception, match="unknown run"):
        client.predict("../../etc", api_name="/curves")


def test_classify_explain_compare(served):
    registry, client, _ = served
    label, note = client.predict("sentiment", "Das Essen war kalt und der Kellner unfreundlich.", api_name="/classify")
    assert label["label"] in LABELS and len(label["confidences"]) == 3
    assert abs(sum(c["confidence"] for c in label["confidences"]) - 1) < 1e-4
    assert "German" in note and "training language" in note
    zero_shot = client.predict("sentiment", "Le service était lent et la soupe froide.", api_name="/classify")[1]
    assert "French" in zero_shot and "zero-shot" in zero_shot
    plot = client.predict("sentiment", "The soup was cold.", api_name="/explain")
    assert plot and "plot" in json.dumps(plot)
    tokens, drops, predicted = backend.token_attributions(registry, "sentiment", "The soup was cold.")
    assert len(tokens) == len(drops) > 2 and predicted in LABELS
    a, note_a, b, note_b = client.predict("sentiment", "sentiment", "Great value.", api_name="/compare")
    assert a["label"] == b["label"] and "sentiment" in note_a and "accuracy" in note_b
    # the pipeline was built once for every call above
    assert list(registry._pipelines).count(registry.runs["sentiment"].path) == 1


def test_fill_mask_translate_answer(served):
    import torch
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    registry, client, _ = served
    top = client.predict("pretrain", "Paris is the <mask> of France.", api_name="/fill_mask")
    assert len(top["confidences"]) == 5
    text = client.predict("mt", "Good morning", "en", "de", api_name="/translate")
    # the app tells the model the direction (this family: the target's <lang_de> tag first) and decodes greedily
    folder = registry.runs["mt"].path
    tok, model = AutoTokenizer.from_pretrained(folder), AutoModelForSeq2SeqLM.from_pretrained(folder).eval()
    with torch.no_grad():
        ids = model.generate(**tok("<lang_de> Good morning", return_tensors="pt"), num_beams=1, max_new_tokens=128)
    assert text and text == tok.decode(ids[0], skip_special_tokens=True).strip()
    context = "The museum is in the old town near the river."
    spans, answer = client.predict("qa", context, "Where is the museum?", api_name="/answer")
    assert "".join(s["token"] for s in spans) == context
    marked = [s["token"] for s in spans if s["class_or_confidence"] == "answer"]
    assert len(marked) == 1 and marked[0] in context and answer.startswith(marked[0])


def test_limits_and_path_traversal(served, runs_root, tmp_path):
    registry, client, _ = served
    with pytest.raises(Exception, match="limit is 300"):
        client.predict("sentiment", "x" * 301, api_name="/classify")
    with pytest.raises(Exception, match="empty"):
        client.predict("sentiment", "   ", api_name="/classify")
    with pytest.raises(Exception, match="unknown run"):  # the backend checks every run name the page sends
        client.predict("../sentiment", "hello", api_name="/classify")
    with pytest.raises(UserError, match="unknown run"):  # and for any other caller
        backend.classify(registry, "../sentiment", "hello")
    # a run outside the roots, reached by ../, an absolute path or a symlink, is refused
    outside = tmp_path / "outside"
    shutil.copytree(runs_root / "qa", outside)
    (runs_root / "link").symlink_to(outside, target_is_directory=True)
    for attempt in ["../" + outside.parent.name + "/outside", str(outside), "link", "sentiment/../../" + outside.name,
                    "/etc"]:
        with pytest.raises(Exception, match="not a run directory under the app's roots"):
            client.predict(attempt, api_name="/load_run")
    assert "link" not in registry.runs and not any(r.path == outside for r in registry.runs.values())
    # a run under the root loads
    (runs_root / "link").unlink()
    shutil.copytree(runs_root / "qa", runs_root / "more" / "qa2")
    table, note, *_ = client.predict("more/qa2", api_name="/load_run")
    assert "more/qa2" in note and "more/qa2" in [r[0] for r in table["data"]]


def test_empty_state_explains_quickstart(tmp_path):
    demo = build_demo(backend.Registry([tmp_path / "runs"]), concurrency=3)
    text = json.dumps(demo.config)
    assert "lingbridge quickstart" in text and "Classify" not in text
    assert demo._queue.default_concurrency_limit == 3 and demo._queue.max_size == 256  # a bounded queue


def test_feedback_loop_into_training(served, runs_root, tmp_path):
    registry, client, _ = served
    run = runs_root / "sentiment"
    rows = [("Terrible, it broke after a day.", "negative"), ("Absolutely wonderful service!", "positive"),
            ("Es ist in Ordnung, nichts Besonderes.", "neutral"), ("Die Lieferung kam viel zu spät.", "negative"),
            ("The food was fantastic.", "positive"), ("It is a phone.", "neutral")]
    for text, label in rows:
        predicted, _ = client.predict("sentiment", text, api_name="/classify")
        status = client.predict("sentiment", text, predicted, label, api_name="/flag")
        assert "feedback.jsonl" in status
    client.predict("sentiment", "no label given", None, None, api_name="/flag")
    with pytest.raises(Exception, match="not one of this model's labels"):  # the run's labels only
        client.predict("sentiment", "x", None, "angry", api_name="/flag")
    with pytest.raises(UserError, match="not one of this model's labels"):
        registry.add_feedback(registry.runs["sentiment"], "x", "negative", "angry")
    saved = [json.loads(line) for line in (run / "feedback.jsonl").read_text().splitlines()]
    assert [(r["text"], r["label"]) for r in saved] == rows
    assert {r["lang"] for r in saved} <= {"en", "de"}
    assert json.loads((run / "feedback_unlabelled.jsonl").read_text())["label"] is None
    # the next iteration trains on the flags: the recipe reads feedback.jsonl as --train_file
    out, dev = tmp_path / "next", tmp_path / "dev.jsonl"
    dev.write_text("".join(json.dumps({"text": t, "label": lab, "lang": "en"}) + "\n" for t, lab in [
        ("Worst purchase I ever made.", "negative"), ("It arrived on Tuesday.", "neutral"), ("Lovely staff.", "positive")]))
    finetune_classification.main([
        "--config", config("finetune_classification"), "--model_name_or_path", str(run),
        "--train_file", str(run / "feedback.jsonl"), "--validation_file", str(dev),
        "--label_list", *LABELS, "--output_dir", str(out), "--max_steps", "2", "--eval_strategy", "no",
        "--save_strategy", "no", "--load_best_model_at_end", "false", "--disable_tqdm", "true"])
    record = read_record(out)
    assert record["rows"]["train"] == len(rows) and record["label_names"] == LABELS
    assert record["data_sources"][0]["name"] == str((run / "feedback.jsonl").resolve())


@pytest.fixture(scope="module")
def json_server(runs_root):
    """`lingbridge app`'s server as main() builds it (page + JSON API on one uvicorn), in a thread."""
    import threading
    import time

    from lingbridge.app.app import server

    registry = backend.Registry([runs_root], max_input_chars=300)
    registry.warm_up(background=False)
    port = free_port()
    srv = server(build_demo(registry), registry, "127.0.0.1", port)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert srv.started
    try:
        yield registry, f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        thread.join(timeout=30)


def test_json_api_classifies_like_the_page(json_server):
    import httpx

    registry, url = json_server
    text = "Das Essen war kalt und der Kellner unfreundlich."
    r = httpx.post(f"{url}/api/v1/classify", json={"run": "sentiment", "text": text})
    assert r.status_code == 200, r.text
    body = r.json()
    page, _ = backend.classify(registry, "sentiment", text)
    assert body["run"] == "sentiment" and body["language"] == "de" and body["label"] == max(page, key=page.get)
    assert body["scores"] == pytest.approx(page, abs=1e-5)
    assert {row["run"] for row in httpx.get(f"{url}/api/v1/runs").json()} >= {"sentiment", "mt"}
    assert httpx.get(f"{url}/").status_code == 200  # the page is served beside it


def test_json_api_concurrent_requests_share_batches(json_server):
    """Texts of every length up to the cap from 16 threads at once: each gets its own text's answer."""
    from concurrent.futures import ThreadPoolExecutor

    import httpx

    registry, url = json_server
    texts = [("Great value. " * 30)[:n].strip() or "a" for n in range(10, 301, 18)]

    def ask(text):
        return httpx.post(f"{url}/api/v1/classify", json={"run": "sentiment", "text": text}, timeout=60).json()

    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(ask, texts))
    for text, body in zip(texts, answers):
        alone = backend.predict_label(registry, "sentiment", text)[2]
        assert body["scores"] == pytest.approx(alone, abs=1e-4), text


@pytest.mark.parametrize("payload, status, message", [
    ({"run": "sentiment", "text": ""}, 400, "is empty"),
    ({"run": "sentiment", "text": "\x00\u200b\t"}, 400, "is empty"),
    ({"run": "sentiment", "text": "x" * 301}, 400, "the limit is 300"),
    ({"run": "../../etc", "text": "hello"}, 404, "unknown run"),
    ({"run": "mt", "text": "hello"}, 400, "not text-classification"),
    ({"run": "sentiment", "text": 5}, 400, 'string fields "run" and "text"'),
    ([1, 2], 400, 'string fields "run" and "text"'),
    (b"{not json", 400, "must be JSON"),
    (b"\xff\xfe", 400, "must be JSON"),
    ({"run": "sentiment", "text": "y" * 70000}, 413, "over 64 KB"),
])
def test_json_api_refuses_bad_requests(json_server, payload, status, message):
    import httpx

    _, url = json_server
    kwargs = {"content": payload} if isinstance(payload, bytes) else {"json": payload}
    r = httpx.post(f"{url}/api/v1/classify", **kwargs)
    assert r.status_code == status and message in r.json()["error"], r.text


def test_json_api_counts_a_chunked_body(json_server):
    """A body without Content-Length is counted as it arrives and cut off at 64 KB."""
    import httpx

    _, url = json_server

    def chunks():
        for _ in range(100):
            yield b"x" * 4096

    r = httpx.post(f"{url}/api/v1/classify", content=chunks())
    assert r.status_code == 413 and "over 64 KB" in r.json()["error"]


def test_json_api_body_limit_follows_a_larger_input_cap(runs_root):
    """`--max_input_chars 20000`: a 15,000-character text (90 KB of escaped JSON) is read, not refused as too big."""
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from lingbridge.app.app import json_api

    registry = backend.Registry([runs_root], max_input_chars=20000)
    api = FastAPI()
    api.include_router(json_api(registry))
    text = "é" * 15000  # sent as \u00e9: 6 bytes a character
    body = json.dumps({"run": "sentiment", "text": text}).encode()  # ensure_ascii: \u00e9
    assert len(body) > 64 * 1024
    r = TestClient(api).post("/api/v1/classify", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 200 and r.json()["label"] in LABELS, r.text
