"""The classic small CNN image classifier (two 3×3 convolutions, max pooling, two linear layers, SGD
with momentum) under one Accelerator: test accuracy, per-class precision/recall/F1, confusion matrix
and a grid of misclassified test images.

Tiny, on a CPU (scikit-learn's 1,797 bundled 8×8 digits, resized to 16×16; offline, seconds):
    lingbridge train train_cnn --config tiny
Two CPU processes (gloo DDP):
    lingbridge train train_cnn --config tiny --num_processes 2
MNIST (28×28) from the Hub, or from local IDX files, on a GPU:
    lingbridge train train_cnn --config base
    lingbridge train train_cnn --config base \
        --train_images train-images-idx3-ubyte.gz --train_labels train-labels-idx1-ubyte.gz \
        --test_images t10k-images-idx3-ubyte.gz --test_labels t10k-labels-idx1-ubyte.gz
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lingbridge.errors import UserError, exit_on_user_error
from lingbridge.vision.data import VisionDataArguments


@dataclass
class CNNArguments:
    hidden_size: int = field(default=128, metadata={"help": "Units of the hidden linear layer."})
    dropout: float = field(default=0.0, metadata={"help": "Dropout before the output layer."})
    momentum: float = field(default=0.9, metadata={"help": "SGD momentum."})
    misclassified_examples: int = field(default=32, metadata={"help": "Misclassified test images shown in the grid."})

    def __post_init__(self):
        if self.hidden_size < 1:
            raise UserError(f"hidden_size must be at least 1, got {self.hidden_size}")
        if not 0 <= self.dropout < 1:
            raise UserError(f"dropout must be in [0, 1), got {self.dropout}")
        if not 0 <= self.momentum < 1:
            raise UserError(f"momentum must be in [0, 1), got {self.momentum}")


def parse(argv=None):
    from transformers import TrainingArguments

    from lingbridge.config import RunArguments, parse_config

    from lingbridge.vision.training import VISION_TRAINER_FIELDS

    return parse_config((VisionDataArguments, CNNArguments, RunArguments, TrainingArguments), argv, trainer_fields=VISION_TRAINER_FIELDS)


@exit_on_user_error
def main(argv=None):
    data_args, args, run_args, training_args, config_path = parse(argv)

    from lingbridge.record import config_dict
    from lingbridge.tasks.classification import plot_confusion_matrix
    from lingbridge.training import logger, setup_logging
    from lingbridge.runs import finish_run, prepare_run, start_run
    from lingbridge.vision.data import ink_fill, load_images
    from lingbridge.vision.metrics import per_class_report
    from lingbridge.vision.models import SmallCNN, cnn_flat_size, save_models
    from lingbridge.vision.plots import plot_curves, save_grid
    from lingbridge.vision.training import fit_classifier, make_accelerator, num_epochs, predict

    setup_logging(training_args)
    cnn_flat_size(data_args.channels, data_args.image_size)  # too small an image is a config error, caught now
    run = start_run("train_cnn", run_args, training_args)
    accelerator = make_accelerator(training_args)

    # ---- data ---------------------------------------------------------------------------------------
    with accelerator.main_process_first():
        data = load_images(data_args, seed=training_args.seed)
    mean = data.train_x.mean((0, 2, 3)).tolist() if data_args.normalize else None
    std = data.train_x.std((0, 2, 3)).tolist() if data_args.normalize else None
    logger.info("train %d images, test %d (%s), shape %s, %d classes", len(data.train_y), len(data.test_y),
                data.test_split, data.shape, len(data.label_names))
    prepare_run(run)

    # ---- model and training ---------------------------------------------------------------------------
    kwargs = dict(channels=data_args.channels, image_size=data_args.image_size, num_classes=len(data.label_names),
                  hidden=args.hidden_size, dropout=args.dropout, mean=mean, std=std)
    model, history = fit_classifier(
        SmallCNN(**kwargs), data, data_args, accelerator, learning_rate=training_args.learning_rate,
        epochs=num_epochs(training_args), batch_size=training_args.per_device_train_batch_size, seed=training_args.seed,
        momentum=args.momentum, weight_decay=training_args.weight_decay, max_steps=training_args.max_steps,
        eval_batch_size=training_args.per_device_eval_batch_size, run=run,
        lr_scheduler_type=str(getattr(training_args.lr_scheduler_type, "value", training_args.lr_scheduler_type)),
        warmup_steps=int(training_args.warmup_steps) if training_args.warmup_steps >= 1 else 0)

    # ---- evaluation and run directory -----------------------------------------------------------------
    probs = predict(model, data.test_x, training_args.per_device_eval_batch_size).softmax(1)
    preds, gold = probs.argmax(1).numpy(), data.test_y.numpy()
    table = per_class_report(preds, gold, data.label_names)
    logger.info("test accuracy %.4f (macro F1 %.4f) after %d epochs, %.1f s of training", table["all"]["accuracy"],
                table["all"]["f1"], len(history["epochs"]), history["train_s"])
    if accelerator.is_main_process:
        save_models(run.work, {"model": ("cnn", kwargs, model)},
                    {"image_size": data_args.image_size, "channels": data_args.channels, "range": "unit",
                     "ink_fill": ink_fill(data.train_x[:2000])})
        plot_confusion_matrix(preds, gold, data.label_names, run.work / "confusion_matrix.png", "Confusion matrix (test)")
        wrong = (preds != gold).nonzero()[0][: args.misclassified_examples]
        if len(wrong):
            save_grid(data.test_x[wrong], run.work / "misclassified.png", nrow=8, title="Misclassified (true → predicted)",
                      captions=[f"{data.label_names[gold[i]]} → {data.label_names[preds[i]]} "
                                f"({probs[i].max():.2f})" for i in wrong])
        plot_curves(history["epochs"], ["loss", "test_accuracy"], run.work / "training.png", "CNN training")
    record = {
        "job": "train_cnn", "task": "image-classification", "pipeline_tag": "image-classification", "languages": [],
        "label_names": data.label_names, "eval_split": "test", "test_split": data.test_split,
        "config_file": config_path, "config": config_dict(data_args, args, run_args, training_args),
        "init": "random", "base_model": None, "parameters": {"total": sum(p.numel() for p in model.parameters())},
        "data_sources": data.sources, "image_shape": list(data.shape),
        "rows": {"train": len(data.train_y), "test": len(data.test_y)},
        "metrics": {"test_accuracy": table["all"]["accuracy"], "per_class": table,
                    "per_language": {"all": table["all"]},  # the one-row table that cards and the app show
                    "epochs": history["epochs"], "epochs_run": len(history["epochs"]), "train_s": history["train_s"],
                    "first_loss": history["epochs"][0]["loss"], "last_loss": history["epochs"][-1]["loss"]},
        "world_size": accelerator.num_processes, "ranks": history["ranks"],
        "summary": f"Small CNN image classifier ({len(data.label_names)} classes, {data.shape[1]}×{data.shape[2]} "
                   f"{'grayscale' if data.shape[0] == 1 else 'RGB'}) trained from scratch on "
                   f"{data.sources[0]['name']}; test accuracy {table['all']['accuracy']:.4f}.",
    }
    accelerator.print(f"test accuracy {table['all']['accuracy']:.4f} after {len(history['epochs'])} epochs "
                      f"({history['train_s']:.1f} s training)")
    finish_run(run, record, run_args.keep_checkpoints)
    return run.path


if __name__ == "__main__":
    main()
