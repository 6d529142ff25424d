"""PNG grids of images (samples, reconstructions, interpolations, misclassified examples)."""

from __future__ import annotations

from pathlib import Path


def image_grid(images, nrow: int, pad: int = 1):
    """(N, C, H, W) tensor in [0, 1] → (rows·(H+pad), nrow·(W+pad)[, C]) numpy array, white separators."""
    import torch

    x = images.detach().float().cpu().clamp(0, 1)
    n, c, h, w = x.shape
    rows = -(-n // nrow)
    grid = torch.ones(c, rows * (h + pad) + pad, nrow * (w + pad) + pad)
    for i in range(n):
        r, k = divmod(i, nrow)
        grid[:, pad + r * (h + pad): pad + r * (h + pad) + h, pad + k * (w + pad): pad + k * (w + pad) + w] = x[i]
    grid = grid.permute(1, 2, 0).numpy()
    return grid[..., 0] if c == 1 else grid


def save_grid(images, path: str | Path, nrow: int = 8, title: str | None = None, captions: list[str] | None = None,
              scale: float = 0.5) -> Path:
    """Save images as one PNG grid; `captions` (one per image) are drawn above each cell."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(images)
    nrow = min(nrow, n)
    rows = -(-n // nrow)
    if captions is None:
        grid = image_grid(images, nrow)
        fig, ax = plt.subplots(figsize=(max(2.0, nrow * scale + 0.4), max(2.0, rows * scale + (0.6 if title else 0.2))))
        ax.imshow(grid, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        ax.axis("off")
    else:
        fig, axes = plt.subplots(rows, nrow, figsize=(nrow * 1.1, rows * 1.25 + 0.4), squeeze=False)
        for i, ax in enumerate(axes.flat):
            ax.axis("off")
            if i < n:
                img = images[i].detach().float().cpu().clamp(0, 1).permute(1, 2, 0).numpy()
                ax.imshow(img[..., 0] if img.shape[-1] == 1 else img, cmap="gray", vmin=0, vmax=1)
                ax.set_title(captions[i], fontsize=7)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)


def plot_curves(history: list[dict], keys: list[str], path: str | Path, title: str, x: str = "epoch") -> Path:
    """One small panel per key of a per-epoch history (loss, accuracy, Fréchet distance...)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = [k for k in keys if any(k in h for h in history)]
    fig, axes = plt.subplots(1, len(keys), figsize=(3.2 * len(keys), 3), squeeze=False)
    for ax, key in zip(axes[0], keys):
        pts = [(h[x], h[key]) for h in history if key in h]
        ax.plot(*zip(*pts), marker="o")
        ax.set_xlabel(x)
        ax.set_title(key, fontsize=9)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)
