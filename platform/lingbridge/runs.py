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
from .record import RECORD_NAME, RunRecord

logger = logging.getLogger("lingbridge")
PARTIAL_SUFFIX = ".partial"


def default_output_dir(job: str, root: str | Path = "runs") -> Path:
    return Path(root) / f"{job}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"


def _newest_partial(job: str, root: str | Path = "runs") -> Path | None:
    found = sorted(Path(root).glob(f"{job}-*{PARTIAL_SUFFIX}"), key=lambda p: p.stat().st_mtime)
    return Path(str(found[-1])[: -len(PARTIAL_SUFFIX)]) if found else None


WORK_MARKER = ".lingbridge_work"  # written into every `<run>.partial` lingbridge creates: only those are ever replaced


def _is_empty_dir(path: Path) -> bool:
    return path.is_dir() and not path.is_symlink() and next(path.iterdir(), None) is None


def _protected(path: Path) -> str | None:
    """Why `path` may never be a run directory (the current, home or lingbridge's own folder or a parent)."""
    resolved = path.resolve()
    places = (("the current directory", Path.cwd()), ("your home directory", Path.home()),
              ("the folder lingbridge is installed in", Path(__file__).resolve().parent))
    for name, place in places:
        place = place.resolve()
        if resolved == place:
            return name
        if resolved in place.parents:
            return f"a parent of {name} ({place})"
    return None


