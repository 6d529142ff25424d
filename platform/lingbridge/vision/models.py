"""The classic small models: a CNN classifier, a DCGAN generator/discriminator and a VAE.

Each is a plain `torch.nn.Module` built from keyword arguments; `save_models`/`load_models` keep
the weights as safetensors and the keyword arguments as JSON, so a run directory rebuilds them
without pickles.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from ..errors import UserError

MODEL_CONFIG = "vision_model.json"


def cnn_flat_size(channels: int, image_size: int) -> int:
    """Features after two (3×3 conv, 2×2 pool) stages: 64·5·5 for 28×28 (copies that hard-code 64·6·6 crash)."""
    side = image_size
    for _ in range(2):
        side = (side - 2) // 2  # valid 3×3 convolution, then 2×2 max pooling (floor)
    if side < 1:
        raise UserError(f"image_size {image_size} is too small for the CNN (two 3×3 convolutions and 2×2 poolings "
                        "need at least 10 pixels)")
    return 64 * side * side


class SmallCNN(nn.Module):
    """conv3×3(32)-ReLU-maxpool2 → conv3×3(64)-ReLU-maxpool2 → linear(hidden)-ReLU → linear(classes)."""

    def __init__(self, channels: int = 1, image_size: int = 28, num_classes: int = 10, hidden: int = 128,
                 dropout: float = 0.0, mean: list[float] | None = None, std: list[float] | None = None):
        super().__init__()
        # Inputs are always images in [0, 1]: the normalisation travels with the weights, so the app,
        # the GAN's evaluator and a later recipe cannot forget it.
        self.register_buffer("mean", torch.tensor(mean or [0.0] * channels).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std or [1.0] * channels).view(1, -1, 1, 1))
        self.features = nn.Sequential(
            nn.Conv2d(channels, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.fc1 = nn.Linear(cnn_flat_size(channels, image_size), hidden)
        self.dropout = nn.Dropout(dropout)
        self.fc2 = nn.Linear(hidden, num_classes)

    def embed(self, x):
        """The hidden-layer activations: the feature space of the Fréchet distance."""
        x = (x - self.mean) / self.std
        return F.relu(self.fc1(self.features(x).flatten(1)))

    def forward(self, x):
        return self.fc2(self.dropout(self.embed(x)))


class Generator(nn.Module):
    """DCGAN generator: z (+ class embedding) → linear → 2 transposed convolutions ×2 → tanh image."""

    def __init__(self, latent_dim: int = 64, channels: int = 1, image_size: int = 28, width: int = 64,
                 num_classes: int = 0):
        super().__init__()
        if image_size % 4:
            raise UserError(f"the DCGAN needs image_size divisible by 4, got {image_size}")
        self.latent_dim, self.num_classes, self.base = latent_dim, num_classes, image_size // 4
        self.embed = nn.Embedding(num_classes, latent_dim) if num_classes else None
        in_dim = latent_dim * (2 if num_classes else 1)
        self.project = nn.Sequential(nn.Linear(in_dim, 2 * width * self.base ** 2, bias=False),
                                     nn.BatchNorm1d(2 * width * self.base ** 2), nn.ReLU())
        self.net = nn.Sequential(
            nn.ConvTranspose2d(2 * width, width, 4, 2, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
            nn.ConvTranspose2d(width, channels, 4, 2, 1), nn.Tanh(),
        )

    def forward(self, z, labels=None):
        if self.embed is not None:
            z = torch.cat([z, self.embed(labels)], 1)
        h = self.project(z)
        return self.net(h.view(len(z), -1, self.base, self.base))


class Discriminator(nn.Module):
    """DCGAN discriminator: 2 strided convolutions with LeakyReLU → one logit (class map as an extra channel)."""

    def __init__(self, channels: int = 1, image_size: int = 28, width: int = 64, num_classes: int = 0):
        super().__init__()
        self.num_classes, self.image_size = num_classes, image_size
        self.embed = nn.Embedding(num_classes, image_size * image_size) if num_classes else None
        self.net = nn.Sequential(
            nn.Conv2d(channels + (1 if num_classes else 0), width, 4, 2, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(width, 2 * width, 4, 2, 1, bias=False), nn.BatchNorm2d(2 * width), nn.LeakyReLU(0.2),
            nn.Flatten(), nn.Linear(2 * width * (image_size // 4) ** 2, 1),
        )

    def forward(self, x, labels=None):
        if self.embed is not None:
            x = torch.cat([x, self.embed(labels).view(len(x), 1, self.image_size, self.image_size)], 1)
        return self.net(x).squeeze(1)


class VAE(nn.Module):
    """Bernoulli VAE (Kingma & Welling): MLP encoder → (μ, log σ²) → z = μ + σ·ε → MLP decoder → pixel logits."""

    def __init__(self, channels: int = 1, image_size: int = 28, hidden: int = 400, latent_dim: int = 16):
        super().__init__()
        self.shape, self.latent_dim = (channels, image_size, image_size), latent_dim
        pixels = channels * image_size * image_size
        self.encoder = nn.Sequential(nn.Flatten(), nn.Linear(pixels, hidden), nn.ReLU())
        self.mu, self.logvar = nn.Linear(hidden, latent_dim), nn.Linear(hidden, latent_dim)
        self.decoder = nn.Sequential(nn.Linear(latent_dim, hidden), nn.ReLU(), nn.Linear(hidden, pixels))

    def encode(self, x):
        h = self.encoder(x)
        return self.mu(h), self.logvar(h)

    def decode(self, z):
        """Pixel logits (apply a sigmoid for images)."""
        return self.decoder(z).view(len(z), *self.shape)

    def forward(self, x):
        mu, logvar = self.encode(x)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu) if self.training else mu
        return self.decode(z), mu, logvar


def vae_loss(logits, x, mu, logvar, beta: float = 1.0):
    """Per-image reconstruction (Bernoulli, nats) and KL(q(z|x) ‖ N(0, I)); loss = rec + β·KL."""
    rec = F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)
    kl = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(1)
    return rec, kl


ARCHITECTURES = {"cnn": SmallCNN, "generator": Generator, "discriminator": Discriminator, "vae": VAE}


def save_models(folder: str | Path, models: dict[str, tuple[str, dict, nn.Module]], preprocess: dict) -> None:
    """Write `<name>.safetensors` per model and `vision_model.json` (architecture, kwargs, preprocessing)."""
    from safetensors.torch import save_file

    folder = Path(folder)
    spec = {"models": {}, "preprocess": preprocess}
    for name, (arch, kwargs, module) in models.items():
        state = {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}
        save_file(state, folder / f"{name}.safetensors", metadata={"format": "pt", "arch": arch})
        spec["models"][name] = {"arch": arch, "kwargs": kwargs, "file": f"{name}.safetensors"}
    (folder / MODEL_CONFIG).write_text(json.dumps(spec, indent=2), encoding="utf-8")


def load_models(folder: str | Path, device="cpu") -> tuple[dict[str, nn.Module], dict]:
    """Rebuild the models of a vision run directory (safetensors only) in eval mode; returns (models, preprocess)."""
    from safetensors.torch import load_file

    folder = Path(folder)
    path = folder / MODEL_CONFIG
    if not path.is_file():
        raise UserError(f"{folder} is not a vision run directory (no {MODEL_CONFIG})")
    spec = json.loads(path.read_text(encoding="utf-8"))
    models = {}
    for name, m in spec["models"].items():
        module = ARCHITECTURES[m["arch"]](**m["kwargs"])
        module.load_state_dict(load_file(folder / m["file"], device=str(device)))
        models[name] = module.to(device).eval()
    return models, spec["preprocess"]
