"""A bounded load test of the app on loopback: 200 classification requests from 20 concurrent
gradio_client clients through the queue; no errors, and the p50/p95 latency is printed (`-s`).

    python -m pytest -q -s -m slow tests/test_app_load.py
"""

import json
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

CLIENTS, REQUESTS = 20, 200
TEXTS = ["The soup was cold and the waiter was rude.", "Das Hotel war wunderbar.", "服务很好，我很满意。",
         "Le film était ennuyeux.", "Great value for the price."]


@pytest.mark.slow
def test_load_200_requests_20_clients(pretrained_run, tmp_path):
    root = tmp_path / "runs"
    finetune_classification.main([
        "--config", config("finetune_classification", "sentiment_tiny"), "--model_name_or_path", str(pretrained_run), "--output_dir",
        str(root / "sentiment"), "--max_steps", "4", "--eval_strategy", "no", "--save_strategy", "no",
        "--load_best_model_at_end", "false", "--disable_tqdm", "true"])
    registry = backend.Registry([root])
    demo = build_demo(registry, concurrency=2)
    demo.launch(server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True)
    latencies, errors = [], []
    lock = threading.Lock()
    try:
        Client(demo.local_url, verbose=False).predict("sentiment", "warm up", api_name="/classify")

        def user(i: int):
            client = Client(demo.local_url, verbose=False)
            for k in range(REQUESTS // CLIENTS):
                start = time.perf_counter()
                try:
                    label, _ = client.predict("sentiment", TEXTS[(i + k) % len(TEXTS)], api_name="/classify")
                    assert label["label"] in registry.runs["sentiment"].record["label_names"]
                except Exception as err:  # noqa: BLE001 - every failure counts
                    with lock:
                        errors.append(repr(err))
                    continue
                with lock:
                    latencies.append(time.perf_counter() - start)

        started = time.perf_counter()
        threads = [threading.Thread(target=user, args=(i,)) for i in range(CLIENTS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=600)
        wall = time.perf_counter() - started
    finally:
        demo.close()
    assert errors == [] and len(latencies) == REQUESTS
    q = statistics.quantiles(latencies, n=100)
    report = {"requests": REQUESTS, "clients": CLIENTS, "errors": len(errors), "p50_s": round(q[49], 3),
              "p95_s": round(q[94], 3), "max_s": round(max(latencies), 3), "throughput_rps": round(REQUESTS / wall, 1)}
    print("\napp load test:", json.dumps(report))
