"""DCGAN (class-conditional as an option) with the non-saturating loss: discriminator and generator
updated alternately, two Adam optimisers under one Accelerator. Sample grids from fixed noise after
every epoch, and a quality number beside the pictures: the Fréchet distance between real and generated
images in the feature space of a trained CNN classifier, and the share of samples that classifier
labels with confidence > 0.9.

Tiny, on a CPU (scikit-learn's bundled digits at 16×16; the evaluator CNN is trained first, in seconds):
    lingbridge train train_gan --config tiny
Class-conditional, with a finished train_cnn run as the evaluator:
    lingbridge train train_gan --config tiny --conditional true \
        --classifier_run runs/train_cnn-<timestamp>
MNIST on a GPU:
    lingbridge train train_gan --config base
"""

from __future__ import annotations

from lingbridge.errors import UserError, exit_on_user_error
from lingbridge.vision.data import VisionDataArguments
from lingbridge.vision.gan import GANArguments


def parse(argv=None):
    from transformers import TrainingArguments

    from lingbridge.config import RunArguments, parse_config

    from lingbridge.vision.training import VISION_TRAINER_FIELDS

    return parse_config((VisionDataArguments, GANArguments, RunArguments, TrainingArguments), argv, trainer_fields=VISION_TRAINER_FIELDS)


@exit_on_user_error
def main(argv=None):
    data_args, args, run_args, training_args, config_path = parse(argv)

    import torch

    from lingbridge.record import config_dict
    from lingbridge.runs import finish_run, prepare_run, start_run
    from lingbridge.training import setup_logging
    from lingbridge.vision.data import load_images
    from lingbridge.vision.gan import SampleScorer, adversarial_epoch, load_evaluator
    from lingbridge.vision.models import Discriminator, Generator, save_models
    from lingbridge.vision.plots import plot_curves
    from lingbridge.vision.training import DeviceBatches, make_accelerator, num_epochs, prepare_optimizers, resume, save_epoch

    setup_logging(training_args)
    if data_args.image_size % 4:
        raise UserError(f"image_size must be divisible by 4 for the DCGAN, got {data_args.image_size}")
    run = start_run("train_gan", run_args, training_args)
    accelerator = make_accelerator(training_args)
    with accelerator.main_process_first():
        data = load_images(data_args, seed=training_args.seed)
    prepare_run(run)
    evaluator, evaluator_info = load_evaluator(args, data_args, data, accelerator, training_args)

    # ---- models, optimisers, the scorer on fixed noise ---------------------------------------------------
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
    score = SampleScorer(evaluator, data, args, n_classes, accelerator, training_args.seed, run.work)
    if start == 0:
        history["epochs"].append(score(accelerator.unwrap_model(gen), 0, {}))  # the untrained generator: the baseline

    # ---- the adversarial loop ----------------------------------------------------------------------------
    for epoch in range(start, num_epochs(training_args)):
        loader.set_epoch(epoch)
        losses = adversarial_epoch(gen, disc, opt_g, opt_d, loader, accelerator, args.latent_dim, bool(n_classes))
        history["train_s"] = round(history["train_s"] + losses.pop("seconds"), 2)
        history["epochs"].append(score(accelerator.unwrap_model(gen), epoch + 1, losses))
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
               "evaluator": {k: v for k, v in evaluator_info.items() if k != "kwargs"}, "eval_samples": args.eval_samples}
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
