"""The VAE's parts beyond the network (`lingbridge.vision.models.VAE`): its arguments, one training epoch,
the negative ELBO in nats, and the figures (reconstructions, prior samples, latent interpolations)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from ..errors import UserError
from .data import augment
from .models import vae_loss
from .plots import save_grid
from .training import progress


@dataclass
class VAEArguments:
    latent_dim: int = field(default=16, metadata={"help": "Size of the latent code z."})
    hidden_size: int = field(default=400, metadata={"help": "Units of the encoder's and decoder's hidden layer."})
    beta: float = field(default=1.0, metadata={"help": "Weight of the KL term (1: the ELBO; >1: β-VAE)."})
    anomaly_class: str | None = field(default=None, metadata={
        "help": "Label name held out of training and detected by reconstruction error (none: no anomaly test)."})

    def __post_init__(self):
        if self.latent_dim < 1 or self.hidden_size < 1:
            raise UserError(f"latent_dim and hidden_size must be positive, got {self.latent_dim} and {self.hidden_size}")
        if self.beta < 0:
            raise UserError(f"beta must be >= 0, got {self.beta}")
        if self.anomaly_class in ("", "none", "None"):
            self.anomaly_class = None


def evaluate_vae(model, x, batch_size: int = 512, seed: int = 0):
    """Per-image negative ELBO terms in nats (one z sample each, fixed seed) and the reconstruction error
    at z = μ (the anomaly score)."""
    model.eval()
    device = next(model.parameters()).device
    gen = torch.Generator(device=device).manual_seed(seed)
    rec, kl, err = [], [], []
    with torch.no_grad():
        for i in range(0, len(x), batch_size):
            b = x[i:i + batch_size].to(device)
            mu, logvar = model.encode(b)
            z = mu + torch.exp(0.5 * logvar) * torch.randn(mu.shape, device=device, generator=gen)
            r, k = vae_loss(model.decode(z), b, mu, logvar)
            rec.append(r.cpu()), kl.append(k.cpu())
            err.append(F.binary_cross_entropy_with_logits(model.decode(mu), b, reduction="none").flatten(1).sum(1).cpu())
    return torch.cat(rec), torch.cat(kl), torch.cat(err)


def vae_epoch(model, optimizer, loader, accelerator, data_args, beta: float) -> dict:
    """One epoch of ELBO training (augmented batches); returns the mean reconstruction and KL per image, seconds."""
    model.train()
    t0, sums, seen = time.perf_counter(), torch.zeros(2, device=accelerator.device), 0
    for x, _ in progress(loader, accelerator, "VAE epoch"):
        with torch.no_grad():
            x = augment(x, data_args)
        with accelerator.autocast():
            logits, mu, logvar = model(x)
            rec, kl = vae_loss(logits.float(), x, mu.float(), logvar.float())
            loss = (rec + beta * kl).mean()
        optimizer.zero_grad(set_to_none=True)
        accelerator.backward(loss)
        optimizer.step()
        sums += torch.stack([rec.sum(), kl.sum()]).detach()
        seen += len(x)
    rec_mean, kl_mean = (sums / max(seen, 1)).tolist()
    return {"train_reconstruction": round(rec_mean, 3), "train_kl": round(kl_mean, 3), "seconds": time.perf_counter() - t0}


def save_vae_figures(model, test_x, latent_dim: int, seed: int, device, folder) -> None:
    """Reconstructions of test images, samples from the prior, and interpolations between test images' codes."""
    with torch.no_grad():
        x = test_x[:16].to(device)
        recon = torch.sigmoid(model.decode(model.encode(x)[0]))
        pairs = torch.cat([x[:8], recon[:8], x[8:], recon[8:]]).cpu()
        save_grid(pairs, folder / "reconstructions.png", nrow=8, title="test images (rows 1, 3) and reconstructions")
        z = torch.randn(64, latent_dim, generator=torch.Generator().manual_seed(seed)).to(device)
        save_grid(torch.sigmoid(model.decode(z)).cpu(), folder / "samples.png", nrow=8, title="samples from the prior")
        mu = model.encode(test_x[:12].to(device))[0]
        steps = torch.linspace(0, 1, 10, device=device)[None, :, None]
        path = mu[0::2, None] * (1 - steps) + mu[1::2, None] * steps  # 6 pairs × 10 points in latent space
        save_grid(torch.sigmoid(model.decode(path.reshape(-1, latent_dim))).cpu(),
                  folder / "interpolations.png", nrow=10, title="latent interpolation between test images")
