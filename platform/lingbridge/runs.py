"""The run directory: the contract between recipes, the app, cards and publishing.

A recipe works in `<output_dir>.partial/` (checkpoints land there, so `--resume` finds them) and
renames it to `<output_dir>/` only when the model, the run record and the card are all written:
a crash never leaves a folder that looks complete. `lingbridge_run.json` is the record.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import time
from dataclasses import asdict, is_dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from .errors import UserError

RECORD_NAME = "lingbridge_run.json"
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
# The run record.


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


def write_record(folder: Path, record: dict[str, Any]) -> Path:
    record = dict(record)
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
    path = Path(run_dir) / RECORD_NAME
    if not path.is_file():
        raise UserError(f"{run_dir} is not a lingbridge run directory (no {RECORD_NAME})")
    return json.loads(path.read_text(encoding="utf-8"))
