"""DCGAN (class-conditional as an option) with the non-saturating loss: discriminator and generator
updated alternately, two Adam optimisers under one Accelerator. Sample grids from fixed noise after
every epoch, and a quality number beside the pictures: the Fréchet distance between real and generated
images in the feature space of a trained CNN classifier, and the share of samples that classifier
labels with confidence > 0.9.

Tiny, on a CPU (scikit-learn's bundled digits at 16×16; the evaluator CNN is trained first, in seconds):
    accelerate launch recipes/train_gan.py --config recipes/configs/train_gan/tiny.yaml
Class-conditional, with a finished train_cnn run as the evaluator:
    accelerate launch recipes/train_gan.py --config recipes/configs/train_gan/tiny.yaml --conditional true \
        --classifier_run runs/train_cnn-<timestamp>
MNIST on a GPU:
    accelerate launch recipes/train_gan.py --config recipes/configs/train_gan/base.yaml
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lingbridge.errors import UserError, exit_on_user_error
from lingbridge.vision.data import VisionDataArguments


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

            from lingbridge.vision.models import MODEL_CONFIG

            if not (Path(self.classifier_run) / MODEL_CONFIG).is_file():
                raise UserError(f"classifier_run: {self.classifier_run} is not a finished train_cnn run (no {MODEL_CONFIG})")


def parse(argv=None):
    from transformers import TrainingArguments

    from lingbridge.config import RunArguments, parse_config

    return parse_config((VisionDataArguments, GANArguments, RunArguments, TrainingArguments), argv)


def load_evaluator(args: GANArguments, data_args, data, accelerator, training_args):
    """The CNN whose features and confidences score the samples: a finished run, or one trained now."""
    from lingbridge.vision.models import SmallCNN, load_models
    from lingbridge.vision.training import fit_classifier

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


@exit_on_user_error
def main(argv=None):
    data_args, args, run_args, training_args, config_path = parse(argv)

    import time

    import torch
    import torch.nn.functional as F

    from lingbridge.runs import config_dict
    from lingbridge.training import finish_run, logger, prepare_run, setup_logging, start_run
    from lingbridge.vision.data import load_images
    from lingbridge.vision.metrics import confident_share, frechet_distance
    from lingbridge.vision.models import Discriminator, Generator, save_models
    from lingbridge.vision.plots import plot_curves, save_grid
    from lingbridge.vision.training import (DeviceBatches, make_accelerator, num_epochs, predict, prepare_optimizers,
                                            resume, save_epoch)

    setup_logging(training_args)
    if data_args.image_size % 4:
        raise UserError(f"image_size must be divisible by 4 for the DCGAN, got {data_args.image_size}")
    run = start_run("train_gan", run_args, training_args)
    accelerator = make_accelerator(training_args)
    with accelerator.main_process_first():
        data = load_images(data_args, seed=training_args.seed)
    prepare_run(run)
    evaluator, evaluator_info = load_evaluator(args, data_args, data, accelerator, training_args)

    # ---- models, optimisers, fixed noise ---------------------------------------------------------------
    n_classes = len(data.label_names) if args.conditional else 0
    g_kwargs = dict(latent_dim=args.latent_dim, channels=data_args.channels, image_size=data_args.image_size,
                    width=args.gan_width, num_classes=n_classes)
    d_kwargs = dict(channels=data_args.channels, image_size=data_args.image_size, width=args.gan_width,
                    num_classes=n_classes)
    gen, disc = Generator(**g_kwargs), Discriminator(**d_kwargs)
    betas = (training_args.adam_beta1, training_args.adam_beta2)  # DCGAN: β1 = 0.5 keeps the two players stable
    opt_g = torch.optim.Adam(gen.parameters(), lr=training_args.learning_rate, betas=betas)
    opt_d = torch.optim.Adam(disc.parameters(), lr=training_args.learning_rate, betas=betas)
    loader = DeviceBatches(data.train_x, data.train_y, training_args.per_device_train_batch_size, accelerator,
                           seed=training_args.seed, drop_last=True)  # BatchNorm dislikes a 1-image last batch
    gen, disc = accelerator.prepare(gen, disc)
    opt_g, opt_d = prepare_optimizers(accelerator, opt_g, opt_d)
    start, history = resume(accelerator, run)
    history = history or {"epochs": [], "train_s": 0.0}

    fixed = torch.Generator().manual_seed(training_args.seed)  # the same z for every grid and every score
    n_eval = args.eval_samples
    eval_z = torch.randn(n_eval, args.latent_dim, generator=fixed)
    eval_y = torch.arange(n_eval) % max(n_classes, 1) if n_classes else None
    grid_n = 8 * (n_classes or 8) if n_classes <= 10 else 64
    grid_n = min(grid_n, args.eval_samples // (n_classes or 8) * (n_classes or 8))  # the grid shows evaluated samples
    real = data.train_x[torch.randperm(len(data.train_x), generator=fixed)[:n_eval]]
    real_features = predict(evaluator, real, fn=lambda m, b: m.embed(b)).numpy()

    def sample(g, z, y):
        g.eval()
        with torch.no_grad():
            out = torch.cat([g(z[i:i + 500].to(accelerator.device), None if y is None else y[i:i + 500].to(accelerator.device))
                             for i in range(0, len(z), 500)])
        g.train()
        return (out.float().cpu() + 1) / 2  # tanh range → [0, 1]

    def score(epoch: int, extra: dict) -> dict:
        fake = sample(accelerator.unwrap_model(gen), eval_z, eval_y)
        feats = predict(evaluator, fake, fn=lambda m, b: m.embed(b)).numpy()
        probs = predict(evaluator, fake).softmax(1)
        row = {"epoch": epoch, **extra, "frechet_distance": round(frechet_distance(real_features, feats), 3),
               "confident_share": round(confident_share(probs.numpy(), args.confidence_threshold), 4)}
        if n_classes:
            row["class_match"] = round((probs.argmax(1) == eval_y).float().mean().item(), 4)
        if accelerator.is_main_process:
            # rows are classes when conditional: eval_y cycles through the classes
            order = torch.arange(grid_n).view(-1, n_classes).t().flatten() if n_classes else torch.arange(grid_n)
            save_grid(fake[order], run.work / f"samples_epoch_{epoch:03d}.png", nrow=8,
                      title=f"epoch {epoch}: Fréchet distance {row['frechet_distance']:.1f}")
        logger.info("epoch %d: %s", epoch, ", ".join(f"{k} {v}" for k, v in row.items() if k != "epoch"))
        return row

    if start == 0:
        history["epochs"].append(score(0, {}))  # the untrained generator: the baseline every epoch must beat

    # ---- the adversarial loop ----------------------------------------------------------------------------
    for epoch in range(start, num_epochs(training_args)):
        loader.set_epoch(epoch)
        t0, d_sum, g_sum, steps = time.perf_counter(), torch.zeros((), device=accelerator.device), 0.0, 0
        g_sum = torch.zeros((), device=accelerator.device)
        for x, y in loader:
            real_x = x * 2 - 1
            cond = y if n_classes else None
            z = torch.randn(len(x), args.latent_dim, device=accelerator.device)
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
        history["train_s"] = round(history["train_s"] + time.perf_counter() - t0, 2)
        history["epochs"].append(score(epoch + 1, {"d_loss": round(d_sum.item() / max(steps, 1), 4),
                                                   "g_loss": round(g_sum.item() / max(steps, 1), 4)}))
        save_epoch(accelerator, run, epoch + 1, history)

    # ---- run directory ---------------------------------------------------------------------------------------
    first, last = history["epochs"][0], history["epochs"][-1]
    if accelerator.is_main_process:
        pre = {"image_size": data_args.image_size, "channels": data_args.channels, "range": "tanh"}
        models = {"generator": ("generator", g_kwargs, accelerator.unwrap_model(gen)),
                  "discriminator": ("discriminator", d_kwargs, accelerator.unwrap_model(disc))}
        if "kwargs" in evaluator_info:
            models["evaluator"] = ("cnn", evaluator_info["kwargs"], evaluator)
        save_models(run.work, models, pre)
        plot_curves(history["epochs"], ["d_loss", "g_loss", "frechet_distance", "confident_share"],
                    run.work / "training.png", "GAN training (epoch 0 = untrained generator)")
    metrics = {"frechet_distance": last["frechet_distance"], "confident_share": last["confident_share"],
               "initial_frechet_distance": first["frechet_distance"], "initial_confident_share": first["confident_share"],
               "epochs": history["epochs"], "epochs_run": len(history["epochs"]) - 1, "train_s": history["train_s"],
               "evaluator": {k: v for k, v in evaluator_info.items() if k != "kwargs"}, "eval_samples": n_eval}
    if n_classes:
        metrics["class_match"] = last["class_match"]
    record = {
        "job": "train_gan", "task": "unconditional-image-generation", "pipeline_tag": "unconditional-image-generation",
        "languages": [], "label_names": data.label_names if n_classes else [], "conditional": bool(n_classes),
        "config_file": config_path, "config": config_dict(data_args, args, run_args, training_args),
        "init": "random", "base_model": None, "data_sources": data.sources, "image_shape": list(data.shape),
        "rows": {"train": len(data.train_y)}, "metrics": metrics, "world_size": accelerator.num_processes,
        "ranks": loader.participation(),
        "summary": f"{'Class-conditional ' if n_classes else ''}DCGAN trained on {data.sources[0]['name']} "
                   f"({data.shape[1]}×{data.shape[2]}); Fréchet distance (CNN features) {first['frechet_distance']:.1f} → "
                   f"{last['frechet_distance']:.1f}, confident share {first['confident_share']:.2f} → "
                   f"{last['confident_share']:.2f}.",
    }
    accelerator.print(record["summary"])
    finish_run(run, record, run_args.keep_checkpoints)
    return run.path


if __name__ == "__main__":
    main()
