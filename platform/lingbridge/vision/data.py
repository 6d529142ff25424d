"""Image data for the vision recipes: scikit-learn's digits (offline default), IDX files, image
folders and Hub datasets, all turned into float tensors in [0, 1] of shape (N, C, H, W).

Everything is small enough to live in memory as one tensor (MNIST: 60,000 × 28 × 28 floats, 188 MB),
so batches are slices of a tensor, normalisation and augmentation run on the training device, and no
image library is needed on the hot path.
"""

from __future__ import annotations

import gzip
import hashlib
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import UserError

DIGITS = "sklearn:digits"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")


@dataclass
class VisionDataArguments:
    dataset_name: str = field(default=DIGITS, metadata={
        "help": "'sklearn:digits' (1,797 real 8×8 handwritten digits, offline), a Hub id such as ylecun/mnist, "
                "or a local image folder (one subfolder per class, optionally under train/ and test/)."})
    dataset_config_name: str | None = field(default=None, metadata={"help": "Hub dataset config name."})
    train_images: str | None = field(default=None, metadata={
        "help": "Local IDX images file (MNIST format, .gz or not); replaces dataset_name when given."})
    train_labels: str | None = field(default=None, metadata={"help": "IDX labels file for train_images."})
    test_images: str | None = field(default=None, metadata={"help": "IDX test images (default: hold out test_split_percentage of train)."})
    test_labels: str | None = field(default=None, metadata={"help": "IDX labels file for test_images."})
    image_column: str | None = field(default=None, metadata={"help": "Hub image column (default: the first Image feature)."})
    label_column: str = field(default="label", metadata={"help": "Hub label column."})
    test_split_percentage: int = field(default=20, metadata={
        "help": "Share of the training images held out (stratified) as the test set when the data has no test split."})
    image_size: int = field(default=28, metadata={"help": "Images are resized (bilinear, antialiased) to this square size."})
    channels: int = field(default=1, metadata={"help": "1 (grayscale) or 3 (RGB); images are converted."})
    max_train_samples: int | None = field(default=None, metadata={"help": "Truncate the training set (debugging)."})
    max_eval_samples: int | None = field(default=None, metadata={"help": "Truncate the test set."})
    cache_dir: str | None = field(default=None, metadata={"help": "Where to cache Hub downloads."})
    normalize: bool = field(default=True, metadata={"help": "Standardise with the training set's mean and std (classifier)."})
    augment_rotation: float = field(default=0.0, metadata={"help": "Random rotation in ± degrees (0: off)."})
    augment_translate: float = field(default=0.0, metadata={"help": "Random shift, as a fraction of the image size (0: off)."})
    augment_scale: float = field(default=0.0, metadata={"help": "Random zoom in 1 ± this (0: off)."})
    augment_crop_padding: int = field(default=0, metadata={"help": "Random crop after zero-padding by this many pixels (0: off)."})
    augment_hflip: bool = field(default=False, metadata={"help": "Random horizontal flips (not for digits)."})

    def __post_init__(self):
        if self.channels not in (1, 3):
            raise UserError(f"channels must be 1 or 3, got {self.channels}")
        if self.image_size < 4:
            raise UserError(f"image_size must be at least 4, got {self.image_size}")
        if not 0 < self.test_split_percentage < 100:
            raise UserError(f"test_split_percentage must be in (0, 100), got {self.test_split_percentage}")
        for name in ("train_images", "train_labels", "test_images", "test_labels"):
            path = getattr(self, name)
            if path and not Path(path).is_file():
                raise UserError(f"{name}: file not found: {path}")
        if bool(self.train_images) != bool(self.train_labels):
            raise UserError("give train_images and train_labels together")
        if bool(self.test_images) != bool(self.test_labels):
            raise UserError("give test_images and test_labels together")
        if self.test_images and not self.train_images:
            raise UserError("test_images needs train_images")
        if self.augment_rotation < 0 or self.augment_translate < 0 or not 0 <= self.augment_scale < 1:
            raise UserError("augment_rotation and augment_translate must be >= 0 and augment_scale in [0, 1)")
        if self.augment_crop_padding < 0:
            raise UserError(f"augment_crop_padding must be >= 0, got {self.augment_crop_padding}")

    @property
    def augments(self) -> bool:
        return bool(self.augment_rotation or self.augment_translate or self.augment_scale
                    or self.augment_crop_padding or self.augment_hflip)


