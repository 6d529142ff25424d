"""Variational autoencoder (Bernoulli likelihood): encoder to μ and log σ², reparameterisation,
decoder; loss = reconstruction + β·KL. Reported: test-set negative ELBO in nats, reconstructions,
samples from the prior, latent interpolations, and anomaly detection by reconstruction error (one
class held out of training, ROC-AUC for telling it apart from the test images of the other classes).

Tiny, on a CPU (scikit-learn's bundled digits at 16×16, digit 0 held out as the anomaly):
    accelerate launch recipes/train_vae.py --config recipes/configs/train_vae/tiny.yaml
MNIST on a GPU:
    accelerate launch recipes/train_vae.py --config recipes/configs/train_vae/base.yaml
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lingbridge.errors import UserError, exit_on_user_error
from lingbridge.vision.data import VisionDataArguments


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


def parse(argv=None):
    from transformers import TrainingArguments

    from lingbridge.config import RunArguments, parse_config

    return parse_config((VisionDataArguments, VAEArguments, RunArguments, TrainingArguments), argv)


def evaluate_vae(model, x, batch_size: int = 512, seed: int = 0):
    """Per-image negative ELBO terms in nats (one z sample each, fixed seed) and the reconstruction error
    at z = μ (the anomaly score)."""
    import torch
    import torch.nn.functional as F

    from lingbridge.vision.models import vae_loss

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


@exit_on_user_error
def main(argv=None):
    data_args, args, run_args, training_args, config_path = parse(argv)

    import time

    import torch

    from lingbridge.runs import config_dict
    from lingbridge.training import finish_run, logger, prepare_run, setup_logging, start_run
    from lingbridge.vision.data import augment, load_images
    from lingbridge.vision.metrics import roc_auc
    from lingbridge.vision.models import VAE, save_models, vae_loss
    from lingbridge.vision.plots import plot_curves, save_grid
    from lingbridge.vision.training import (DeviceBatches, make_accelerator, num_epochs, prepare_optimizers, resume,
                                            save_epoch)

    setup_logging(training_args)
    run = start_run("train_vae", run_args, training_args)
    accelerator = make_accelerator(training_args)
    with accelerator.main_process_first():
        data = load_images(data_args, seed=training_args.seed)

    # ---- the held-out class: absent from training, scored on the test set ----------------------------
    normal_test = torch.ones(len(data.test_y), dtype=torch.bool)
    train_x = data.train_x
    if args.anomaly_class is not None:
        if args.anomaly_class not in data.label_names:
            raise UserError(f"anomaly_class '{args.anomaly_class}' is not a label of the data ({', '.join(data.label_names)})")
        held = data.label_names.index(args.anomaly_class)
        train_x = data.train_x[data.train_y != held]
        normal_test = data.test_y != held
    test_x = data.test_x[normal_test]
    logger.info("train %d images, test %d (%s)%s", len(train_x), len(data.test_y), data.test_split,
                f", class '{args.anomaly_class}' held out" if args.anomaly_class is not None else "")
    prepare_run(run)

    # ---- train -------------------------------------------------------------------------------------------
    kwargs = dict(channels=data_args.channels, image_size=data_args.image_size, hidden=args.hidden_size,
                  latent_dim=args.latent_dim)
    model = VAE(**kwargs)
    optimizer = torch.optim.AdamW(model.parameters(), lr=training_args.learning_rate,
                                  weight_decay=training_args.weight_decay)
    loader = DeviceBatches(train_x, torch.zeros(len(train_x), dtype=torch.long), training_args.per_device_train_batch_size,
                           accelerator, seed=training_args.seed)
    model = accelerator.prepare(model)
    optimizer = prepare_optimizers(accelerator, optimizer)
    start, history = resume(accelerator, run)
    history = history or {"epochs": [], "train_s": 0.0}
    for epoch in range(start, num_epochs(training_args)):
        model.train()
        loader.set_epoch(epoch)
        t0, sums, seen = time.perf_counter(), torch.zeros(2, device=accelerator.device), 0
        for x, _ in loader:
            with torch.no_grad():
                x = augment(x, data_args)
            with accelerator.autocast():
                logits, mu, logvar = model(x)
                rec, kl = vae_loss(logits.float(), x, mu.float(), logvar.float())
                loss = (rec + args.beta * kl).mean()
            optimizer.zero_grad(set_to_none=True)
            accelerator.backward(loss)
            optimizer.step()
            sums += torch.stack([rec.sum(), kl.sum()]).detach()
            seen += len(x)
        history["train_s"] = round(history["train_s"] + time.perf_counter() - t0, 2)
        t_rec, t_kl, _ = evaluate_vae(accelerator.unwrap_model(model), test_x)
        rec_mean, kl_mean = (sums / max(seen, 1)).tolist()
        row = {"epoch": epoch + 1, "train_reconstruction": round(rec_mean, 3), "train_kl": round(kl_mean, 3),
               "test_negative_elbo": round((t_rec + t_kl).mean().item(), 3)}
        history["epochs"].append(row)
        logger.info("epoch %d: %s", epoch + 1, ", ".join(f"{k} {v}" for k, v in row.items() if k != "epoch"))
        save_epoch(accelerator, run, epoch + 1, history)

    # ---- evaluate: negative ELBO, anomaly ROC-AUC, grids -----------------------------------------------------
    model = accelerator.unwrap_model(model).eval()
    rec, kl, _ = evaluate_vae(model, test_x)
    metrics = {"test_negative_elbo_nats": round((rec + kl).mean().item(), 3),
               "test_reconstruction_nats": round(rec.mean().item(), 3), "test_kl_nats": round(kl.mean().item(), 3),
               "epochs": history["epochs"], "epochs_run": len(history["epochs"]), "train_s": history["train_s"],
               "first_loss": history["epochs"][0]["train_reconstruction"] + history["epochs"][0]["train_kl"],
               "last_loss": history["epochs"][-1]["train_reconstruction"] + history["epochs"][-1]["train_kl"]}
    if args.anomaly_class is not None:
        _, _, err = evaluate_vae(model, data.test_x)
        metrics["anomaly"] = {"class": args.anomaly_class, "score": "reconstruction error (nats, z = μ)",
                              "roc_auc": round(roc_auc(err.numpy(), (~normal_test).numpy()), 4),
                              "n_anomalous": int((~normal_test).sum()), "n_normal": int(normal_test.sum())}
        logger.info("anomaly detection of class '%s' by reconstruction error: ROC-AUC %.4f", args.anomaly_class,
                    metrics["anomaly"]["roc_auc"])
    if accelerator.is_main_process:
        save_models(run.work, {"model": ("vae", kwargs, model)},
                    {"image_size": data_args.image_size, "channels": data_args.channels, "range": "unit"})
        dev = accelerator.device
        with torch.no_grad():
            x = test_x[:16].to(dev)
            recon = torch.sigmoid(model.decode(model.encode(x)[0]))
            pairs = torch.cat([x[:8], recon[:8], x[8:], recon[8:]]).cpu()
            save_grid(pairs, run.work / "reconstructions.png", nrow=8, title="test images (rows 1, 3) and reconstructions")
            z = torch.randn(64, args.latent_dim, generator=torch.Generator().manual_seed(training_args.seed)).to(dev)
            save_grid(torch.sigmoid(model.decode(z)).cpu(), run.work / "samples.png", nrow=8, title="samples from the prior")
            mu = model.encode(test_x[:12].to(dev))[0]
            steps = torch.linspace(0, 1, 10, device=dev)[None, :, None]
            path = mu[0::2, None] * (1 - steps) + mu[1::2, None] * steps  # 6 pairs × 10 points in latent space
            save_grid(torch.sigmoid(model.decode(path.reshape(-1, args.latent_dim))).cpu(),
                      run.work / "interpolations.png", nrow=10, title="latent interpolation between test images")
        plot_curves(history["epochs"], ["train_reconstruction", "train_kl", "test_negative_elbo"],
                    run.work / "training.png", "VAE training (nats per image)")
    record = {
        "job": "train_vae", "task": "unconditional-image-generation", "pipeline_tag": "unconditional-image-generation",
        "languages": [], "label_names": [], "eval_split": "test", "test_split": data.test_split,
        "config_file": config_path, "config": config_dict(data_args, args, run_args, training_args),
        "init": "random", "base_model": None, "data_sources": data.sources, "image_shape": list(data.shape),
        "rows": {"train": len(train_x), "test": len(test_x)}, "metrics": metrics, "world_size": accelerator.num_processes,
        "ranks": loader.participation(),
        "summary": f"VAE (latent {args.latent_dim}, β {args.beta}) trained on {data.sources[0]['name']} "
                   f"({data.shape[1]}×{data.shape[2]}); test negative ELBO {metrics['test_negative_elbo_nats']:.1f} nats"
                   + (f"; class '{args.anomaly_class}' detected as an anomaly with ROC-AUC "
                      f"{metrics['anomaly']['roc_auc']:.3f}" if "anomaly" in metrics else "") + ".",
    }
    accelerator.print(record["summary"])
    finish_run(run, record, run_args.keep_checkpoints)
    return run.path


if __name__ == "__main__":
    main()
