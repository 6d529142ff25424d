"""The run record, `lingbridge_run.json`: what a run did, in one JSON file the app, cards and publishing read.

`RunRecord` names the keys every recipe writes; task-specific keys (label names, directions,
answer-span reports, ...) go in `extra` and are written at the top level beside them, so the file
keeps one flat shape. Library versions, git commit and hardware are added when it is written;
anything that looks like a credential is redacted from the config.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
from dataclasses import asdict, dataclass, field, is_dataclass
from pathlib import Path
from typing import Any

from .errors import UserError

RECORD_NAME = "lingbridge_run.json"


@dataclass
class RunRecord:
    """The keys the app, the cards and publishing read (see docs/DEVELOPING.md).

    Args:
        job: the recipe (`finetune_classification`, `pretrain`, ...).
        task: the registry task's pipeline tag (`text-classification`, ...), or the job for vision runs.
        pipeline_tag: the Hub pipeline tag of the model (None where the Hub has none).
        languages: languages the run was evaluated on.
        config: the resolved config (`config_dict(...)`).
        summary: one paragraph for the card.
        metrics: `per_language` (`{lang: {metric: value, "n": rows}}` with an `all` row), `transfer`,
            `train`, `dev`, the loss curve.
        extra: task-specific keys, written at the top level.
    """

    job: str
    task: str | None
    pipeline_tag: str | None
    languages: list[str]
    config: dict[str, Any]
    summary: str = ""
    config_file: str | None = None
    eval_split: str = "test"
    init: str | None = None
    base_model: str | None = None
    parameters: dict | None = None
    data_sources: list[dict] = field(default_factory=list)
    cleaning: dict | None = None
    lora: dict | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    example_input: Any = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in asdict(self).items() if k != "extra"}
        out.update(self.extra)
        return out


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
            cwd=Path(__file__).resolve().parent,
        )
        return out.stdout.strip() or None if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def library_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    names = ["lingbridge", "torch", "transformers", "datasets", "accelerate", "tokenizers", "peft",
             "huggingface_hub", "scikit-learn"]
    out = {}
    for name in names:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            pass
    return out


def hardware() -> dict[str, Any]:
    import torch

    info: dict[str, Any] = {"platform": platform.platform(), "cpu_count": os.cpu_count(),
                            "python": platform.python_version()}
    if torch.cuda.is_available():
        info["gpus"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    else:
        info["gpus"] = []
    return info


_SECRET_MARKERS = ("token", "password", "secret", "api_key")


def _scrub(value: Any) -> Any:
    """Remove anything that looks like a credential from a config dict before it is written."""
    if isinstance(value, dict):
        return {k: ("<redacted>" if any(m in k.lower() for m in _SECRET_MARKERS) and v not in (None, False, "")
                    and not isinstance(v, bool) else _scrub(v)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_scrub(v) for v in value]
    return value


def config_dict(*configs) -> dict[str, Any]:
    """Flatten the recipe's dataclass configs (TrainingArguments included) into one JSON-able dict."""
    out: dict[str, Any] = {}
    for cfg in configs:
        if cfg is None:
            continue
        d = cfg.to_dict() if hasattr(cfg, "to_dict") else asdict(cfg) if is_dataclass(cfg) else dict(cfg)
        out.update(d)
    return _scrub(json.loads(json.dumps(out, default=str)))


def write_record(folder: Path, record: dict[str, Any] | RunRecord) -> Path:
    """Write `lingbridge_run.json` into `folder` atomically, with versions, git commit and hardware."""
    record = record.to_dict() if isinstance(record, RunRecord) else dict(record)
    record.setdefault("lingbridge_version", library_versions().get("lingbridge"))
    record.setdefault("library_versions", library_versions())
    record.setdefault("git_commit", _git_commit())
    record.setdefault("hardware", hardware())
    path = Path(folder) / RECORD_NAME
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=2, ensure_ascii=False, default=str), encoding="utf-8")
    os.replace(tmp, path)
    return path


