"""Variational autoencoder (Bernoulli likelihood): encoder to μ and log σ², reparameterisation,
decoder; loss = reconstruction + β·KL. Reported: test-set negative ELBO in nats, reconstructions,
samples from the prior, latent interpolations, and anomaly detection by reconstruction error (one
class held out of training, ROC-AUC for telling it apart from the test images of the other classes).

Tiny, on a CPU (scikit-learn's bundled digits at 16×16, digit 0 held out as the anomaly):
    lingbridge train train_vae --config tiny
MNIST on a GPU:
    lingbridge train train_vae --config base
"""

from __future__ import annotations

from lingbridge.errors import UserError, exit_on_user_error
from lingbridge.vision.data import VisionDataArguments
from lingbridge.vision.vae import VAEArguments


def parse(argv=None):
    from transformers import TrainingArguments

    from lingbridge.config import RunArguments, parse_config

    from lingbridge.vision.training import VISION_TRAINER_FIELDS

    return parse_config((VisionDataArguments, VAEArguments, RunArguments, TrainingArguments), argv, trainer_fields=VISION_TRAINER_FIELDS)


@exit_on_user_error
def main(argv=None):
    data_args, args, run_args, training_args, config_path = parse(argv)

    import torch

    from lingbridge.record import config_dict
    from lingbridge.runs import finish_run, prepare_run, start_run
    from lingbridge.training import logger, setup_logging
    from lingbridge.vision.data import load_images
    from lingbridge.vision.metrics import roc_auc
    from lingbridge.vision.models import VAE, save_models
    from lingbridge.vision.plots import plot_curves
    from lingbridge.vision.training import DeviceBatches, make_accelerator, num_epochs, prepare_optimizers, resume, save_epoch
    from lingbridge.vision.vae import evaluate_vae, save_vae_figures, vae_epoch

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
        loader.set_epoch(epoch)
        losses = vae_epoch(model, optimizer, loader, accelerator, data_args, args.beta)
        history["train_s"] = round(history["train_s"] + losses.pop("seconds"), 2)
        t_rec, t_kl, _ = evaluate_vae(accelerator.unwrap_model(model), test_x)
        row = {"epoch": epoch + 1, **losses, "test_negative_elbo": round((t_rec + t_kl).mean().item(), 3)}
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
        save_vae_figures(model, test_x, args.latent_dim, training_args.seed, accelerator.device, run.work)
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
