"""A bounded load test of the app on loopback, as stakeholders would hit it: the app started as users start it
(`lingbridge app RUN`, its own process), then 20 concurrent clients send 200
classification requests, through the page's queue and through the JSON API beside it, with texts of every length up to the cap and a share of invalid
requests (empty, control characters only, over the cap, an unknown run). Every valid request gets a label,
every invalid one its own message, and the server logs no traceback. The first request as soon as the port
answers (the model must already be loaded),
latency p50/p95 and throughput are printed (`-s`); the figures live in benchmarks/README.md, never in an
assertion.

The clients speak Gradio's HTTP call API (`POST /gradio_api/call/classify`, then read the event stream), as
curl, JavaScript or any other language does, each with its own session as a browser tab has: the latency is
the server's. (`gradio_client` itself polls its event queue every 50 ms, which would put a 50-100 ms floor
under every figure; tests/test_app.py drives the same endpoint with it.)

    python -m pytest -q -s -m slow tests/test_app_load.py
    LINGBRIDGE_LOAD_REQUESTS=1000 python -m pytest -q -s -m slow tests/test_app_load.py -k json
"""

import json
import os
import random
import socket
import subprocess
import sys
import statistics
import threading
import time
import uuid

import pytest

pytest.importorskip("gradio")
import httpx  # noqa: E402

from conftest import config  # noqa: E402
from lingbridge.recipes import finetune_classification  # noqa: E402
from test_app import free_port  # noqa: E402

CLIENTS, CAP = 20, 2000
REQUESTS = int(os.environ.get("LINGBRIDGE_LOAD_REQUESTS", 200))  # more for steadier percentiles (a multiple of 20)
WORDS = ["The soup was cold and the waiter was rude.", "Das Hotel war wunderbar.", "服务很好，我很满意。",
         "Le film était ennuyeux.", "Great value for the price."]
INVALID = {"": "is empty", "\x00\x01\u200b\t ": "is empty", "x" * (CAP + 1): "limit is"}


def call(http: httpx.Client, url: str, session: str, run: str, text: str):
    """One request through the queue, as the call API has it: (label dict, None) or (None, error message)."""
    posted = http.post(f"{url}gradio_api/call/classify", json={"data": [run, text], "session_hash": session})
    posted.raise_for_status()
    stream = http.get(f"{url}gradio_api/call/classify/{posted.json()['event_id']}")
    event = data = None
    for line in stream.text.splitlines():
        if line.startswith("event: "):
            event = line[len("event: "):]
        elif line.startswith("data: ") and event in ("complete", "error"):
            data = json.loads(line[len("data: "):])
            break
    if event == "complete":
        return data[0], None
    return None, str(data)


def call_json(http: httpx.Client, url: str, session: str, run: str, text: str):
    """One request on the JSON API (no queue, no session): the same (label dict, None) or (None, message)."""
    r = http.post(f"{url}api/v1/classify", json={"run": run, "text": text})
    if r.status_code == 200:
        return r.json(), None
    assert r.status_code in (400, 404), r.text  # a user mistake, never a 5xx
    return None, r.json()["error"]


PATHS = {"page": call, "json": call_json}


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


def wait_for_port(port: int, proc, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the app exited"
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {port} after {timeout} s")


@pytest.mark.slow
@pytest.mark.parametrize("path", PATHS)
def test_load_200_requests_20_clients(runs, tmp_path, path):
    """`page`: Gradio's call API, as the page's Classify button; `json`: POST /api/v1/classify on the same server."""
    call = PATHS[path]
    port = free_port()
    log = open(tmp_path / "app.log", "w+")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    proc = subprocess.Popen([sys.executable, "-c", "from lingbridge.cli import main; main()", "app",
                             str(runs / "sentiment"), "--roots", str(runs), "--port", str(port),
                             "--max_input_chars", str(CAP)], stdout=log, stderr=subprocess.STDOUT, env=env)
    labels = json.loads((runs / "sentiment" / "lingbridge_run.json").read_text())["label_names"]
    valid = texts_of_every_length(REQUESTS)
    latencies, user_errors, server_errors = [], [], []
    lock = threading.Lock()
    try:
        wait_for_port(port, proc)
        url = f"http://127.0.0.1:{port}/"
        with httpx.Client(timeout=60) as http:
            t0 = time.perf_counter()
            label, err = call(http, url, uuid.uuid4().hex, "sentiment", "The first request.")
            first = time.perf_counter() - t0  # includes the connection set-up and a new session
        assert err is None and label["label"] in labels, err

        def user(i: int):
            http, session = httpx.Client(timeout=60), uuid.uuid4().hex
            for k in range(REQUESTS // CLIENTS):
                n = i * (REQUESTS // CLIENTS) + k
                run, text, expect = "sentiment", valid[n], None
                if n % 10 == 3:  # one request in ten is a mistake
                    text, expect = list(INVALID.items())[n % len(INVALID)]
                elif n % 10 == 7:
                    run, expect = "no-such-run", "unknown run"
                start = time.perf_counter()
                try:
                    label, message = call(http, url, session, run, text)
                    elapsed = time.perf_counter() - start
                    with lock:
                        if label is None:
                            ok = expect and any(e in message for e in expect.split("|"))
                            (user_errors if ok else server_errors).append(message[:200])
                        elif expect is not None:
                            server_errors.append(f"accepted an invalid request ({expect})")
                        elif label["label"] not in labels:
                            server_errors.append(f"bad answer {label}")
                        else:
                            latencies.append(elapsed)
                except Exception as err:  # noqa: BLE001 - a transport failure is the server's
                    with lock:
                        server_errors.append(repr(err)[:200])
            http.close()

        started = time.perf_counter()
        threads = [threading.Thread(target=user, args=(i,)) for i in range(CLIENTS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=600)
        wall = time.perf_counter() - started
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    log.seek(0)
    logs = log.read()
    assert server_errors == [], server_errors[:5]
    assert len(user_errors) == REQUESTS // 5 and len(latencies) == REQUESTS - REQUESTS // 5
    assert "Traceback" not in logs, logs[-3000:]
    q = statistics.quantiles(latencies, n=100)
    report = {"path": path, "requests": REQUESTS, "clients": CLIENTS, "valid": len(latencies), "invalid_answered": len(user_errors),
              "server_errors": len(server_errors), "first_request_s": round(first, 3), "p50_s": round(q[49], 3),
              "p95_s": round(q[94], 3), "max_s": round(max(latencies), 3), "throughput_rps": round(REQUESTS / wall, 1)}
    print("\napp load test:", json.dumps(report))
