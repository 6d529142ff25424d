"""Publishing a run directory to the Hugging Face Hub: one `upload_folder` commit.

    lingbridge publish runs/sentiment --repo_id my-org/sentiment-xlmr --dry_run
    lingbridge publish runs/sentiment --repo_id my-org/sentiment-xlmr --private --revision experiments

What goes: the weights (safetensors only), config, tokenizer, the card rendered for the repo id,
`lingbridge_run.json` (the metrics) and the plots. What never goes: checkpoints, pickles, the app's
`feedback.jsonl` (user inputs) and the token. The token is resolved by huggingface_hub itself
(`HF_TOKEN`, then the `hf auth login` file); lingbridge never reads it into a log, record or card.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from fnmatch import fnmatch
from pathlib import Path

from .errors import UserError
from .record import read_record

# Files of a run directory that belong in a model repository (everything else stays local).
PUBLISHED_PATTERNS = (
    "*.safetensors", "config.json", "generation_config.json", "adapter_config.json", "tokenizer.json",
    "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json", "sentencepiece.bpe.model",
    "*.spm", "spiece.model", "source.spm", "target.spm", "vocab.json", "vocab.txt", "merges.txt",
    "preprocessor_config.json", "lingbridge_run.json", "*.png", "markets.json",  # markets: lingbridge readiness
    # the Transformers example scripts' result files, as Trainer pushes them
    "all_results.json", "train_results.json", "eval_results.json", "predict_results.json", "trainer_state.json",
)
LORA_CHOICES = ("adapter", "merged")


class PublishError(RuntimeError):
    """The push did not complete (network, permissions); nothing is reported as published."""


@dataclass
class PublishPlan:
    """What one publish would send: the staged folder and its files with their sizes."""

    run_dir: Path
    repo_id: str
    staging: Path
    lora: str | None  # "adapter", "merged", or None for a run without LoRA adapters
    files: list[tuple[str, int]] = field(default_factory=list)
    commit_message: str = ""

    def describe(self) -> str:
        width = max((len(p) for p, _ in self.files), default=10)
        lines = [f"{p:<{width}}  {_human(n):>9}  ({n} bytes)" for p, n in self.files]
        total = sum(n for _, n in self.files)
        lines.append(f"{len(self.files)} files, {_human(total)} ({total} bytes)")
        return "\n".join(lines)


def _human(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def check_repo_id(repo_id: str) -> str:
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    if repo_id.count("/") != 1:
        raise UserError(f"--repo_id must be 'namespace/name' (a user or organisation, then the model), got '{repo_id}'")
    try:
        validate_repo_id(repo_id)
    except HFValidationError as err:
        raise UserError(f"--repo_id '{repo_id}': {str(err).splitlines()[0]}") from None
    return repo_id


def check_published_files(run_dir: Path) -> None:
    """Every file publish reads must be a regular file inside the run directory.

    A symbolic link (`ln -s /etc/passwd RUN/vocab.txt`) would upload whatever it points to; a link is
    refused even when its target is inside the run, so that what is published is what the folder holds.
    The run directory itself may be a link (`runs/latest`).
    """
    root = run_dir.resolve()
    for path in sorted(run_dir.iterdir()):
        if not (any(fnmatch(path.name, pat) for pat in PUBLISHED_PATTERNS) or path.name.startswith("adapter_")
                or path.name == "README.md"):
            continue
        if path.is_symlink():
            raise UserError(f"{path} is a symbolic link (to {os.readlink(path)}); publish uploads only regular files "
                            "of the run directory: replace the link with the file itself")
        if root not in path.resolve().parents:
            raise UserError(f"{path} resolves outside the run directory {root}; publish uploads only files inside it")
        if path.exists() and not (path.is_file() or path.is_dir()):
            raise UserError(f"{path} is not a regular file (a device, socket or pipe); remove it before publishing")


def _merge_adapter(run_dir: Path, record: dict, out: Path) -> None:
    """Load base + adapter, merge the LoRA deltas into the weights and save a plain model folder."""
    import peft
    from transformers import AutoConfig

    from .tasks import task_of_record

    task = task_of_record(record)
    cls = getattr(peft, (task.peft_class if task else None) or "AutoPeftModel")
    kwargs = {}
    if task and task.auto_class == "AutoModelForSequenceClassification":
        labels = AutoConfig.from_pretrained(run_dir).id2label  # the run keeps the labelled config beside the adapter
        kwargs = {"num_labels": len(labels), "id2label": labels, "label2id": {v: k for k, v in labels.items()}}
    model = cls.from_pretrained(str(run_dir), **kwargs).merge_and_unload()
    model.save_pretrained(out)  # safetensors (the transformers default)


def plan_publish(run_dir: str | Path, repo_id: str, lora: str | None = None, base_model: str | None = None,
                 staging: str | Path | None = None) -> PublishPlan:
    """Stage exactly what `push_run` would upload, without any network.

    Args:
        run_dir: a finished run directory.
        repo_id: the target repository, `namespace/name`.
        lora: for a run that kept its LoRA adapter unmerged: "adapter" (publish the adapter; the card
            names `base_model`) or "merged" (merge into the base weights). Default: "adapter".
        base_model: Hub id of the base model, for the card and the adapter config, when the run
            started from a local folder.
        staging: where to stage (default: a new temporary folder).
    """
    from .cards import render_card

    run_dir = Path(run_dir)
    record = read_record(run_dir)
    check_repo_id(repo_id)
    check_published_files(run_dir)
    has_adapter = (run_dir / "adapter_model.safetensors").is_file()
    if lora and lora not in LORA_CHOICES:
        raise UserError(f"--lora must be one of {', '.join(LORA_CHOICES)}, got '{lora}'")
    if lora and not has_adapter:
        raise UserError(f"--lora {lora}: {run_dir} holds merged weights only (no adapter_model.safetensors); "
                        "publish it without --lora")
    lora = (lora or "adapter") if has_adapter else None
    if not any(run_dir.glob("*.safetensors")):
        raise UserError(f"{run_dir} has no safetensors weights to publish")
    created = staging is None
    staging = Path(staging or tempfile.mkdtemp(prefix="lingbridge-publish-"))
    staging.mkdir(parents=True, exist_ok=True)
    try:
        for path in sorted(run_dir.iterdir()):
            if path.is_file() and any(fnmatch(path.name, pat) for pat in PUBLISHED_PATTERNS):
                if lora == "merged" and path.name.startswith("adapter_"):
                    continue
                shutil.copy2(path, staging / path.name)
        if lora == "merged":
            _merge_adapter(run_dir, record, staging)
        if lora == "adapter" and base_model:
            # so that AutoPeftModel.from_pretrained(repo_id) finds the base on the Hub, not on this disk
            cfg_path = staging / "adapter_config.json"
            cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
            cfg["base_model_name_or_path"] = base_model
            cfg_path.write_text(json.dumps(cfg, indent=2), encoding="utf-8")
        try:
            card = render_card(run_dir, repo_id, publish_as=lora, base_model=base_model)
        except (TypeError, ValueError, KeyError, AttributeError, IndexError) as err:
            # a record that parses but holds values of the wrong kind (a hand edit): name it, don't crash
            raise UserError(f"{run_dir / 'lingbridge_run.json'}: the run record is damaged (the card cannot be rendered: "
                            f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''})") from None
        card.save(staging / "README.md")
        files = sorted((str(p.relative_to(staging)), p.stat().st_size) for p in staging.rglob("*") if p.is_file())
        name = Path(record.get("run_dir") or run_dir).name
        what = {"adapter": ", LoRA adapter", "merged": ", LoRA merged"}.get(lora, "")
        message = f"Upload lingbridge run {name} ({record.get('job')}{what})"
    except BaseException:
        if created:  # nothing is left behind in the temporary folder on failure
            shutil.rmtree(staging, ignore_errors=True)
        raise
    return PublishPlan(run_dir, repo_id, staging, lora, files, message)


def _describe_failure(err: Exception) -> str:
    from huggingface_hub.errors import HfHubHTTPError

    if isinstance(err, HfHubHTTPError):
        status = err.response.status_code if err.response is not None else "?"
        if status in (401, 403):
            return f"the Hub refused the token (HTTP {status}): check that it has write access to this namespace"
        return f"the Hub answered HTTP {status}: {str(err).splitlines()[0]}"
    # huggingface_hub 2.x speaks httpx2, older versions httpx: recognise their transport errors by name
    if {c.__name__ for c in type(err).__mro__} & {"TransportError", "NetworkError", "ConnectionError"}:
        return f"the connection failed during the push ({type(err).__name__}: {err or 'connection closed'})"
    return f"{type(err).__name__}: {err}"


def push_run(plan: PublishPlan, private: bool = False, revision: str | None = None) -> str:
    """Create the repository (and branch) and upload the staged folder as one commit.

    Returns the commit URL. Raises `PublishError` when anything fails; a Hub commit is atomic, so a
    failure leaves the repository without any of this run's files and the same call can be retried.
    """
    from huggingface_hub import HfApi, get_token

    if not get_token():
        raise UserError("no Hugging Face token: set HF_TOKEN or run `hf auth login` (a token with write access)")
    api = HfApi()  # the token comes from HF_TOKEN / the login file, inside huggingface_hub
    step = "create the repository"
    try:
        api.create_repo(plan.repo_id, private=private, exist_ok=True)
        if revision and revision != "main":
            step = f"create the branch '{revision}'"
            api.create_branch(plan.repo_id, branch=revision, exist_ok=True)
        step = "upload the files"
        info = api.upload_folder(repo_id=plan.repo_id, folder_path=str(plan.staging), revision=revision,
                                 commit_message=plan.commit_message,
                                 commit_description="Published with `lingbridge publish`; the run record is "
                                                    "`lingbridge_run.json`.")
    except Exception as err:  # network and HTTP errors come in many types; all mean "not published"
        raise PublishError(f"publishing {plan.run_dir} to {plan.repo_id} failed while trying to {step}: "
                           f"{_describe_failure(err)}. Nothing was published (a Hub commit is all or nothing); "
                           "run the same command again to retry.") from None
    return info.commit_url


def push_finished_run(run) -> Path:
    """`--push_to_hub`: publish a finished run directory as `lingbridge publish` does (one commit: weights,
    card rendered for the repo id, record, plots), on the main process; every rank returns its path.

    `run` is the `lingbridge.runs.RunDir` the recipe finished; `start_run` took the Hub settings
    (`--hub_model_id`, `--hub_private_repo`, `--hub_revision`) from `TrainingArguments` and turned
    Trainer's own push off. A failed push leaves the run directory as it is and exits with status 1,
    naming the `lingbridge publish` command that retries it.
    """
    import shutil
    import sys

    from accelerate import PartialState

    settings = getattr(run, "hub", None)
    if not settings or not (run.path / "lingbridge_run.json").is_file():
        return run.path
    state = PartialState()
    if state.is_main_process:
        retry = f"lingbridge publish {run.path} --repo_id {settings['repo_id']}"
        plan = plan_publish(run.path, settings["repo_id"])
        try:
            print(f"publishing {run.path} to {settings['repo_id']}: {plan.commit_message}", flush=True)
            url = push_run(plan, private=settings["private"], revision=settings["revision"])
            print(f"published: {url}", flush=True)
        except PublishError as err:
            print(f"error: the run is saved in {run.path}, but publishing failed ({err}); retry with: {retry}",
                  file=sys.stderr, flush=True)
            sys.exit(1)
        finally:
            shutil.rmtree(plan.staging, ignore_errors=True)
    state.wait_for_everyone()
    return run.path
