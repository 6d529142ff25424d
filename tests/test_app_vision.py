"""The app's Images tab on real vision runs: classify an upload and a drawing, generate by class."""

import numpy as np
import pytest

pytest.importorskip("gradio")
from gradio_client import Client  # noqa: E402

from conftest import config  # noqa: E402
from test_app import free_port  # noqa: E402

FAST = ["--per_device_eval_batch_size", "512", "--disable_tqdm", "true"]


@pytest.fixture(scope="module")
def vision_app(tmp_path_factory):
    import torch

    from lingbridge.app import backend
    from lingbridge.app.app import build_demo
    from lingbridge.recipes import train_cnn, train_gan

    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("vision_runs")
    train_cnn.main(["--config", config("train_cnn"), "--output_dir", str(root / "cnn"), "--num_train_epochs", "2", *FAST])
    train_gan.main(["--config", config("train_gan"), "--output_dir", str(root / "cgan"), "--num_train_epochs", "1",
                    "--conditional", "true", "--classifier_run", str(root / "cnn"), "--eval_samples", "64",
                    "--max_train_samples", "320", *FAST])
    registry = backend.Registry([root])
    demo = build_demo(registry, concurrency=2)
    demo.launch(server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, share=False, quiet=True)
    try:
        yield registry, Client(demo.local_url, verbose=False)
    finally:
        demo.close()


def test_classify_upload_and_drawing(vision_app, tmp_path):
    from PIL import Image
    from gradio_client import handle_file
    from sklearn.datasets import load_digits

    registry, client = vision_app
    cnn = next(n for n, r in registry.runs.items() if r.record["job"] == "train_cnn")
    digits = load_digits()
    seven = (digits.images[digits.target == 7][0] * 255 / 16).astype(np.uint8)
    path = tmp_path / "seven.png"
    Image.fromarray(seven).resize((64, 64)).save(path)
    out = client.predict(cnn, handle_file(str(path)), api_name="/classify_image")
    assert {c["label"] for c in out["confidences"]} == {str(i) for i in range(10)}
    # a drawing arrives as the sketchpad's layers; dark strokes on white, as people draw
    canvas = np.full((64, 64, 3), 255, np.uint8)
    canvas[10:54, 30:36] = 0  # a "1"
    Image.fromarray(canvas).save(tmp_path / "one.png")
    drawing = {"background": None, "layers": [], "composite": handle_file(str(tmp_path / "one.png"))}
    out = client.predict(cnn, drawing, api_name="/classify_drawing")
    assert len(out["confidences"]) == 10


def test_generate_by_class(vision_app):
    registry, client = vision_app
    gan = next(n for n, r in registry.runs.items() if r.record["job"] == "train_gan")
    from lingbridge.app import backend

    assert backend.vision_classes(registry, gan) == [str(i) for i in range(10)]
    images = client.predict(gan, 4, "3", api_name="/generate")
    assert len(images) == 4
    with pytest.raises(Exception, match="not one this run generates"):
        client.predict(gan, 2, "cat", api_name="/generate")
