"""The training loops of the vision recipes: one `accelerate.Accelerator`, tensors as data.

Trainer is built for dict batches and one optimiser; the image models train on (images, labels)
tensors and the GAN needs two optimisers, so these are short Accelerate loops that use the same run
directory calls as every recipe (checkpoints `checkpoint-<epoch>` in `run.work`, so `--resume` works).
"""

from __future__ import annotations

import math
import shutil
import time

import torch

from ..training import gather_from_ranks, logger


class DeviceBatches:
    """Shuffled mini-batches of (images, labels) tensors that live on the training device.

    Image sets this size fit in device memory (MNIST: 188 MB as float32), so batches are index slices
    with no host→device copy per step: measured on a CPU, the DataLoader path ran at 0.8× a plain loop.
    Each process takes its own `rank::world` share of one permutation that every process draws from the
    same seed (what `DistributedSampler` does), so DDP ranks see disjoint, equal-sized shards.
    """

    def __init__(self, x, y, batch_size: int, accelerator, shuffle: bool = True, seed: int = 0,
                 drop_last: bool = False):
        self.x, self.y = x.to(accelerator.device), y.to(accelerator.device)
        self.batch_size, self.shuffle, self.seed, self.drop_last = batch_size, shuffle, seed, drop_last
        self.rank, self.world = accelerator.process_index, accelerator.num_processes
        self.per_rank = len(x) // self.world  # equal shards: every rank takes the same number of steps
        self.epoch = 0
        self.served = 0  # batches handed out by this process (this session)

    def __len__(self):
        full, rest = divmod(self.per_rank, self.batch_size)
        return full + (1 if rest and not self.drop_last else 0)

    def set_epoch(self, epoch: int):
        self.epoch = epoch  # a new, reproducible order per epoch (also after --resume)

    def __iter__(self):
        n = self.per_rank * self.world
        if self.shuffle:
            order = torch.randperm(len(self.x), generator=torch.Generator().manual_seed(self.seed + self.epoch))[:n]
        else:
            order = torch.arange(n)
        mine = order[self.rank::self.world].to(self.x.device)
        for i in range(len(self)):
            idx = mine[i * self.batch_size:(i + 1) * self.batch_size]
            self.served += 1
            yield self.x[idx], self.y[idx]

    def participation(self) -> list[dict]:
        """`[{"rank", "steps"}]` for every process (a collective call): the record shows each rank trained."""
        return gather_from_ranks({"rank": self.rank, "steps": self.served})


def make_accelerator(training_args):
    """An `Accelerator` configured from `TrainingArguments` (mixed precision, CPU, seed, progress bars)."""
    from accelerate import Accelerator
    from accelerate.utils import set_seed

    precision = "bf16" if training_args.bf16 else "fp16" if training_args.fp16 else "no"
    accelerator = Accelerator(mixed_precision=precision, cpu=training_args.use_cpu)
    accelerator.lingbridge_disable_tqdm = bool(training_args.disable_tqdm)  # read by `progress`
    set_seed(training_args.seed)
    return accelerator


def prepare_optimizers(accelerator, *optimizers):
    """Hand optimisers to Accelerate only where its wrapper does something: the fp16 gradient scaler or XLA.

    Otherwise the wrapper only adds Python work to every step (it looks up optional packages in `step()` and
    inspects `zero_grad`'s signature on each call): measured on an H200, the small CNN trained at 0.75× a plain
    loop with it. Gradients are still synchronised by the prepared (DDP) model, and the optimisers are
    registered so that `save_state`/`load_state` keep their state for `--resume`.
    """
    from accelerate.utils import DistributedType

    if accelerator.mixed_precision == "fp16" or accelerator.distributed_type == DistributedType.XLA:
        return accelerator.prepare(*optimizers)
    accelerator.register_for_checkpointing(*optimizers)
    return optimizers[0] if len(optimizers) == 1 else optimizers


def num_epochs(training_args) -> int:
    return max(1, math.ceil(training_args.num_train_epochs))


def resume(accelerator, run) -> tuple[int, dict]:
    """With `--resume`, load the newest `checkpoint-<epoch>` (models, optimisers, RNG states).

    Returns the number of epochs already done and the metrics history saved with them ({} when fresh).
    Call after `accelerator.prepare(...)`/`prepare_optimizers`, with the same objects in the same order.
    """
    import json
    from pathlib import Path

    ckpt = run.last_checkpoint() if run is not None else None
    if not ckpt:
        return 0, {}
    accelerator.load_state(ckpt)
    path = Path(ckpt) / "history.json"
    return int(ckpt.rsplit("-", 1)[1]), json.loads(path.read_text()) if path.is_file() else {}


def save_epoch(accelerator, run, epoch: int, extra: dict | None = None) -> None:
    """Save model(s), optimiser(s) and RNG states after `epoch` (1-based) epochs; keep only the newest."""
    if run is None:
        return
    path = run.work / f"checkpoint-{epoch}"
    accelerator.save_state(str(path))
    if accelerator.is_main_process:
        if extra:
            import json

            (path / "history.json").write_text(json.dumps(extra))
        for old in run.work.glob("checkpoint-*"):
            if old != path:
                shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()