def read_record(run_dir: str | Path) -> dict[str, Any]:
    """The record of a run directory; a missing or unreadable record is a `UserError` naming the file."""
    path = Path(run_dir) / RECORD_NAME
    if not path.is_file():
        raise UserError(f"{run_dir} is not a lingbridge run directory (no {RECORD_NAME})")
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as err:
        raise UserError(f"{path}: the run record is unreadable ({type(err).__name__}: {str(err).splitlines()[0]}); "
                        "the run directory is damaged") from None
    if not isinstance(record, dict) or "job" not in record:
        raise UserError(f"{path}: the run record has no 'job'; the run directory is damaged")
    problem = _shape_problem(record)
    if problem:
        raise UserError(f"{path}: the run record is damaged ({problem})")
    return record


# The keys the app, the cards and publishing read, with the JSON type each must have when present.
_SHAPES = {"job": str, "task": (str, type(None)), "pipeline_tag": (str, type(None)), "languages": list,
           "config": dict, "summary": (str, type(None)), "metrics": dict, "data_sources": list,
           "cleaning": (dict, type(None)), "lora": (dict, type(None)), "parameters": (dict, type(None)),
           "label_names": (list, type(None)), "train_languages": (list, type(None)), "init": (str, type(None)),
           "base_model": (str, type(None)), "run_dir": (str, type(None)), "eval_split": str, "rows": (dict, type(None)),
           "wall_time_s": (int, float, type(None)), "world_size": (int, type(None)), "ranks": (list, type(None)),
           "hardware": (dict, type(None)), "library_versions": (dict, type(None)), "usage": (str, type(None)),
           "license": str, "intended_use": str, "limitations": str, "lingbridge_version": (str, type(None)),
           "git_commit": (str, type(None)), "config_file": (str, type(None))}
_TYPE_NAMES = {str: "text", list: "a list", dict: "a mapping", type(None): "null", int: "a number", float: "a number"}


def _shape_problem(record: dict) -> str | None:
    """What is wrong with the shape of a parsed record (a hand edit, another tool), or None."""
    def name(t):
        return " or ".join(_TYPE_NAMES.get(x, x.__name__) for x in (t if isinstance(t, tuple) else (t,)))

    for key, expected in _SHAPES.items():
        if key in record and not isinstance(record[key], expected):
            return f"'{key}' should be {name(expected)}, got {_TYPE_NAMES.get(type(record[key]), type(record[key]).__name__)}"
    for key in ("languages", "label_names", "train_languages"):
        if any(not isinstance(x, str) for x in record.get(key) or []):
            return f"'{key}' should list text values"
    if any(not isinstance(s, dict) for s in record.get("data_sources") or []):
        return "'data_sources' should list mappings"
    metrics = record.get("metrics") or {}
    for key in ("per_language", "dev_per_language"):
        table = metrics.get(key)
        if table is None:
            continue
        if not isinstance(table, dict) or any(not isinstance(row, dict) for row in table.values()):
            return f"'metrics.{key}' should map each language to a mapping of metrics"
    for key in ("train", "dev"):
        if metrics.get(key) is not None and not isinstance(metrics[key], dict):
            return f"'metrics.{key}' should be a mapping"
    transfer = metrics.get("transfer")
    if transfer:
        if not isinstance(transfer, dict):
            return "'metrics.transfer' should be a mapping"
        for key in ("gap", "rows"):
            table = transfer.get(key)
            if table is not None and (not isinstance(table, dict) or any(not isinstance(r, dict) for r in table.values())):
                return f"'metrics.transfer.{key}' should map names to mappings"
        for key in ("source_languages", "target_languages"):
            if not isinstance(transfer.get(key, []), list):
                return f"'metrics.transfer.{key}' should be a list"
    cleaning = record.get("cleaning") or {}
    for key in ("rows_before", "rows_after", "rules"):
        if cleaning.get(key) is not None and not isinstance(cleaning[key], dict):
            return f"'cleaning.{key}' should be a mapping"
    return None
