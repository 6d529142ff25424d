"""Vision modules: data loaders, models, metrics, and the three recipes end to end on the bundled digits
(tiny configs, seconds each), plus the functions the app calls."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest
import torch

from conftest import SHARED_DATASETS, config, recipe, run_cli
from lingbridge.errors import UserError
from lingbridge.vision.data import VisionDataArguments, augment, load_images, read_idx


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Small convolutions gain nothing from intra-op threads, and on a shared 2-core machine OpenMP's
    spin-waiting made them ~40× slower (measured: 51 vs 2,261 images/s for the tiny CNN)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


ONE_THREAD = {"OMP_NUM_THREADS": "1"}


# ---- data --------------------------------------------------------------------------------------------

def write_idx(path, array: np.ndarray, compress: bool):
    codes = {np.dtype(np.uint8): 0x08}
    raw = bytes([0, 0, codes[array.dtype], array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    raw += array.tobytes()
    path.write_bytes(gzip.compress(raw) if compress else raw)
    return str(path)


@pytest.mark.parametrize("compress", [True, False])
def test_idx_files_load(tmp_path, compress):
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 256, (30, 28, 28), dtype=np.uint8), (np.arange(30) % 3).astype(np.uint8)
    args = VisionDataArguments(train_images=write_idx(tmp_path / "x", x, compress),
                               train_labels=write_idx(tmp_path / "y", y, compress), test_split_percentage=20)
    assert np.array_equal(read_idx(args.train_images), x)
    data = load_images(args)
    assert data.train_x.shape[1:] == (1, 28, 28) and len(data.train_y) + len(data.test_y) == 30
    assert data.label_names == ["0", "1", "2"] and 0 <= data.train_x.min() and data.train_x.max() <= 1
    assert sorted(torch.bincount(data.test_y).tolist()) == [2, 2, 2]  # stratified hold-out


def test_bad_idx_is_a_user_error(tmp_path):
    (tmp_path / "bad").write_bytes(b"not an idx file at all")
    with pytest.raises(UserError, match="not an IDX file"):
        read_idx(tmp_path / "bad")
    x = write_idx(tmp_path / "x", np.zeros((5, 4, 4), np.uint8), True)
    y = write_idx(tmp_path / "y", np.zeros(4, np.uint8), True)
    with pytest.raises(UserError, match="5 images but .* 4 labels"):
        load_images(VisionDataArguments(train_images=x, train_labels=y))
    with pytest.raises(UserError, match="file not found"):
        VisionDataArguments(train_images="/nonexistent.gz", train_labels=y)


def test_image_folder_loads(tmp_path):
    from PIL import Image

    for split, n in (("train", 4), ("test", 2)):
        for k, name in enumerate(["cat", "dog"]):
            folder = tmp_path / split / name
            folder.mkdir(parents=True)
            for i in range(n):
                Image.fromarray(np.full((20 + i, 24, 3), 60 * k + i, np.uint8)).save(folder / f"{i}.png")
    data = load_images(VisionDataArguments(dataset_name=str(tmp_path), image_size=12, channels=3))
    assert data.label_names == ["cat", "dog"] and data.test_split == "the dataset's test split"
    assert data.train_x.shape == (8, 3, 12, 12) and data.test_x.shape == (4, 3, 12, 12)


def test_digits_default_and_augmentation():
    args = VisionDataArguments(image_size=16, augment_rotation=15, augment_translate=0.1, augment_crop_padding=2)
    data = load_images(args)
    assert data.train_x.shape[1:] == (1, 16, 16) and len(data.train_y) + len(data.test_y) == 1797
    assert data.sources[0]["name"] == "sklearn:digits" and len(data.label_names) == 10
    out = augment(data.train_x[:8], args, torch.Generator().manual_seed(0))
    assert out.shape == (8, 1, 16, 16) and not torch.allclose(out, data.train_x[:8])
    assert augment(data.train_x[:8], VisionDataArguments()) is not None


def test_hub_id_offline_is_one_line_error():
    with pytest.raises(UserError, match="could not load it from the Hub"):
        load_images(VisionDataArguments(dataset_name="ylecun/mnist"))


@pytest.mark.skipif(not (SHARED_DATASETS / "mnist").is_dir(), reason="shared MNIST test files absent")
def test_real_mnist_idx():
    m = SHARED_DATASETS / "mnist"
    data = load_images(VisionDataArguments(train_images=str(m / "t10k-images-idx3-ubyte.gz"),
                                           train_labels=str(m / "t10k-labels-idx1-ubyte.gz"), max_train_samples=100))
    assert data.train_x.shape == (100, 1, 28, 28) and data.sources[0]["rows"] == 10000


# ---- models and metrics ------------------------------------------------------------------------------

def test_cnn_flatten_size_follows_the_input():
    from lingbridge.vision.models import SmallCNN, cnn_flat_size

    assert cnn_flat_size(1, 28) == 64 * 5 * 5  # not the 64·6·6 of broken copies
    assert SmallCNN(1, 28).fc1.in_features == 1600 and SmallCNN(3, 32).fc1.in_features == 64 * 6 * 6
    assert SmallCNN(1, 28)(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
    with pytest.raises(UserError, match="too small"):
        cnn_flat_size(1, 8)


def test_frechet_distance_and_confidence():
    from lingbridge.vision.metrics import confident_share, frechet_distance

    rng = np.random.default_rng(0)
    a = rng.normal(size=(2000, 4))
    assert frechet_distance(a, a) == pytest.approx(0, abs=1e-6)
    assert frechet_distance(a, a + 3) == pytest.approx(4 * 9, rel=1e-3)  # ‖Δμ‖² with equal covariances
    assert confident_share(np.array([[0.95, 0.05], [0.6, 0.4]])) == 0.5


# ---- recipes end to end ------------------------------------------------------------------------------

FAST = ["--per_device_eval_batch_size", "512", "--disable_tqdm", "true"]


@pytest.fixture(scope="module")
def cnn_run(tmp_path_factory):
    from lingbridge.recipes import train_cnn

    out = tmp_path_factory.mktemp("vision") / "cnn"
    train_cnn.main(["--config", config("train_cnn"), "--output_dir", str(out), "--num_train_epochs", "3", *FAST])
    return out


def test_cnn_learns_and_writes_the_run(cnn_run):
    rec = json.loads((cnn_run / "lingbridge_run.json").read_text())
    assert rec["job"] == "train_cnn" and rec["task"] == rec["pipeline_tag"] == "image-classification"
    assert rec["label_names"] == [str(i) for i in range(10)]
    m = rec["metrics"]
    assert m["test_accuracy"] > 0.8, m["test_accuracy"]  # chance is 0.1
    assert m["last_loss"] < m["first_loss"] and m["epochs_run"] == 3
    assert set(m["per_class"]["3"]) == {"precision", "recall", "f1", "n"}
    for name in ("model.safetensors", "vision_model.json", "confusion_matrix.png", "training.png", "README.md"):
        assert (cnn_run / name).is_file(), name
    assert not list(cnn_run.glob("checkpoint-*"))


def test_app_functions_classify(cnn_run):
    from sklearn.datasets import load_digits

    from lingbridge.vision import classify_images, load_vision_run

    run = load_vision_run(cnn_run)
    digits = load_digits()
    probs = classify_images(run, [digits.images[i] / 16 for i in range(-60, 0)])
    assert probs.shape == (60, 10) and np.allclose(probs.sum(1), 1, atol=1e-5)
    assert (probs.argmax(1) == digits.target[-60:]).mean() > 0.7
    # a dark-on-white drawing on a large canvas (what a sketch pad sends) is inverted and framed
    drawn = [np.pad(1 - np.kron(digits.images[i] / 16, np.ones((12, 12))), 30, constant_values=1.0) for i in range(-60, 0)]
    probs = classify_images(run, [(d * 255).astype(np.uint8) for d in drawn])
    assert (probs.argmax(1) == digits.target[-60:]).mean() > 0.5


def test_cnn_resume_continues_from_the_checkpoint(tmp_path):
    from lingbridge.recipes import train_cnn

    first = train_cnn.main(["--config", config("train_cnn"), "--output_dir", str(tmp_path / "a"), "--num_train_epochs", "1",
                            "--keep_checkpoints", "true", *FAST])
    partial = tmp_path / "b.partial"
    first.rename(partial)  # stand-in for a run killed after its first epoch
    (partial / "lingbridge_run.json").unlink()
    res = run_cli([*recipe("train_cnn"), "--config", config("train_cnn"), "--output_dir", str(tmp_path / "b"),
                   "--num_train_epochs", "2", "--resume", "true", *FAST], env=ONE_THREAD)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "resuming from" in res.stdout and "epoch 1:" not in res.stdout and "epoch 2:" in res.stdout
    rec = json.loads((tmp_path / "b" / "lingbridge_run.json").read_text())
    assert [e["epoch"] for e in rec["metrics"]["epochs"]] == [1, 2]


def test_gan_improves_and_generates(tmp_path, cnn_run):
    from lingbridge.recipes import train_gan
    from lingbridge.vision import generate_images, load_vision_run

    out = train_gan.main(["--config", config("train_gan"), "--output_dir", str(tmp_path / "gan"), "--num_train_epochs", "2",
                          "--classifier_run", str(cnn_run), "--eval_samples", "300", *FAST])
    rec = json.loads((out / "lingbridge_run.json").read_text())
    m = rec["metrics"]
    assert rec["job"] == "train_gan" and rec["task"] == "unconditional-image-generation"
    assert m["frechet_distance"] < m["initial_frechet_distance"], m
    assert m["confident_share"] >= m["initial_confident_share"]
    assert [e["epoch"] for e in m["epochs"]] == [0, 1, 2] and "d_loss" in m["epochs"][1]
    for name in ("generator.safetensors", "discriminator.safetensors", "samples_epoch_000.png", "samples_epoch_002.png"):
        assert (out / name).is_file(), name
    images = generate_images(load_vision_run(out), 5, seed=0)
    assert images.shape == (5, 16, 16) and 0 <= images.min() and images.max() <= 1
    with pytest.raises(UserError, match="unconditional"):
        generate_images(load_vision_run(out), 2, label=3)


def test_conditional_gan_trains_its_own_evaluator(tmp_path):
    from lingbridge.recipes import train_gan
    from lingbridge.vision import generate_images, load_vision_run

    out = train_gan.main(["--config", config("train_gan"), "--output_dir", str(tmp_path / "cgan"), "--num_train_epochs", "1",
                          "--conditional", "true", "--classifier_epochs", "1", "--eval_samples", "100",
                          "--max_train_samples", "640", *FAST])
    rec = json.loads((out / "lingbridge_run.json").read_text())
    assert rec["conditional"] and rec["label_names"][3] == "3" and "class_match" in rec["metrics"]
    assert rec["metrics"]["evaluator"]["source"] == "trained in this run"
    run = load_vision_run(out)
    assert generate_images(run, 4, label="3", seed=1).shape == (4, 16, 16)


def test_vae_learns_and_detects_the_held_out_class(tmp_path):
    from lingbridge.recipes import train_vae
    from lingbridge.vision import generate_images, load_vision_run

    out = train_vae.main(["--config", config("train_vae"), "--output_dir", str(tmp_path / "vae"), "--num_train_epochs", "5",
                          *FAST])
    rec = json.loads((out / "lingbridge_run.json").read_text())
    m = rec["metrics"]
    assert rec["job"] == "train_vae"
    assert m["epochs"][-1]["test_negative_elbo"] < m["epochs"][0]["test_negative_elbo"]
    assert m["test_negative_elbo_nats"] == pytest.approx(m["test_reconstruction_nats"] + m["test_kl_nats"], abs=0.01)
    assert m["anomaly"]["class"] == "0" and m["anomaly"]["roc_auc"] > 0.75, m["anomaly"]
    assert rec["rows"]["train"] < 1797 * 0.8  # the held-out class is not trained on
    for name in ("model.safetensors", "reconstructions.png", "samples.png", "interpolations.png"):
        assert (out / name).is_file(), name
    assert generate_images(load_vision_run(out), 3, seed=0).shape == (3, 16, 16)


# ---- bad input -------------------------------------------------------------------------------------

@pytest.mark.parametrize("job,args,match", [
    ("train_cnn", ["--image_size", "8"], "too small for the CNN"),
    ("train_cnn", ["--channels", "2"], "channels must be 1 or 3"),
    ("train_cnn", ["--dataset_name", "no/such/place"], "is not 'sklearn:digits'"),
    ("train_vae", ["--anomaly_class", "x"], "anomaly_class 'x' is not a label"),
    ("train_gan", ["--classifier_run", "/tmp"], "not a finished train_cnn run"),
    ("train_gan", ["--image_size", "18"], "divisible by 4"),
])
def test_bad_input_exits_2_and_writes_nothing(tmp_path, capsys, job, args, match):
    import importlib

    out = tmp_path / "run"
    main = importlib.import_module(f"lingbridge.recipes.{job}").main  # in-process: the same entry point, no start-up cost
    with pytest.raises(SystemExit) as exit_info:
        main(["--config", config(job), "--output_dir", str(out), *args])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and match in err and err.startswith("error: ") and len(err.strip().splitlines()) == 1
    assert not out.exists() and not (tmp_path / "run.partial").exists()
