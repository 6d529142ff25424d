"""The run directory: the contract between recipes, the app, cards and publishing.

A recipe works in `<output_dir>.partial/` (checkpoints land there, so `--resume` finds them) and
renames it to `<output_dir>/` only when the model, the run record (`lingbridge.record`) and the card
(`lingbridge.cards`) are all written: a crash never leaves a folder that looks complete.

    run = start_run(job, run_args, training_args)   # checks only, every rank
    ...validate and load the data...
    prepare_run(run)                                 # now the folder may exist
    ...train; save_model(run, model, tokenizer)...
    finish_run(run, record, trainer=trainer, train_result=result)
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from datetime import datetime
from pathlib import Path

from .errors import UserError
from .record import RunRecord

logger = logging.getLogger("lingbridge")
PARTIAL_SUFFIX = ".partial"


def default_output_dir(job: str, root: str | Path = "runs") -> Path:
    return Path(root) / f"{job}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"


def _newest_partial(job: str, root: str | Path = "runs") -> Path | None:
    found = sorted(Path(root).glob(f"{job}-*{PARTIAL_SUFFIX}"), key=lambda p: p.stat().st_mtime)
    return Path(str(found[-1])[: -len(PARTIAL_SUFFIX)]) if found else None


class RunDir:
    """Where one recipe run writes.

    Args:
        job: recipe name, used for the default folder `runs/<job>-<timestamp>`.
        output_dir: the final folder (default: a new timestamped one).
        overwrite: replace an existing finished run.
        resume: continue the unfinished run in `<output_dir>.partial` (the newest of this job when
            `output_dir` is not given).
    """

    def __init__(self, job: str, output_dir: str | None, overwrite: bool = False, resume: bool = False):
        self.job = job
        if output_dir == "trainer_output":
            output_dir = None  # transformers v5's stand-in for "not given"; ours is runs/<job>-<time>
        if output_dir:
            path = Path(output_dir)
        elif resume:
            path = _newest_partial(job)
            if path is None:
                raise UserError(f"--resume: no unfinished '{job}' run under runs/ to continue; give --output_dir")
        else:
            path = default_output_dir(job)
        self.path = path
        self.work = Path(str(path) + PARTIAL_SUFFIX)
        self.overwrite = overwrite
        self.resume = resume
        self.started = time.time()

    def check(self) -> None:
        """Refuse to clobber anything; call before training starts (main process)."""
        if self.path.exists() and not self.overwrite:
            raise UserError(
                f"run directory {self.path} already exists; pass --overwrite_output_dir to replace it "
                "or choose another --output_dir"
            )
        if self.path.exists() and not self.path.is_dir():
            raise UserError(f"output_dir {self.path} is a file, expected a folder")
        if self.work.exists() and not (self.resume or self.overwrite):
            raise UserError(
                f"an unfinished run is in {self.work}; pass --resume to continue it or "
                "--overwrite_output_dir to start over"
            )
        if self.resume and not self.work.exists():
            raise UserError(f"--resume: nothing to continue at {self.work}")

    def prepare(self) -> None:
        """Create the working folder (main process only)."""
        if self.overwrite and not self.resume and self.work.exists():
            shutil.rmtree(self.work)
        self.work.mkdir(parents=True, exist_ok=True)

    def last_checkpoint(self) -> str | None:
        if not self.resume:
            return None
        from transformers.trainer_utils import get_last_checkpoint

        ckpt = get_last_checkpoint(str(self.work))
        import logging

        log = logging.getLogger("lingbridge")
        if ckpt:
            log.info("resuming from %s", ckpt)
        else:
            log.warning("--resume: no checkpoint in %s yet, starting from the beginning", self.work)
        return ckpt

    def finalize(self, keep_checkpoints: bool = False) -> Path:
        """Drop checkpoints and rename the working folder to the final run directory (main process)."""
        if not keep_checkpoints:
            for ckpt in self.work.glob("checkpoint-*"):
                shutil.rmtree(ckpt, ignore_errors=True)
        if self.path.exists():
            # Only reached with --overwrite_output_dir (checked before training).
            shutil.rmtree(self.path)
        os.replace(self.work, self.path)
        return self.path


# ----------------------------------------------------------------------------------------------
# The life of a run directory, under Accelerate (every rank calls these; the main process writes).


def start_run(job: str, run_args, training_args) -> RunDir:
    """Resolve and check the run directory on every rank; nothing is written yet.

    Points `training_args.output_dir` at the working folder `<run>.partial`, where Trainer keeps
    its checkpoints. Every rank runs the (read-only) checks so that a user mistake stops all of
    them with the same message instead of leaving the others waiting. Call `prepare_run` once
    the data has been validated, so that bad input never leaves a folder behind.
    """
    from accelerate import PartialState
    from accelerate.utils import broadcast_object_list

    state = PartialState()
    run = RunDir(job, training_args.output_dir, overwrite=run_args.overwrite_output_dir, resume=run_args.resume)
    if state.num_processes > 1:
        # The default folder name holds a timestamp: all ranks must use the main process's.
        paths = broadcast_object_list([str(run.path)])
        run = RunDir(job, paths[0], overwrite=run.overwrite, resume=run.resume)
    run.check()
    training_args.output_dir = str(run.work)
    import torch

    if not torch.cuda.is_available():
        training_args.dataloader_pin_memory = False  # pinning needs an accelerator
    return run


def prepare_run(run: RunDir) -> None:
    """Create the working folder on the main process (all ranks wait for it)."""
    from accelerate import PartialState

    state = PartialState()
    state.wait_for_everyone()
    if state.is_main_process:
        run.prepare()
    state.wait_for_everyone()


def save_model(run: RunDir, model, tokenizer=None, merge_lora: bool = True) -> None:
    """Save the trained model into the working folder (main process): safetensors, config, tokenizer.

    A peft model is merged into its base weights (a plain folder `pipeline()` loads) unless
    `merge_lora` is false; then the `adapter_*` files are kept with the labelled base config beside them.
    """
    from accelerate import PartialState

    if not PartialState().is_main_process:
        return
    is_peft = hasattr(model, "merge_and_unload")
    (model.merge_and_unload() if is_peft and merge_lora else model).save_pretrained(run.work)
    if is_peft and not merge_lora:
        model.get_base_model().config.save_pretrained(run.work)  # labels for whoever loads the adapter
    if tokenizer is not None:
        tokenizer.save_pretrained(run.work)


def finish_run(run: RunDir, record: RunRecord | dict, keep_checkpoints: bool = False, trainer=None,
               train_result=None) -> Path:
    """Write the record and the card into the working folder, then rename it (main process).

    The model and plots must already be in `run.work`; the rename is the last step, so a crash at
    any point leaves only `<run>.partial`, never a folder that looks complete. With `trainer` (and
    the `train_result` of `trainer.train()`), the record gets the training metrics, the loss curve,
    the world size and each rank's steps.
    """
    from accelerate import PartialState

    from .cards import write_card
    from .record import write_record

    record = record.to_dict() if isinstance(record, RunRecord) else dict(record)
    if trainer is not None:
        from .training import RankParticipation, loss_summary

        metrics = record.setdefault("metrics", {})
        if train_result is not None:
            metrics["train"] = dict(train_result.metrics)
        metrics.update(loss_summary(trainer.state.log_history))
        ranks = next((c for c in trainer.callback_handler.callbacks if isinstance(c, RankParticipation)), None)
        record["world_size"] = trainer.args.world_size
        record["ranks"] = ranks.per_rank if ranks else []
    state = PartialState()
    if state.is_main_process:
        record["wall_time_s"] = round(time.time() - run.started, 1)
        record["run_dir"] = str(run.path)
        # Trainer pickles its arguments next to the model; the record holds them as JSON instead.
        (run.work / "training_args.bin").unlink(missing_ok=True)
        write_record(run.work, record)
        write_card(run.work)
        run.finalize(keep_checkpoints)
        logger.info("run directory: %s", run.path)
    state.wait_for_everyone()
    return run.path
