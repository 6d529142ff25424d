"""What the app (and any script) calls to use a vision run directory: load once, classify, generate."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import UserError

JOBS = ("train_cnn", "train_gan", "train_vae")


@dataclass
class VisionRun:
    """A loaded vision run: its record, rebuilt models (eval mode) and preprocessing."""

    path: Path
    record: dict
    models: dict
    preprocess: dict

    @property
    def job(self) -> str:
        return self.record["job"]

    @property
    def label_names(self) -> list[str]:
        return list(self.record.get("label_names") or [])

    @property
    def conditional(self) -> bool:
        return bool(self.record.get("conditional"))

    @property
    def image_size(self) -> int:
        return int(self.preprocess["image_size"])

    @property
    def channels(self) -> int:
        return int(self.preprocess["channels"])


def load_vision_run(run_dir: str | Path, device: str = "cpu") -> VisionRun:
    """Load a finished train_cnn / train_gan / train_vae run directory (safetensors only).

    Args:
        run_dir: the run directory (it holds `lingbridge_run.json` and `vision_model.json`).
        device: where the models live ("cpu", "cuda").

    Raises:
        UserError: not a run directory, or a run of another job.
    """
    from ..record import read_record
    from .models import load_models

    record = read_record(run_dir)
    if record.get("job") not in JOBS:
        raise UserError(f"{run_dir} is a '{record.get('job')}' run; expected one of {', '.join(JOBS)}")
    models, preprocess = load_models(run_dir, device)
    return VisionRun(Path(run_dir), record, models, preprocess)


def prepare_images(images, image_size: int, channels: int = 1, invert: bool | None = None, fit_to_box: bool = True,
                   fill: float = 20 / 28):
    """User images → float tensor (N, C, size, size) in [0, 1], bright strokes on a dark background (as MNIST).

    Args:
        images: one image or a list: PIL images, numpy arrays (H×W, H×W×3, H×W×4; uint8 0-255 or float 0-1) or
            file paths. Transparent pixels count as white paper (a drawing pad's background).
        invert: turn dark-on-light drawings into light-on-dark; None decides per image from the mean brightness.
        fit_to_box: crop to the strokes and centre them so that they span `fill` of the frame, as the
            training images do (MNIST: 20 px of 28; the run stores its value).
    """
    import torch

    from .data import to_tensor

    if isinstance(images, (np.ndarray, str, Path)) and not (isinstance(images, np.ndarray) and images.ndim == 4) \
            or hasattr(images, "convert"):
        images = [images]
    out = []
    for im in images:
        if isinstance(im, (str, Path)):
            from PIL import Image

            im = Image.open(im)
        a = np.asarray(im.convert("RGBA") if hasattr(im, "convert") else im).astype(np.float32)
        if a.max() > 1.0:
            a = a / 255.0
        if a.ndim == 3 and a.shape[-1] == 4:  # composite over white paper
            a = a[..., :3] * a[..., 3:] + (1 - a[..., 3:])
        if a.ndim == 3 and channels == 1:
            a = a.mean(-1)
        if invert is None and a.mean() > 0.5 or invert:
            a = 1.0 - a
        if fit_to_box:
            a = _centre(a, fill)
        out.append(a)
    return torch.cat([to_tensor(np.asarray(a)[None], image_size, channels, scale=1.0) for a in out])


def _centre(a: np.ndarray, fill: float) -> np.ndarray:
    ink = (a if a.ndim == 2 else a.mean(-1)) > 0.1
    if not ink.any():
        return a
    rows, cols = np.flatnonzero(ink.any(1)), np.flatnonzero(ink.any(0))
    crop = a[rows[0]: rows[-1] + 1, cols[0]: cols[-1] + 1]
    side = max(int(round(max(crop.shape[:2]) / min(fill, 1.0))), *crop.shape[:2])
    canvas = np.zeros((side, side) + a.shape[2:], dtype=a.dtype)
    top, left = (side - crop.shape[0]) // 2, (side - crop.shape[1]) // 2
    canvas[top: top + crop.shape[0], left: left + crop.shape[1]] = crop
    return canvas


def classify_images(run: VisionRun, images, invert: bool | None = None, fit_to_box: bool = True) -> np.ndarray:
    """Class probabilities (N, classes) from a train_cnn run; columns follow `run.label_names`.

    `images` as in `prepare_images` (already-prepared (N, C, H, W) tensors in [0, 1] pass through unchanged).
    """
    import torch

    if run.job != "train_cnn":
        raise UserError(f"{run.path} is a {run.job} run; classifying needs a train_cnn run")
    model = run.models["model"]
    if isinstance(images, torch.Tensor) and images.ndim == 4:
        x = images.float()
    else:
        x = prepare_images(images, run.image_size, run.channels, invert, fit_to_box, run.preprocess.get("ink_fill", 20 / 28))
    device = next(model.parameters()).device
    with torch.no_grad():
        return model(x.to(device)).softmax(1).cpu().numpy()


def generate_images(run: VisionRun, n: int, label: int | str | None = None, seed: int | None = None) -> np.ndarray:
    """`n` new images from a train_gan or train_vae run, as floats in [0, 1]: (n, H, W) grayscale or (n, H, W, 3).

    Args:
        label: class index or name, for a class-conditional GAN (None: the classes in turn).
        seed: makes the samples repeatable.
    """
    import torch

    if run.job not in ("train_gan", "train_vae"):
        raise UserError(f"{run.path} is a {run.job} run; generating needs a train_gan or train_vae run")
    if n < 1:
        raise UserError(f"n must be at least 1, got {n}")
    gen = torch.Generator().manual_seed(seed) if seed is not None else None
    with torch.no_grad():
        if run.job == "train_gan":
            g = run.models["generator"]
            device = next(g.parameters()).device
            labels = None
            if run.conditional:
                k = len(run.label_names)
                if label is None:
                    labels = torch.arange(n) % k
                else:
                    idx = run.label_names.index(str(label)) if str(label) in run.label_names else int(label)
                    if not 0 <= idx < k:
                        raise UserError(f"label {label!r} is not one of {run.label_names}")
                    labels = torch.full((n,), idx)
                labels = labels.to(device)
            elif label is not None:
                raise UserError(f"{run.path} is an unconditional GAN: it takes no label")
            z = torch.randn(n, g.latent_dim, generator=gen).to(device)
            x = (g(z, labels) + 1) / 2
        else:
            if label is not None:
                raise UserError("a VAE run generates without labels")
            vae = run.models["model"]
            z = torch.randn(n, vae.latent_dim, generator=gen).to(next(vae.parameters()).device)
            x = torch.sigmoid(vae.decode(z))
    x = x.float().clamp(0, 1).cpu().permute(0, 2, 3, 1).numpy()
    return x[..., 0] if x.shape[-1] == 1 else x