class RunDir:
    """Where one recipe run writes, and what it may replace.

    A run works in `<output_dir>.partial/` and renames it to `<output_dir>/` at the end. Replacing is
    allowed only for what lingbridge made: an existing `<output_dir>` must be a finished run directory
    (it has `lingbridge_run.json`; replaced with `--overwrite_output_dir`) or an empty folder; an existing
    `<output_dir>.partial` must carry lingbridge's `.lingbridge_work` marker (or be empty). Anything else,
    and the current, home or installation folder (or a parent of one), is refused whatever the flags say.

    Args:
        job: recipe name, used for the default folder `runs/<job>-<timestamp>`.
        output_dir: the final folder (default: a new timestamped one).
        overwrite: replace an existing finished run.
        resume: continue the unfinished run in `<output_dir>.partial` (the newest of this job when
            `output_dir` is not given).
    """

    def __init__(self, job: str, output_dir: str | None, overwrite: bool = False, resume: bool = False):
        self.job = job
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

    # ---- what may be replaced ----------------------------------------------------------------------
    def _final_problem(self) -> str | None:
        """None when the final folder may be written (absent, empty, or a run replaced on request)."""
        path = self.path
        if path.is_symlink():
            return f"--output_dir {path} is a symbolic link; give a new folder path"
        if not path.exists():
            return None
        if not path.is_dir():
            return f"--output_dir {path} is a file; give a new folder path such as runs/<name>"
        if _is_empty_dir(path):
            return None
        if not (path / RECORD_NAME).is_file():
            return (f"--output_dir {path} already exists and is not a lingbridge run directory (no {RECORD_NAME}); "
                    "lingbridge never replaces other folders: give a new --output_dir")
        if not self.overwrite:
            return (f"run directory {path} already exists (a finished run); give a new --output_dir, or pass "
                    "--overwrite_output_dir to replace that run (its model and record are deleted)")
        return None

    def _work_state(self) -> str:
        """'absent', 'ours' (lingbridge's marker, or empty), 'legacy' (Trainer checkpoints but no marker: an
        unfinished run of an older lingbridge, which may be resumed but is never deleted) or 'foreign'."""
        work = self.work
        if not work.exists() and not work.is_symlink():
            return "absent"
        if work.is_dir() and not work.is_symlink():
            if (work / WORK_MARKER).is_file() or _is_empty_dir(work):
                return "ours"
            if any(p.is_dir() for p in work.glob("checkpoint-*")):
                return "legacy"
        return "foreign"

    def check(self) -> None:
        """Refuse anything that would replace what lingbridge did not make; read-only, call on every rank
        before anything is created (`check_run`)."""
        for place in (self.path, self.work):
            why = _protected(place)
            if why:
                raise UserError(f"--output_dir {self.path} is {why}; a run needs a folder of its own: "
                                "give a new --output_dir such as runs/<name>")
        for parent in self.path.absolute().parents:
            if parent.exists() or parent.is_symlink():
                if not parent.is_dir():
                    raise UserError(f"--output_dir {self.path}: {parent} is a file, not a folder")
                if not os.access(parent, os.W_OK | os.X_OK):
                    raise UserError(f"--output_dir {self.path}: no permission to create folders in {parent}")
                break
        problem = self._final_problem()
        if problem:
            raise UserError(problem)
        state = self._work_state()
        if state == "foreign" or (state == "legacy" and not self.resume):
            raise UserError(f"{self.work} exists and is not an unfinished lingbridge run (no {WORK_MARKER} marker); "
                            "lingbridge never replaces other folders: move it away or give a new --output_dir")
        if state == "ours" and not (self.resume or self.overwrite):
            raise UserError(f"an unfinished run is in {self.work}; pass --resume to continue it, or "
                            "--overwrite_output_dir to start over (its checkpoints are deleted)")
        if self.resume and state == "absent":
            raise UserError(f"--resume: nothing to continue at {self.work}")

    def prepare(self) -> None:
        """Create the working folder with lingbridge's marker (main process); start over only in our own."""
        state = self._work_state()
        if state == "foreign" or (state == "legacy" and not self.resume):
            self.check()  # it changed since the check: raise its error
        if self.overwrite and not self.resume and state == "ours":
            shutil.rmtree(self.work)
        self.work.mkdir(parents=True, exist_ok=True)
        (self.work / WORK_MARKER).write_text(f"{self.job}\n", encoding="utf-8")

    do_train = do_eval = do_predict = True  # --do_eval / --do_predict: start_run takes them from TrainingArguments

    def train(self, trainer):
        """`trainer.train()`, resuming as asked (`--resume`, `--resume_from_checkpoint`); its result."""
        return trainer.train(resume_from_checkpoint=self.last_checkpoint())

    def evaluate(self, trainer) -> dict:
        """`trainer.evaluate()` on the dev split when `--do_eval` (and there is one), else `{}`."""
        return trainer.evaluate() if self.do_eval and trainer.eval_dataset is not None else {}

    def last_checkpoint(self) -> str | None:
        if getattr(self, "checkpoint", None):  # --resume_from_checkpoint PATH
            logger.info("resuming from %s", self.checkpoint)
            return self.checkpoint
        if not self.resume:
            return None
        from transformers.trainer_utils import get_last_checkpoint

        ckpt = get_last_checkpoint(str(self.work))
        if ckpt:
            logger.info("resuming from %s", ckpt)
        else:
            logger.warning("--resume: no checkpoint in %s yet, starting from the beginning", self.work)
        return ckpt

    def finalize(self, keep_checkpoints: bool = False) -> Path:
        """Drop checkpoints and rename the working folder to the final run directory (main process).

        The final folder is checked again (someone may have written into it during training): when it may
        no longer be replaced, the finished run stays in `<run>.partial` and the error says so. A replaced
        run is renamed aside first and deleted last, so a crash never loses both.
        """
        if not keep_checkpoints:
            for ckpt in self.work.glob("checkpoint-*"):
                shutil.rmtree(ckpt, ignore_errors=True)
        problem = self._final_problem()
        if problem:
            raise UserError(f"{problem}; the finished run is kept in {self.work}")
        (self.work / WORK_MARKER).unlink(missing_ok=True)
        old = None
        if self.path.exists():
            old = self.path.with_name(f".{self.path.name}.replaced-{os.getpid()}")
            os.replace(self.path, old)
        os.replace(self.work, self.path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        return self.path


# ----------------------------------------------------------------------------------------------
# The life of a run directory, under Accelerate (every rank calls these; the main process writes).


def check_run(job: str, run_args, training_args) -> RunDir:
    """The run-directory checks of `start_run`, in this process only; nothing is created or changed.

    Args:
        job: the recipe name (the default folder is `runs/<job>-<timestamp>`).
        run_args: `RunArguments` (or anything with `overwrite_output_dir` and `resume`).
        training_args: anything with `output_dir` (`TrainingArguments`, the sweep's arguments).
    """
    run = _run_dir(job, run_args, training_args)
    run.check()
    return run


def _local_data(configs) -> bool:
    """Whether a recipe's data is local files or the bundled sample (cheap to check before launching)."""
    names = [getattr(c, "dataset_name", None) for c in configs if hasattr(c, "dataset_name")]
    return all(n is None or str(n).startswith("sample:") for n in names)


def validate_recipe(module, argv: list[str] | None = None, data: bool = True) -> tuple:
    """Every check a recipe makes before it creates anything, in this process; creates nothing.

    What `lingbridge train` calls in the launcher process before `accelerate launch`, so that a user
    mistake is one `UserError` there instead of one per started process. In order: the recipe's
    `parse(argv)` (config keys, value types, every dataclass's `__post_init__`, `TrainingArguments`
    sanity), its `check(configs)` where it has one (model source, option combinations), the run directory
    (`check_run`: nothing of the user's may be replaced), and, with `data` and when the data is local files
    or the bundled sample, its `plan_data(configs)` (files readable, columns, language codes).

    Args:
        module: a recipe module (`lingbridge.recipes.finetune_classification`, ...).
        argv: the recipe's options, as on its command line.
        data: also load the data (local files and the bundled sample only; a Hub dataset is left to the run).

    Returns:
        What the recipe's `parse(argv)` returned.

    Raises:
        UserError: the first mistake found.
    """
    import copy

    parsed = module.parse(argv)
    configs = list(parsed[:-1])
    check = getattr(module, "check", None)
    if check is not None:
        check(copy.deepcopy(configs))
    run_args = next((c for c in configs if hasattr(c, "overwrite_output_dir") and hasattr(c, "resume")), None)
    output = next((c for c in configs if hasattr(c, "output_dir")), None)
    if run_args is not None and output is not None:
        check_run(module.__name__.rsplit(".", 1)[-1], run_args, output)
    if data and hasattr(module, "plan_data") and _local_data(configs):
        module.plan_data(copy.deepcopy(configs))
    return parsed


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
    run = _run_dir(job, run_args, training_args)
    if state.num_processes > 1:
        # The default folder name holds a timestamp: all ranks must use the main process's.
        paths = broadcast_object_list([str(run.path)])
        run = _run_dir(job, run_args, training_args, paths[0])
    run.check()  # the same checks as check_run, on the shared folder name
    run.hub = _take_hub_settings(training_args)
    run.do_eval, run.do_predict = getattr(training_args, "do_eval", True), getattr(training_args, "do_predict", True)
    if isinstance(run, EvalRun) and hasattr(training_args, "report_to"):
        # nothing to track without training (the results are files); and transformers' TensorBoard callback,
        # never told a folder when no training began, would write into the current directory
        training_args.report_to = []
    if hasattr(training_args, "resume_from_checkpoint"):
        training_args.resume_from_checkpoint = None  # the run hands its checkpoint to trainer.train itself
    training_args.output_dir = str(run.work)
    import torch

    if not torch.cuda.is_available():
        training_args.dataloader_pin_memory = False  # pinning needs an accelerator
    if getattr(run_args, "auto_bf16", False) and not (training_args.bf16 or training_args.fp16):
        from .training import bf16_supported

        training_args.bf16 = bf16_supported()  # Trainer then autocasts forward passes to bf16
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

    if not PartialState().is_main_process or isinstance(run, EvalRun):
        return  # an evaluation-only run never writes weights
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
        history = eval_history(trainer.state.log_history)
        if history:
            metrics["eval_history"] = history
        ranks = next((c for c in trainer.callback_handler.callbacks if isinstance(c, RankParticipation)), None)
        record["world_size"] = trainer.args.world_size
        record["ranks"] = ranks.per_rank if ranks else []
    state = PartialState()
    if isinstance(run, EvalRun):
        if state.is_main_process:
            run.finish(record)
        state.wait_for_everyone()
        return run.path
    if state.is_main_process:
        write_results(run.work, record, trainer)
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


# ----------------------------------------------------------------------------------------------
# The Transformers example scripts' conventions: evaluation-only runs, resume_from_checkpoint, the
# standard result files, and --push_to_hub after the run.

RESULT_FILES = ("all_results.json", "train_results.json", "eval_results.json", "predict_results.json",
                "trainer_state.json")


class EvalRun(RunDir):
    """An evaluation or prediction of an existing model without training (`--do_train false`).

    The results (`eval_results.json`, `predict_results.json`, `all_results.json` and the recipe's
    predictions file) go into `output_dir`: a finished run directory (the usual case: the model's own,
    the default when `--model_name_or_path` is one), or an empty or new folder. Nothing else there
    changes: no weights, record or card are written. The recipe works in a temporary folder.
    """

    def __init__(self, job: str, output_dir: str | None):
        super().__init__(job, output_dir or str(default_output_dir(f"{job}-eval")))
        import tempfile

        self.work = Path(tempfile.gettempdir()) / f"lingbridge-{job}-{os.getpid()}-{time.time_ns()}"

    def check(self) -> None:
        why = _protected(self.path)
        if why:
            raise UserError(f"--output_dir {self.path} is {why}; give a run directory or a new folder")
        if self.path.is_symlink() or (self.path.exists() and not self.path.is_dir()):
            raise UserError(f"--output_dir {self.path} is not a folder; give a run directory or a new folder")
        if self.path.is_dir() and not _is_empty_dir(self.path) and not (self.path / RECORD_NAME).is_file():
            raise UserError(f"--output_dir {self.path} is not a lingbridge run directory (no {RECORD_NAME}) and not "
                            "empty; an evaluation writes its results into a run directory or a new folder")

    def prepare(self) -> None:
        self.work.mkdir(parents=True, exist_ok=True)

    def last_checkpoint(self) -> None:
        return None

    do_train = False

    def train(self, trainer) -> None:
        return None

    def finish(self, record: dict) -> None:
        """Write the result files and the predictions into the output folder (main process)."""
        self.path.mkdir(parents=True, exist_ok=True)
        results = result_metrics(record)
        for name, wanted in (("eval", self.do_eval), ("predict", self.do_predict)):
            if wanted and results[name]:
                _save_results(self.path, name, results[name])
        for f in sorted(self.work.glob("*.json*")):  # the recipe's predictions (plots stay out: the card shows the run's)
            if self.do_predict and f.name not in RESULT_FILES and f.name != RECORD_NAME:
                shutil.copyfile(f, self.path / f.name)
                logger.info("wrote %s", self.path / f.name)
        shutil.rmtree(self.work, ignore_errors=True)
        logger.info("evaluation results: %s", self.path)


def _run_dir(job: str, run_args, training_args, output_dir: str | None = None) -> RunDir:
    """The run of a recipe: `RunDir` for training, `EvalRun` for `--do_train false`; with
    `--resume_from_checkpoint PATH|true`, the checkpoint to resume from (true: as `--resume`)."""
    output_dir = output_dir or getattr(training_args, "output_dir", None)
    if getattr(training_args, "do_train", True) is False:
        return EvalRun(job, output_dir)
    ckpt = getattr(training_args, "resume_from_checkpoint", None)
    resume = bool(run_args.resume) or str(ckpt).lower() in ("true", "yes", "1")
    run = RunDir(job, output_dir, overwrite=run_args.overwrite_output_dir, resume=resume)
    if ckpt not in (None, "") and str(ckpt).lower() not in ("true", "yes", "1", "false", "no", "0"):
        run.checkpoint = str(ckpt)
    return run


def _take_hub_settings(training_args) -> dict | None:
    """`--push_to_hub` is done after the run, with its card and record (`lingbridge.hub.push_finished_run`),
    never by Trainer from the unfinished folder: take the settings and turn Trainer's push off."""
    if not getattr(training_args, "push_to_hub", False):
        return None
    settings = {"repo_id": training_args.hub_model_id, "private": bool(training_args.hub_private_repo),
                "revision": getattr(training_args, "hub_revision", None)}
    training_args.push_to_hub = False
    return settings


def eval_history(log_history: list[dict]) -> list[dict]:
    """Each evaluation during training (per epoch or every `eval_steps`): epoch, step and its metrics,
    per language where the recipe reports them (`eval_de_f1`); speed figures and the evaluations after
    training (the final `trainer.evaluate()`, in `eval_results.json`) left out."""
    skip = ("eval_runtime", "eval_samples_per_second", "eval_steps_per_second")
    end = next((i for i, h in enumerate(log_history) if "train_runtime" in h), len(log_history))
    return [{"epoch": h.get("epoch"), "step": h.get("step"),
             **{k: v for k, v in h.items() if k.startswith("eval_") and k not in skip}}
            for h in log_history[:end] if any(k.startswith("eval_") and k not in skip for k in h)]


def _flatten(table: dict, prefix: str) -> dict:
    """A per-language table `{lang: {metric: v, "n": rows}}` as the example scripts' flat metrics:
    `{prefix}_{metric}` for the `all` row, `{prefix}_{lang}_{metric}` per language, `{prefix}_samples`."""
    out = {}
    for lang, row in table.items():
        if not isinstance(row, dict):
            continue
        for metric, value in row.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                if metric == "n":
                    if lang == "all":
                        out[f"{prefix}_samples"] = value
                    continue
                out[f"{prefix}_{metric}" if lang == "all" else f"{prefix}_{lang}_{metric}"] = value
    return out


def result_metrics(record: dict) -> dict[str, dict]:
    """The `train`, `eval` and `predict` metrics of a record, shaped as the example scripts save them."""
    metrics = record.get("metrics", {})
    table = metrics.get("per_language") or {}
    on_validation = record.get("eval_split") == "validation"  # pretraining: its table is a dev evaluation
    dev = {k: v for k, v in (metrics.get("dev") or {}).items() if isinstance(v, (int, float))}
    if on_validation:
        dev.update(_flatten(table, "eval"))
    return {"train": dict(metrics.get("train") or {}), "eval": dev,
            "predict": {} if on_validation else _flatten(table, "predict")}


def _save_results(folder: Path, split: str, metrics: dict) -> None:
    """`{split}_results.json` and `all_results.json` (merged), as `Trainer.save_metrics(combined=True)`."""
    import json

    def dump(path: Path, data: dict) -> None:
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(data, indent=4, sort_keys=True, default=str), encoding="utf-8")
        os.replace(tmp, path)

    dump(folder / f"{split}_results.json", metrics)
    every = folder / "all_results.json"
    try:
        combined = json.loads(every.read_text(encoding="utf-8")) if every.is_file() else {}
    except (OSError, ValueError):
        combined = {}
    dump(every, {**(combined if isinstance(combined, dict) else {}), **metrics})


def write_results(folder: Path, record: dict, trainer=None) -> None:
    """The standard result files of a finished run (main process): `train_results.json`,
    `eval_results.json`, `predict_results.json`, `all_results.json` and `trainer_state.json`."""
    folder = Path(folder)
    for split, metrics in result_metrics(record).items():
        if metrics:
            dataset = getattr(trainer, "train_dataset", None)
            if split == "train" and hasattr(dataset, "__len__"):  # a stream has no length
                metrics = {**metrics, "train_samples": len(dataset)}
            _save_results(folder, split, metrics)
    if trainer is not None and trainer.state.global_step:
        trainer.state.save_to_json(str(folder / "trainer_state.json"))


def write_jsonl(path: Path, rows) -> Path:
    """One JSON object per line (a recipe's predictions), written atomically."""
    import json

    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
    os.replace(tmp, path)
    return path
