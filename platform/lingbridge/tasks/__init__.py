"""The task registry: one `Task` per task, the single place facts about a task live.

Each module of this package holds one task's preprocessing, collator, metrics and post-processing and
registers its `Task` with `register(...)`. The recipes, the CLI, `plan`, the quickstart, the app, the
cards, publishing and `optimize` look tasks up here instead of keeping their own tables, so adding a
task is one new module in this package plus its recipe under `recipes/`.

    from lingbridge.tasks import get_task, task_of_record

    task = get_task("text-classification")      # by name, pipeline tag or recipe
    task.auto_class, task.peft_class, task.headline_metrics

Importing this package is cheap: task modules import torch/transformers inside their functions.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..errors import UserError


@dataclass(frozen=True)
class QuickstartStep:
    """An extra step of `lingbridge quickstart --tasks <name>`: the task's recipe on a shipped tiny config.

    Args:
        config: the shipped config, `<recipe folder>/<name>` (e.g. `finetune_qa/tiny`).
        title: what the step prints while it runs.
        args: extra command-line options for the recipe.
        from_pretrain: start from the quickstart's pretraining run (`--model_name_or_path`).
        summarize: the run record → `{"heading", "table", "columns", "first"?, "notes"?}`, the table the
            quickstart prints with the results.
    """

    config: str
    title: str
    summarize: Callable[[dict], dict]
    args: tuple[str, ...] = ()
    from_pretrain: bool = False


@dataclass(frozen=True)
class Task:
    """Everything lingbridge knows about one task.

    Args:
        name: short name (`classification`, `qa`, ...), also the quickstart's `--tasks` name.
        pipeline_tag: the Hub pipeline tag; a run record's `task`/`pipeline_tag`.
        recipes: the recipes whose runs are this task (`recipes/<name>.py`, or a dotted module path); the
            first one trains it.
        auto_class: the transformers Auto class of the model (None for the vision modules).
        peft_class: the peft Auto class that rebuilds a model from an unmerged LoRA adapter.
        peft_task_type: `LoraConfig.task_type` for the recipe's LoRA.
        headline_metrics: the metrics shown first (model picker, quickstart), best first.
        modality: `text` or `image`.
        preprocess, collator, metrics, postprocess: the task's functions (see its module).
        usage: `(model id or folder, example input, adapter) -> code`: the model card's snippet.
        quickstart: the step `lingbridge quickstart --tasks <name>` adds, if any.
    """

    name: str
    pipeline_tag: str
    recipes: tuple[str, ...]
    auto_class: str | None = None
    peft_class: str | None = None
    peft_task_type: str | None = None
    headline_metrics: tuple[str, ...] = ()
    modality: str = "text"
    preprocess: Callable | None = None
    collator: Callable | None = None
    metrics: Callable | None = None
    postprocess: Callable | None = None
    usage: Callable[[str, Any, bool], str] | None = None
    quickstart: QuickstartStep | None = None
    notes: dict = field(default_factory=dict)

    @property
    def recipe(self) -> str:
        """The recipe that trains this task."""
        return self.recipes[0]


def recipe_module(recipe: str) -> str:
    """The module of a recipe: `recipes/<name>.py` installs as `lingbridge.recipes.<name>`."""
    return recipe if "." in recipe else f"lingbridge.recipes.{recipe}"


_REGISTRY: dict[str, Task] = {}
_loaded = False


def register(task: Task) -> Task:
    """Add `task` to the registry (a task module calls this at import); returns it."""
    _REGISTRY[task.name] = task
    return task


def unregister(name: str) -> None:
    _REGISTRY.pop(name, None)


def _load_builtin() -> None:
    # every module of this package registers its task on import: a new module needs no edit here
    global _loaded
    if not _loaded:
        _loaded = True
        for info in pkgutil.iter_modules(__path__):
            importlib.import_module(f"{__name__}.{info.name}")


def all_tasks() -> list[Task]:
    _load_builtin()
    return list(_REGISTRY.values())


def find_task(key: str | None) -> Task | None:
    """The task with this name, pipeline tag or recipe, or None."""
    if not key:
        return None
    _load_builtin()
    for task in _REGISTRY.values():
        if key == task.name or key == task.pipeline_tag or key in task.recipes:
            return task
    return None


def get_task(key: str) -> Task:
    """Like `find_task`, but an unknown key is a `UserError` naming the known tasks."""
    task = find_task(key)
    if task is None:
        from ..config import did_you_mean

        names = [t.name for t in all_tasks()]
        raise UserError(f"unknown task '{key}'{did_you_mean(key, names)}; tasks: {', '.join(names)}")
    return task


def task_of_record(record: dict) -> Task | None:
    """The task of a run record: by its job (the recipe), else its pipeline tag."""
    return find_task(record.get("job")) or find_task(record.get("pipeline_tag")) or find_task(record.get("task"))


def recipes() -> list[str]:
    """Every recipe that trains a registered task, in registry order."""
    return list(dict.fromkeys(r for t in all_tasks() for r in t.recipes))