@dataclass
class ImageData:
    """Train and test images as float tensors in [0, 1], shape (N, C, H, W), with int64 labels."""

    train_x: "torch.Tensor"  # noqa: F821
    train_y: "torch.Tensor"  # noqa: F821
    test_x: "torch.Tensor"  # noqa: F821
    test_y: "torch.Tensor"  # noqa: F821
    label_names: list[str]
    sources: list[dict]
    test_split: str  # where the test images came from, in words

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.train_x.shape[1:])


# ---- readers -------------------------------------------------------------------------------------

def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (the MNIST format), gzip-compressed or not, into a numpy array."""
    path = Path(path)
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    dtypes = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in dtypes:
        raise UserError(f"{path}: not an IDX file (expected the magic bytes 00 00 <type> <ndim>)")
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    dtype = np.dtype(dtypes[raw[2]])
    expected = 4 + 4 * ndim + math.prod(dims) * dtype.itemsize
    if len(raw) != expected:
        raise UserError(f"{path}: IDX header says {dims} ({expected} bytes) but the file has {len(raw)} bytes")
    return np.frombuffer(raw, dtype=dtype, offset=4 + 4 * ndim).reshape(dims)


def _idx_pair(images: str, labels: str) -> tuple[np.ndarray, np.ndarray]:
    x, y = read_idx(images), read_idx(labels)
    if x.ndim not in (3, 4) or y.ndim != 1:
        raise UserError(f"{images}: expected images of shape (N, H, W) and labels (N,), got {x.shape} and {y.shape}")
    if len(x) != len(y):
        raise UserError(f"{images} has {len(x)} images but {labels} has {len(y)} labels")
    return x, y.astype(np.int64)


def _read_folder(root: Path, mode: str, classes: list[str] | None = None) -> tuple[list, np.ndarray, list[str]]:
    from PIL import Image

    classes = classes or sorted(p.name for p in root.iterdir() if p.is_dir())
    if len(classes) < 2:
        raise UserError(f"{root}: expected one subfolder per class (at least 2), found {classes}")
    images, labels = [], []
    for i, name in enumerate(classes):
        folder = root / name
        if not folder.is_dir():
            raise UserError(f"{root}: class folder '{name}' is missing (the training folders are {classes})")
        for f in sorted(folder.iterdir()):
            if f.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            try:
                with Image.open(f) as im:
                    images.append(np.asarray(im.convert(mode)))
            except OSError as err:
                raise UserError(f"{f}: not a readable image ({err})") from None
            labels.append(i)
    if not images:
        raise UserError(f"{root}: no images ({', '.join(IMAGE_SUFFIXES)}) in the class folders")
    return images, np.array(labels, dtype=np.int64), classes


def _load_hub(args: VisionDataArguments, mode: str):
    import datasets

    try:
        dsd = datasets.load_dataset(args.dataset_name, args.dataset_config_name, cache_dir=args.cache_dir)
    except Exception as err:  # offline, unknown id, gated: one line, not a traceback
        raise UserError(f"dataset_name '{args.dataset_name}': could not load it from the Hub "
                        f"({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''})") from None
    if "train" not in dsd:
        raise UserError(f"{args.dataset_name}: no 'train' split (it has {list(dsd)})")
    features = dsd["train"].features
    column = args.image_column or next((c for c, f in features.items() if isinstance(f, datasets.Image)), None)
    if column not in features:
        raise UserError(f"{args.dataset_name}: image column '{column}' not found (columns: {list(features)})")
    if args.label_column not in features:
        raise UserError(f"{args.dataset_name}: label column '{args.label_column}' not found (columns: {list(features)}); "
                        "set label_column")
    label_feature = features[args.label_column]
    names = list(label_feature.names) if isinstance(label_feature, datasets.ClassLabel) else None

    def arrays(ds):
        return [np.asarray(im.convert(mode)) for im in ds[column]], np.asarray(ds[args.label_column], dtype=np.int64)

    train = arrays(dsd["train"])
    test = arrays(dsd["test"]) if "test" in dsd else None
    names = names or [str(i) for i in range(int(train[1].max()) + 1)]
    return train, test, names


# ---- conversion ----------------------------------------------------------------------------------

def to_tensor(images, size: int, channels: int, scale: float = 255.0):
    """A list/array of HxW or HxWxC images → float tensor (N, C, size, size) in [0, 1], resized with torch."""
    import torch
    import torch.nn.functional as F

    def one_batch(arr):
        t = torch.as_tensor(np.ascontiguousarray(arr), dtype=torch.float32) / scale
        t = t.unsqueeze(1) if t.ndim == 3 else t.permute(0, 3, 1, 2)
        if t.shape[1] != channels:  # grayscale ↔ RGB
            t = t.mean(1, keepdim=True) if channels == 1 else t.expand(-1, 3, -1, -1)
        if t.shape[-2:] != (size, size):
            t = F.interpolate(t, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        return t.clamp_(0, 1)

    if isinstance(images, np.ndarray):
        return one_batch(images)
    # images of different sizes: group equal shapes so each group is one interpolate call
    out = [None] * len(images)
    groups: dict[tuple, list[int]] = {}
    for i, im in enumerate(images):
        groups.setdefault(np.shape(im), []).append(i)
    for idx in groups.values():
        batch = one_batch(np.stack([images[i] for i in idx]))
        for j, i in enumerate(idx):
            out[i] = batch[j]
    return torch.stack(out)


def _fingerprint(*arrays) -> str:
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()[:16]


def stratified_split(labels: np.ndarray, percent: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, test): `percent`% of each class held out, the same for a given seed."""
    rng = np.random.default_rng(seed)
    train, test = [], []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        k = max(1, round(len(idx) * percent / 100))
        test.append(idx[:k])
        train.append(idx[k:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def load_images(args: VisionDataArguments, seed: int = 42) -> ImageData:
    """Load the configured images (see `VisionDataArguments`) as tensors in [0, 1].

    Args:
        args: the data config: source, size, channels, test split.
        seed: seeds the stratified test split when the data has none.

    Returns:
        `ImageData` with train/test tensors, label names, data sources (with fingerprints) and the
        origin of the test split.
    """
    mode = "L" if args.channels == 1 else "RGB"
    test = None
    if args.train_images:
        x, y = _idx_pair(args.train_images, args.train_labels)
        train = (x, y)
        if args.test_images:
            test = _idx_pair(args.test_images, args.test_labels)
        names = [str(i) for i in range(int(max(y.max(), test[1].max() if test else 0)) + 1)]
        sources = [{"name": args.train_images, "kind": "idx", "rows": len(x), "fingerprint": _fingerprint(x, y)}]
        if test:
            sources.append({"name": args.test_images, "kind": "idx", "rows": len(test[0]),
                            "fingerprint": _fingerprint(*test)})
        scale = 255.0
    elif args.dataset_name == DIGITS:
        from sklearn.datasets import load_digits

        digits = load_digits()
        train, names, scale = (digits.images, digits.target.astype(np.int64)), [str(i) for i in range(10)], 16.0
        sources = [{"name": DIGITS, "kind": "bundled", "rows": len(digits.images),
                    "fingerprint": _fingerprint(digits.images, digits.target)}]
    elif Path(args.dataset_name).is_dir():
        root = Path(args.dataset_name)
        if (root / "train").is_dir():
            *train, names = _read_folder(root / "train", mode)
            test = _read_folder(root / "test", mode, names)[:2] if (root / "test").is_dir() else None
        else:
            *train, names = _read_folder(root, mode)
        sources = [{"name": str(root), "kind": "folder", "rows": len(train[0]) + (len(test[0]) if test else 0)}]
        scale = 255.0
    elif args.dataset_name.count("/") == 1 and not Path(args.dataset_name).exists() and not args.dataset_name.startswith((".", "/")):
        train, test, names = _load_hub(args, mode)
        sources = [{"name": args.dataset_name, "kind": "hub", "config": args.dataset_config_name,
                    "rows": len(train[0]) + (len(test[0]) if test else 0)}]
        scale = 255.0
    else:
        raise UserError(f"dataset_name '{args.dataset_name}' is not '{DIGITS}', an existing image folder or a Hub id "
                        "(owner/name); for IDX files use train_images/train_labels")

    x, y = train
    bad = np.flatnonzero((y < 0) | (y >= len(names)))
    if len(bad):
        raise UserError(f"{sources[0]['name']}: label {y[bad[0]]} of image {bad[0]} is outside 0..{len(names) - 1}")
    if test is None:
        tr, te = stratified_split(y, args.test_split_percentage, seed)
        pick = (lambda a, i: a[i]) if isinstance(x, np.ndarray) else (lambda a, i: [a[j] for j in i])
        train, test = (pick(x, tr), y[tr]), (pick(x, te), y[te])
        test_split = f"{args.test_split_percentage}% of the training images held out (stratified, seed {seed})"
    else:
        test_split = "the dataset's test split"
    import torch

    def cut(pair, n):
        return pair if n is None else (pair[0][:n], pair[1][:n])

    train, test = cut(train, args.max_train_samples), cut(test, args.max_eval_samples)
    if len(train[1]) == 0 or len(test[1]) == 0:
        raise UserError(f"{sources[0]['name']}: no images left for training or testing")
    return ImageData(
        train_x=to_tensor(train[0], args.image_size, args.channels, scale), train_y=torch.as_tensor(train[1]),
        test_x=to_tensor(test[0], args.image_size, args.channels, scale), test_y=torch.as_tensor(test[1]),
        label_names=names, sources=sources, test_split=test_split,
    )


# ---- on-device transforms ------------------------------------------------------------------------

def augment(x, args: VisionDataArguments, generator=None):
    """Random affine (rotation, shift, zoom), padded random crop and flips on a batch, on its device."""
    import torch
    import torch.nn.functional as F

    if not args.augments:
        return x
    b, device = x.shape[0], x.device

    def uniform(lo, hi):
        return torch.rand(b, device=device, generator=generator) * (hi - lo) + lo

    if args.augment_rotation or args.augment_translate or args.augment_scale:
        angle = uniform(-args.augment_rotation, args.augment_rotation) * math.pi / 180
        scale = uniform(1 - args.augment_scale, 1 + args.augment_scale)
        # affine_grid works in [-1, 1] coordinates: a shift of t·size pixels is 2t
        tx, ty = (uniform(-2 * args.augment_translate, 2 * args.augment_translate) for _ in range(2))
        cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
        theta = torch.stack([torch.stack([cos, -sin, tx], 1), torch.stack([sin, cos, ty], 1)], 1)
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        x = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    if args.augment_crop_padding:
        p, (h, w) = args.augment_crop_padding, x.shape[-2:]
        padded = F.pad(x, (p, p, p, p))
        oy = torch.randint(0, 2 * p + 1, (b, 1), device=device, generator=generator)
        ox = torch.randint(0, 2 * p + 1, (b, 1), device=device, generator=generator)
        rows = (oy + torch.arange(h, device=device))[:, None, :, None]
        cols = (ox + torch.arange(w, device=device))[:, None, None, :]
        chans = torch.arange(x.shape[1], device=device)[None, :, None, None]
        x = padded[torch.arange(b, device=device)[:, None, None, None], chans, rows, cols]
    if args.augment_hflip:
        flip = torch.rand(b, device=device, generator=generator) < 0.5
        x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    return x


def ink_fill(x, threshold: float = 0.1) -> float:
    """Median share of the frame that the strokes' bounding box spans (MNIST ≈ 0.7, the 8×8 digits ≈ 1.0).

    Stored with a classifier so that user drawings are framed like its training images.
    """
    ink = x.mean(1) > threshold  # (N, H, W)
    rows, cols = ink.any(2), ink.any(1)

    def span(m):
        idx = m.float().argmax(1), m.shape[1] - 1 - m.flip(1).float().argmax(1)
        return (idx[1] - idx[0] + 1).clamp(min=0)

    import torch

    spans = torch.maximum(span(rows), span(cols)).float() / x.shape[-1]
    return round(float(spans[ink.flatten(1).any(1)].median()), 3) if ink.any() else 1.0
