"""The DCGAN's parts beyond the networks (`lingbridge.vision.models`): its arguments, the evaluator CNN,
the sampler that scores generated images against real ones, and one adversarial epoch."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from ..errors import UserError
from ..training import logger
from .metrics import confident_share, frechet_distance
from .plots import save_grid
from .training import predict, progress


@dataclass
class GANArguments:
    latent_dim: int = field(default=64, metadata={"help": "Size of the noise vector z."})
    gan_width: int = field(default=64, metadata={"help": "Channels of the generator's/discriminator's first layer."})
    conditional: bool = field(default=False, metadata={"help": "Condition both networks on the class label."})
    classifier_run: str | None = field(default=None, metadata={
        "help": "A train_cnn run directory whose CNN scores the samples (default: train one on the same data first)."})
    classifier_epochs: int = field(default=4, metadata={"help": "Epochs of the evaluator CNN when it is trained here."})
    classifier_learning_rate: float = field(default=0.05, metadata={"help": "SGD learning rate of that evaluator."})
    eval_samples: int = field(default=1000, metadata={"help": "Generated (and real) images per Fréchet distance."})
    confidence_threshold: float = field(default=0.9, metadata={"help": "Confidence that counts a sample as recognisable."})

    def __post_init__(self):
        if self.latent_dim < 1 or self.gan_width < 1:
            raise UserError(f"latent_dim and gan_width must be positive, got {self.latent_dim} and {self.gan_width}")
        if self.eval_samples < 10:
            raise UserError(f"eval_samples must be at least 10, got {self.eval_samples}")
        if not 0 < self.confidence_threshold < 1:
            raise UserError(f"confidence_threshold must be in (0, 1), got {self.confidence_threshold}")
        if self.classifier_run:
            from pathlib import Path

            from .models import MODEL_CONFIG

            if not (Path(self.classifier_run) / MODEL_CONFIG).is_file():
                raise UserError(f"classifier_run: {self.classifier_run} is not a finished train_cnn run (no {MODEL_CONFIG})")


def load_evaluator(args: GANArguments, data_args, data, accelerator, training_args):
    """The CNN whose features and confidences score the samples: a finished run, or one trained now."""
    from .models import SmallCNN, load_models
    from .training import fit_classifier

    if args.classifier_run:
        models, pre = load_models(args.classifier_run, accelerator.device)
        if (pre["image_size"], pre["channels"]) != (data_args.image_size, data_args.channels):
            raise UserError(f"classifier_run {args.classifier_run} takes {pre['channels']}×{pre['image_size']}² images; "
                            f"this run makes {data_args.channels}×{data_args.image_size}²")
        return models["model"], {"source": args.classifier_run}
    kwargs = dict(channels=data_args.channels, image_size=data_args.image_size, num_classes=len(data.label_names),
                  mean=data.train_x.mean((0, 2, 3)).tolist(), std=data.train_x.std((0, 2, 3)).tolist())
    model, hist = fit_classifier(SmallCNN(**kwargs), data, data_args, accelerator, learning_rate=args.classifier_learning_rate,
                                 epochs=args.classifier_epochs, batch_size=64, seed=training_args.seed)
    return model.eval(), {"source": "trained in this run", "kwargs": kwargs,
                          "test_accuracy": hist["epochs"][-1]["test_accuracy"], "epochs": args.classifier_epochs}


class SampleScorer:
    """Scores a generator on fixed noise: Fréchet distance to real images in the evaluator CNN's feature space,
    the share of confidently recognised samples, the class match when conditional; saves each epoch's grid."""

    def __init__(self, evaluator, data, args: GANArguments, n_classes: int, accelerator, seed: int, work_dir):
        fixed = torch.Generator().manual_seed(seed)  # the same z for every grid and every score
        self.evaluator, self.args, self.n_classes, self.accelerator, self.work_dir = evaluator, args, n_classes, accelerator, work_dir
        n = args.eval_samples
        self.z = torch.randn(n, args.latent_dim, generator=fixed)
        self.y = torch.arange(n) % max(n_classes, 1) if n_classes else None
        grid_n = 8 * (n_classes or 8) if n_classes <= 10 else 64
        self.grid_n = min(grid_n, n // (n_classes or 8) * (n_classes or 8))  # the grid shows evaluated samples
        real = data.train_x[torch.randperm(len(data.train_x), generator=fixed)[:n]]
        self.real_features = predict(evaluator, real, fn=lambda m, b: m.embed(b)).numpy()

    def sample(self, gen):
        device = self.accelerator.device
        gen.eval()
        with torch.no_grad():
            out = torch.cat([gen(self.z[i:i + 500].to(device), None if self.y is None else self.y[i:i + 500].to(device))
                             for i in range(0, len(self.z), 500)])
        gen.train()
        return (out.float().cpu() + 1) / 2  # tanh range → [0, 1]

    def __call__(self, gen, epoch: int, extra: dict) -> dict:
        fake = self.sample(gen)
        feats = predict(self.evaluator, fake, fn=lambda m, b: m.embed(b)).numpy()
        probs = predict(self.evaluator, fake).softmax(1)
        row = {"epoch": epoch, **extra, "frechet_distance": round(frechet_distance(self.real_features, feats), 3),
               "confident_share": round(confident_share(probs.numpy(), self.args.confidence_threshold), 4)}
        if self.n_classes:
            row["class_match"] = round((probs.argmax(1) == self.y).float().mean().item(), 4)
        if self.accelerator.is_main_process:
            # rows are classes when conditional: the labels cycle through the classes
            order = (torch.arange(self.grid_n).view(-1, self.n_classes).t().flatten() if self.n_classes
                     else torch.arange(self.grid_n))
            save_grid(fake[order], self.work_dir / f"samples_epoch_{epoch:03d}.png", nrow=8,
                      title=f"epoch {epoch}: Fréchet distance {row['frechet_distance']:.1f}")
        logger.info("epoch %d: %s", epoch, ", ".join(f"{k} {v}" for k, v in row.items() if k != "epoch"))
        return row


def adversarial_epoch(gen, disc, opt_g, opt_d, loader, accelerator, latent_dim: int, conditional: bool) -> dict:
    """One epoch of alternating updates with the non-saturating loss; returns mean losses and seconds."""
    t0, steps = time.perf_counter(), 0
    d_sum = torch.zeros((), device=accelerator.device)
    g_sum = torch.zeros((), device=accelerator.device)
    for x, y in progress(loader, accelerator, "adversarial epoch"):
        real_x = x * 2 - 1
        cond = y if conditional else None
        z = torch.randn(len(x), latent_dim, device=accelerator.device)
        with accelerator.autocast():
            fake = gen(z, cond)
            # discriminator: real → 1, generated → 0 (the generator is not updated here: detach)
            d_loss = (F.binary_cross_entropy_with_logits(disc(real_x, cond), torch.ones(len(x), device=x.device))
                      + F.binary_cross_entropy_with_logits(disc(fake.detach(), cond), torch.zeros(len(x), device=x.device)))
        opt_d.zero_grad(set_to_none=True)
        accelerator.backward(d_loss)
        opt_d.step()
        with accelerator.autocast():
            # non-saturating generator loss −log D(G(z)): strong gradients while D still wins
            g_loss = F.binary_cross_entropy_with_logits(disc(fake, cond), torch.ones(len(x), device=x.device))
        opt_g.zero_grad(set_to_none=True)
        accelerator.backward(g_loss)
        opt_g.step()
        d_sum += d_loss.detach()
        g_sum += g_loss.detach()
        steps += 1
    return {"d_loss": round(d_sum.item() / max(steps, 1), 4), "g_loss": round(g_sum.item() / max(steps, 1), 4),
            "seconds": time.perf_counter() - t0}
