"""A bounded load test of the app on loopback, as stakeholders would hit it: 20 concurrent gradio_client
clients send 200 classification requests through the queue, with texts of every length up to the cap and a
share of invalid requests (empty, control characters only, over the cap, an unknown run). Every valid request
gets a label, every invalid one its own message, and the server raises nothing else. The first request after
start-up, latency p50/p95 and throughput are printed (`-s`); the figures live in benchmarks/README.md, never in
an assertion.

    python -m pytest -q -s -m slow tests/test_app_load.py
"""

import json
import random
import statistics
import threading
import time

import pytest

pytest.importorskip("gradio")
from gradio_client import Client  # noqa: E402

from conftest import config  # noqa: E402
from lingbridge.app import backend  # noqa: E402
from lingbridge.app.app import build_demo  # noqa: E402
from lingbridge.recipes import finetune_classification  # noqa: E402
from test_app import free_port  # noqa: E402

CLIENTS, REQUESTS, CAP = 20, 200, 2000
WORDS = ["The soup was cold and the waiter was rude.", "Das Hotel war wunderbar.", "服务很好，我很满意。",
         "Le film était ennuyeux.", "Great value for the price."]
INVALID = {"": "is empty", "\x00\x01\u200b\t ": "is empty", "x" * (CAP + 1): "limit is"}


def texts_of_every_length(n: int, seed: int = 0) -> list[str]:
    """Valid texts from 1 character to the cap (multilingual, repeated sentences cut to length)."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        length = 1 + (i * (CAP - 1)) // max(n - 1, 1)
        text = " ".join(rng.choice(WORDS) for _ in range(length // 10 + 1))[:length]
        out.append(text.strip() or "a")
    return out


@pytest.fixture(scope="module")
def runs(pretrained_run, tmp_path_factory):
    root = tmp_path_factory.mktemp("load") / "runs"
    finetune_classification.main([
        "--config", config("finetune_classification", "sentiment_tiny"), "--model_name_or_path", str(pretrained_run),
        "--output_dir", str(root / "sentiment"), "--max_steps", "4", "--eval_strategy", "no", "--save_strategy", "no",
        "--load_best_model_at_end", "false", "--disable_tqdm", "true"])
    return root


@pytest.mark.slow
def test_load_200_requests_20_clients(runs, capfd):
    registry = backend.Registry([runs], max_input_chars=CAP)
    registry.warm_up()  # as `lingbridge app` does: the models load while the server starts
    demo = build_demo(registry, concurrency=2)
    demo.launch(server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True)
    valid = texts_of_every_length(REQUESTS)
    latencies, user_errors, server_errors = [], [], []
    lock = threading.Lock()
    try:
        t0 = time.perf_counter()
        Client(demo.local_url, verbose=False).predict("sentiment", "The first request.", api_name="/classify")
        first = time.perf_counter() - t0  # includes the client's own connection set-up

        def user(i: int):
            client = Client(demo.local_url, verbose=False)
            for k in range(REQUESTS // CLIENTS):
                n = i * (REQUESTS // CLIENTS) + k
                run, text, expect = "sentiment", valid[n], None
                if n % 10 == 3:  # one request in ten is a mistake
                    text, expect = list(INVALID.items())[n % len(INVALID)]
                elif n % 10 == 7:
                    run, expect = "no-such-run", "unknown run"
                start = time.perf_counter()
                try:
                    label, _ = client.predict(run, text, api_name="/classify")
                    elapsed = time.perf_counter() - start
                    with lock:
                        if expect is not None:
                            server_errors.append(f"accepted an invalid request ({expect})")
                        elif label["label"] not in registry.runs["sentiment"].record["label_names"]:
                            server_errors.append(f"bad answer {label}")
                        else:
                            latencies.append(elapsed)
                except Exception as err:  # noqa: BLE001 - every failure is sorted below
                    with lock:
                        (user_errors if expect and any(e in str(err) for e in expect.split("|")) else server_errors).append(repr(err)[:200])

        started = time.perf_counter()
        threads = [threading.Thread(target=user, args=(i,)) for i in range(CLIENTS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=600)
        wall = time.perf_counter() - started
    finally:
        demo.close()
    logs = capfd.readouterr()
    assert server_errors == [], server_errors[:5]
    assert len(user_errors) == REQUESTS // 5 and len(latencies) == REQUESTS - REQUESTS // 5
    assert "Traceback" not in logs.out + logs.err
    q = statistics.quantiles(latencies, n=100)
    report = {"requests": REQUESTS, "clients": CLIENTS, "valid": len(latencies), "invalid_answered": len(user_errors),
              "server_errors": len(server_errors), "first_request_s": round(first, 3), "p50_s": round(q[49], 3),
              "p95_s": round(q[94], 3), "max_s": round(max(latencies), 3), "throughput_rps": round(REQUESTS / wall, 1)}
    with capfd.disabled():
        print("\napp load test:", json.dumps(report))