@torch.no_grad()
def predict(model, x, batch_size: int = 512, fn=None):
    """Run `fn(model, batch)` (default: the model's forward) over `x` in batches on the model's device."""
    model.eval()
    device = next(model.parameters()).device
    fn = fn or (lambda m, b: m(b))
    outs = [fn(model, x[i:i + batch_size].to(device)).float().cpu() for i in range(0, len(x), batch_size)]
    return torch.cat(outs)


def fit_classifier(model, data, data_args, accelerator, *, learning_rate: float, epochs: int, batch_size: int,
                   seed: int, momentum: float = 0.9, weight_decay: float = 0.0, max_steps: int = -1,
                   eval_batch_size: int = 512, run=None, lr_scheduler_type: str = "constant", warmup_steps: int = 0):
    """Train the CNN with SGD + momentum (cross-entropy) and test it after every epoch.

    Args:
        model: a `SmallCNN` (it normalises its own inputs).
        data: `ImageData`; `data_args` gives the augmentation.
        accelerator: the run's `Accelerator` (device, processes, mixed precision).
        learning_rate, epochs, batch_size, seed, momentum, weight_decay, max_steps: the optimisation.
        run: the `RunDir` to checkpoint into each epoch (None: no checkpoints, e.g. the GAN's evaluator).
        lr_scheduler_type, warmup_steps: a `transformers` schedule stepped every batch (the recipe passes
            `TrainingArguments.lr_scheduler_type`, linear decay by default: the last epoch's test accuracy then
            stops jumping by ±0.5 points as it did at a constant rate).

    Returns:
        (unwrapped model, history `{"epochs": [{epoch, step, loss, test_accuracy, images_per_s}], "train_s"}`).
    """
    import torch.nn.functional as F

    from .data import augment

    optimizer = torch.optim.SGD(model.parameters(), lr=learning_rate, momentum=momentum, weight_decay=weight_decay)
    loader = DeviceBatches(data.train_x, data.train_y, batch_size, accelerator, seed=seed)
    from transformers import get_scheduler

    total_steps = epochs * len(loader) if max_steps <= 0 else min(max_steps, epochs * len(loader))
    scheduler = get_scheduler(lr_scheduler_type, optimizer, num_warmup_steps=warmup_steps, num_training_steps=total_steps)
    model = accelerator.prepare(model)
    optimizer = prepare_optimizers(accelerator, optimizer)
    accelerator.register_for_checkpointing(scheduler)
    start, history = resume(accelerator, run)
    history = history or {"epochs": [], "train_s": 0.0}
    step = start * len(loader)
    for epoch in range(start, epochs):
        model.train()
        loader.set_epoch(epoch)
        t0, total, seen = time.perf_counter(), torch.zeros((), device=accelerator.device), 0
        for x, y in progress(loader, accelerator, f"epoch {epoch + 1}/{epochs}"):
            with torch.no_grad():
                x = augment(x, data_args)
            with accelerator.autocast():
                loss = F.cross_entropy(model(x), y)
            optimizer.zero_grad(set_to_none=True)
            accelerator.backward(loss)
            optimizer.step()
            scheduler.step()
            step += 1
            total += loss.detach() * len(y)  # no .item() per step: it would sync a GPU every batch
            seen += len(y)
            if 0 < max_steps <= step:
                break
        elapsed = time.perf_counter() - t0
        logits = predict(accelerator.unwrap_model(model), data.test_x, eval_batch_size)
        acc = (logits.argmax(1) == data.test_y).float().mean().item()
        row = {"epoch": epoch + 1, "step": step, "loss": round(total.item() / max(seen, 1), 5),
               "test_accuracy": round(acc, 5), "images_per_s": round(seen * accelerator.num_processes / elapsed, 1)}
        history.setdefault("images", 0)
        history["images"] += seen * accelerator.num_processes
        history["epochs"].append(row)
        history["train_s"] = round(history["train_s"] + elapsed, 2)
        logger.info("epoch %d: loss %.4f, test accuracy %.4f, %.0f images/s", epoch + 1, row["loss"], acc,
                    row["images_per_s"])
        save_epoch(accelerator, run, epoch + 1, history)
        if 0 < max_steps <= step:
            break
    history["ranks"] = loader.participation()
    return accelerator.unwrap_model(model), history


def progress(loader, accelerator, desc: str):
    """The batches of one epoch with a progress bar on the main process (tqdm; gone when the epoch ends;
    none with `--disable_tqdm true`)."""
    from tqdm.auto import tqdm

    off = getattr(accelerator, "lingbridge_disable_tqdm", False) or not accelerator.is_local_main_process
    return tqdm(loader, desc=desc, leave=False, disable=off, unit="batch")


# The `TrainingArguments` fields the vision recipes' own loops read (`parse_config` refuses any other one given).
VISION_TRAINER_FIELDS = {"learning_rate", "num_train_epochs", "max_steps", "per_device_train_batch_size",
                         "per_device_eval_batch_size", "seed", "weight_decay", "lr_scheduler_type", "warmup_steps",
                         "adam_beta1", "adam_beta2", "bf16", "fp16", "use_cpu", "disable_tqdm"}
