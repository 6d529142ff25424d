"""Hyperparameter sweeps: Optuna around a recipe, one run directory per trial.

`Trainer.hyperparameter_search` re-initialises the model inside one Trainer, but a lingbridge
recipe is more than a Trainer (data cleaning, tokenizer, LoRA, per-language evaluation, the run
directory), so each trial runs the whole recipe with the trial's values as command-line
overrides, into `trials/trial-NNN/`. A Trainer callback reports the dev score at every
evaluation so that Optuna's pruner stops bad trials early. The study lives in a SQLite file
inside the sweep's working folder: a crashed sweep continues with `--resume`, keeping every
finished trial.
"""

from __future__ import annotations

import json
import logging
import math
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .config import did_you_mean, load_yaml_config
from .errors import UserError

logger = logging.getLogger("lingbridge")

# From-scratch model sizes: not recipe options but config values, passed as `--config_overrides`.
MODEL_CONFIG_KEYS = ("num_hidden_layers", "hidden_size", "num_attention_heads", "intermediate_size",
                     "hidden_dropout_prob", "attention_probs_dropout_prob")
# Set by the sweep for every trial: never searched or fixed by the user.
RESERVED_KEYS = ("output_dir", "overwrite_output_dir", "resume", "config")
# Metrics of the per-language dev table (`metrics.dev_per_language` of a classification run).
TABLE_METRICS = ("accuracy", "precision", "recall", "f1")


@dataclass
class SweepArguments:
    base_config: str | None = field(
        default=None, metadata={"help": "YAML of the recipe that each trial runs (finetune_classification)."})
    recipe_args: dict | str | None = field(
        default=None, metadata={"help": "Recipe options fixed for every trial (a mapping, or JSON on the command line)."})
    search_space: dict | str | None = field(
        default=None, metadata={"help": "Option → [choices] | {low, high, log, step} (a mapping, or JSON)."})
    objective: str = field(
        default="f1", metadata={"help": f"Dev metric to optimise ({', '.join(TABLE_METRICS)}), or a dotted path "
                                        "into the run record such as metrics.dev.eval_loss."})
    objective_languages: str = field(
        default="source", metadata={"help": "Mean of the dev metric over the 'source' (training) languages, the "
                                            "honest zero-shot setting, over the 'target' languages, or 'all' rows."})
    direction: str | None = field(
        default=None, metadata={"help": "maximize or minimize (default: minimize for losses, else maximize)."})
    n_trials: int = field(default=10, metadata={"help": "Finished (complete or pruned) trials to reach, resumes included."})
    timeout: float | None = field(default=None, metadata={"help": "Start no new trial after this many seconds."})
    sampler: str = field(default="tpe", metadata={"help": "tpe, random or grid (grid needs lists only)."})
    pruner: str = field(default="median", metadata={"help": "median (stop trials below the median at the same step) or none."})
    pruner_startup_trials: int = field(default=2, metadata={"help": "Trials that always finish before pruning starts."})
    study_name: str = field(default="sweep", metadata={"help": "Name of the Optuna study in the storage."})
    storage: str | None = field(
        default=None, metadata={"help": "Optuna storage URL (default: sqlite:///<run>/study.db; resumable)."})
    sweep_seed: int = field(default=42, metadata={"help": "Seed of the sampler."})
    keep_trial_models: bool = field(default=False, metadata={"help": "Keep every trial's weights (default: the best only)."})
    output_dir: str | None = field(default=None, metadata={"help": "The sweep's run directory (default: runs/sweep-<time>)."})

    def __post_init__(self):
        self.recipe_args = _mapping(self.recipe_args, "recipe_args")
        self.search_space = _mapping(self.search_space, "search_space")
        if not self.base_config:
            raise UserError("base_config is required: the recipe YAML that each trial runs")
        self.base_config = _find_config(self.base_config)
        if not self.search_space:
            raise UserError("search_space is empty: give at least one option to search")
        if "." not in self.objective and self.objective not in TABLE_METRICS:
            raise UserError(f"objective '{self.objective}' is not a dev metric{did_you_mean(self.objective, TABLE_METRICS)}; "
                            f"use one of {', '.join(TABLE_METRICS)} or a dotted record path like metrics.dev.eval_loss")
        if self.objective_languages not in ("source", "target", "all"):
            raise UserError(f"objective_languages must be source, target or all, got '{self.objective_languages}'")
        if self.direction is None:
            self.direction = "minimize" if "loss" in self.objective else "maximize"
        if self.direction not in ("maximize", "minimize"):
            raise UserError(f"direction must be maximize or minimize, got '{self.direction}'")
        if self.n_trials < 1:
            raise UserError(f"n_trials must be at least 1, got {self.n_trials}")
        if self.timeout is not None and self.timeout <= 0:
            raise UserError(f"timeout must be positive (seconds), got {self.timeout}")
        if self.sampler not in ("tpe", "random", "grid"):
            raise UserError(f"sampler must be tpe, random or grid, got '{self.sampler}'")
        if self.pruner not in ("median", "none"):
            raise UserError(f"pruner must be median or none, got '{self.pruner}'")

    def describe_objective(self, languages: list[str] | None = None) -> str:
        """The objective in words, for the output ('dev f1, mean over the source languages de, en')."""
        if "." in self.objective:
            return f"{self.objective} of the run record"
        if self.objective_languages == "all":
            return f"dev {self.objective} over all languages pooled"
        where = f" {', '.join(languages)}" if languages else ""
        return f"dev {self.objective}, mean over the {self.objective_languages} languages{where}"


def _find_config(path: str) -> str:
    """A path as given, else a shipped config (`recipes/configs/...` also works from an installed package)."""
    if Path(path).is_file():
        return path
    from importlib import resources

    shipped = resources.files("lingbridge.recipes") / str(path).removeprefix("recipes/")
    if str(path).startswith("recipes/") and shipped.is_file():
        return str(shipped)
    raise UserError(f"base_config: file not found: {path}")


def _mapping(value, name: str) -> dict:
    if value in (None, ""):
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as err:
            raise UserError(f"{name}: not valid JSON ({err.msg})") from None
    if not isinstance(value, dict):
        raise UserError(f"{name}: expected a mapping of option names to values")
    return value


# ---- search space ---------------------------------------------------------------------------------


def check_search_space(args: SweepArguments, options: set[str]) -> None:
    """Check every searched or fixed key against the recipe's options, and every range.

    Args:
        args: the sweep arguments.
        options: names of the recipe's options (fields of its dataclasses).
    """
    for where, keys in (("recipe_args", args.recipe_args), ("search_space", args.search_space)):
        for key in keys:
            if key in RESERVED_KEYS:
                raise UserError(f"{where}: '{key}' is set by the sweep for each trial")
            if key not in options and key not in MODEL_CONFIG_KEYS:
                raise UserError(f"{where}: unknown recipe option '{key}'{did_you_mean(key, [*options, *MODEL_CONFIG_KEYS])}")
    for key, spec in args.search_space.items():
        if isinstance(spec, list):
            if not spec or not all(v is None or isinstance(v, (bool, int, float, str)) for v in spec):
                raise UserError(f"search_space.{key}: choices must be a non-empty list of numbers or strings")
            continue
        if args.sampler == "grid":
            raise UserError(f"search_space.{key}: the grid sampler needs a list of values, got {spec}")
        if not isinstance(spec, dict) or not {"low", "high"} <= set(spec):
            raise UserError(f"search_space.{key}: expected a list of choices or {{low, high[, log, step]}}, got {spec}")
        extra = set(spec) - {"low", "high", "log", "step"}
        if extra:
            raise UserError(f"search_space.{key}: unknown key '{sorted(extra)[0]}' (expected low, high, log, step)")
        low, high = spec["low"], spec["high"]
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (low, high)) or low >= high:
            raise UserError(f"search_space.{key}: need numbers low < high, got low={low} high={high}")
        if spec.get("log") and low <= 0:
            raise UserError(f"search_space.{key}: a log scale needs low > 0, got {low}")


def suggest(trial, space: dict) -> dict[str, Any]:
    """Sample one value per option: lists are categorical; ranges are int when both ends are ints."""
    params = {}
    for key, spec in space.items():
        if isinstance(spec, list):
            params[key] = trial.suggest_categorical(key, spec)
        elif isinstance(spec["low"], int) and isinstance(spec["high"], int) and not isinstance(spec.get("step", 1), float):
            params[key] = trial.suggest_int(key, spec["low"], spec["high"], step=spec.get("step", 1),
                                            log=bool(spec.get("log")))
        else:
            params[key] = trial.suggest_float(key, float(spec["low"]), float(spec["high"]), step=spec.get("step"),
                                              log=bool(spec.get("log")))
    return params


def recipe_values(fixed: dict, params: dict) -> dict[str, Any]:
    """Fixed options and trial values as recipe options; model sizes go into `config_overrides`."""
    values = {k: v for k, v in {**fixed, **params}.items() if k not in MODEL_CONFIG_KEYS}
    sizes = [f"{k}={v}" for k, v in {**fixed, **params}.items() if k in MODEL_CONFIG_KEYS]
    if sizes:
        values["config_overrides"] = ",".join(filter(None, [fixed.get("config_overrides"), *sizes]))
    return values


def trial_values(args: SweepArguments, params: dict) -> dict[str, Any]:
    """Everything a trial sets on top of `base_config`: the fixed options and the trial's values."""
    values = recipe_values(args.recipe_args, params)
    base = load_yaml_config(args.base_config).get("config_overrides")
    if base and "config_overrides" in values and "config_overrides" not in args.recipe_args:
        values["config_overrides"] = f"{base},{values['config_overrides']}"  # keep the base config's own
    return values


def to_argv(values: dict[str, Any]) -> list[str]:
    """Recipe options as command-line overrides (`--key value`)."""
    argv = []
    for key, value in values.items():
        if value is None:
            continue  # "not set": the recipe's default
        if isinstance(value, list):
            argv += [f"--{key}", *map(str, value)]
        else:
            argv += [f"--{key}", str(value).lower() if isinstance(value, bool) else str(value)]
    return argv


# ---- objective ----------------------------------------------------------------------------------------


def objective_value(record: dict, args: SweepArguments) -> tuple[float, dict[str, float], list[str]]:
    """The trial's objective from its run record.

    Returns:
        (value, the dev metric per language (f1 for a dotted objective), the languages averaged).
        Source languages are the run's training languages; target languages the others (zero-shot).
    """
    table = record.get("metrics", {}).get("dev_per_language") or {}
    shown = args.objective if "." not in args.objective else "f1"  # the per-language columns of the report
    per_lang = {lang: row[shown] for lang, row in table.items() if lang != "all" and shown in row}
    if "." in args.objective:
        value: Any = record
        for part in args.objective.split("."):
            if not isinstance(value, dict) or part not in value:
                options = sorted(value) if isinstance(value, dict) else []
                raise UserError(f"objective '{args.objective}': the run record has no '{part}'{did_you_mean(part, options)}")
            value = value[part]
        return float(value), per_lang, []
    if not table:
        raise UserError(f"objective '{args.objective}': the run record has no per-language dev scores")
    if args.objective_languages == "all":
        return float(table["all"][args.objective]), per_lang, sorted(per_lang)
    sources = record.get("train_languages") or sorted(per_lang)
    langs = sources if args.objective_languages == "source" else [lang for lang in per_lang if lang not in sources]
    langs = [lang for lang in langs if lang in per_lang]
    if not langs:
        raise UserError(f"objective_languages={args.objective_languages}: the run has no such dev languages "
                        f"(trained on {', '.join(sources)}; dev has {', '.join(per_lang)})")
    return float(sum(per_lang[lang] for lang in langs) / len(langs)), per_lang, langs


def pruning_callback(trial, metric: str):
    """A `TrainerCallback` that reports `eval_<metric>` to Optuna at every evaluation and prunes.

    A dotted record path reports its last part (`metrics.dev.eval_loss` → `eval_loss`); a metric the
    Trainer does not compute is never reported, and then nothing is pruned.

    The reported score is the Trainer's dev set, i.e. the recipe's selection languages (the source
    languages by default): with `objective_languages=target` it is a proxy for the objective.
    """
    import optuna
    from transformers import TrainerCallback

    key = metric.rsplit(".", 1)[-1]  # metrics.dev.eval_loss → eval_loss
    key = key if key.startswith("eval_") else f"eval_{key}"
    trial_steps: set[int] = set()

    class _Report(TrainerCallback):
        def on_evaluate(self, args, state, control, metrics=None, **kwargs):
            value = (metrics or {}).get(key)
            if value is None or not math.isfinite(value) or state.global_step in trial_steps:
                return  # the recipe's final evaluate() repeats the last step's
            trial_steps.add(state.global_step)
            trial.report(float(value), state.global_step)
            if trial.should_prune():
                raise optuna.TrialPruned(f"{key}={value:.4f} at step {state.global_step}")

    return _Report()


# ---- the study --------------------------------------------------------------------------------------


def open_study(args: SweepArguments, storage: str):
    """Create or load the study (`load_if_exists`: the same storage continues the same study)."""
    import optuna

    samplers = {"tpe": lambda: optuna.samplers.TPESampler(seed=args.sweep_seed),
                "random": lambda: optuna.samplers.RandomSampler(seed=args.sweep_seed),
                "grid": lambda: optuna.samplers.GridSampler(args.search_space, seed=args.sweep_seed)}
    pruner = (optuna.pruners.MedianPruner(n_startup_trials=args.pruner_startup_trials)
              if args.pruner == "median" else optuna.pruners.NopPruner())
    try:
        return optuna.create_study(study_name=args.study_name, storage=storage, sampler=samplers[args.sampler](),
                                   pruner=pruner, direction=args.direction, load_if_exists=True)
    except ValueError as err:  # e.g. an existing study optimised in the other direction
        raise UserError(f"study '{args.study_name}' in {storage}: {err}") from None


def recover_interrupted(study) -> list[int]:
    """Mark trials left RUNNING by a crashed process as failed and queue their values again."""
    from optuna.trial import TrialState

    stale = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    for t in stale:
        study.tell(t.number, state=TrialState.FAIL)
        study.enqueue_trial(t.params, user_attrs={"retry_of": t.number})
        logger.warning("trial %d was interrupted; its values are queued again", t.number)
    return [t.number for t in stale]


def finished(study) -> int:
    from optuna.trial import TrialState

    return len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)))


def keep_best_weights(trials_dir: Path):
    """An Optuna callback that deletes the weights of every complete trial but the best (bounded disk)."""
    from optuna.trial import TrialState

    def callback(study, trial):
        if trial.state != TrialState.COMPLETE:
            return
        best = study.best_trial.number
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
            if t.number != best:
                for f in (Path(trials_dir) / f"trial-{t.number:03d}").glob("*.safetensors"):
                    f.unlink()

    return callback


def trials_table(study, args: SweepArguments) -> dict[str, dict]:
    """One row per trial: state, objective, last reported step, values, and the dev metric per language."""
    rows = {}
    for t in study.get_trials(deepcopy=False):
        # a pruned trial's value is its last report, at `reported step`
        row: dict[str, Any] = {"state": t.state.name.lower(), "value": t.value if t.value is not None else "",
                               "reported step": max(t.intermediate_values) if t.intermediate_values else ""}
        for key in args.search_space:
            v = t.params.get(key, "")
            row[key] = f"{v:.3g}" if isinstance(v, float) else v
        for lang, v in (t.user_attrs.get("dev_per_language") or {}).items():
            row[f"{lang}"] = v
        row["seconds"] = round(t.duration.total_seconds()) if t.duration else ""
        rows[str(t.number)] = row
    return rows


def param_importances(study, seed: int = 0) -> dict[str, float]:
    """fANOVA importance of each searched option (needs two complete trials with different values)."""
    import optuna
    from optuna.trial import TrialState

    if len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))) < 2:
        return {}
    try:
        imp = optuna.importance.get_param_importances(
            study, evaluator=optuna.importance.FanovaImportanceEvaluator(seed=seed))
    except (RuntimeError, ValueError) as err:  # e.g. a single distinct value per option
        logger.warning("no parameter importances: %s", err)
        return {}
    return {k: round(float(v), 4) for k, v in imp.items()}


def plot_sweep(study, importances: dict[str, float], path: Path, objective: str) -> Path:
    """Objective per trial (best so far as a line; pruned trials at their last report) and importances."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from optuna.trial import TrialState

    fig, axes = plt.subplots(1, 2 if importances else 1, figsize=(10 if importances else 5.5, 3.6), squeeze=False)
    ax = axes[0][0]
    done = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.COMPLETE]
    pruned = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.PRUNED and t.intermediate_values]
    ax.scatter([t.number for t in done], [t.value for t in done], label="complete")
    if pruned:
        ax.scatter([t.number for t in pruned], [t.intermediate_values[max(t.intermediate_values)] for t in pruned],
                   marker="x", color="grey", label="pruned (last report)")
    if done:
        better = max if study.direction.name == "MAXIMIZE" else min
        best, xs, ys = None, [], []
        for t in done:
            best = t.value if best is None else better(best, t.value)
            xs.append(t.number)
            ys.append(best)
        ax.step(xs, ys, where="post", color="C1", label="best so far")
    ax.set_xlabel("trial")
    ax.set_ylabel(objective)
    ax.set_title("Sweep")
    ax.legend(fontsize=8)
    if importances:
        names = list(importances)[::-1]
        axes[0][1].barh(names, [importances[n] for n in names])
        axes[0][1].set_title("Parameter importance (fANOVA)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def write_best_config(path: Path, args: SweepArguments, params: dict, header: list[str]) -> Path:
    """The base YAML with the fixed options and the best values: a config the recipe takes as it is."""
    import yaml

    values = load_yaml_config(args.base_config)
    values.update(trial_values(args, params))
    for key in RESERVED_KEYS:
        values.pop(key, None)
    text = "".join(f"# {line}\n" for line in header) + yaml.safe_dump(values, sort_keys=False, allow_unicode=True)
    path.write_text(text, encoding="utf-8")
    return path


def copy_best_model(trial_dir: Path, dest: Path) -> None:
    """Copy the best trial's model, tokenizer and plots into the sweep's folder (not its record or card)."""
    for f in Path(trial_dir).iterdir():
        if f.is_file() and f.name not in ("lingbridge_run.json", "README.md"):
            shutil.copy2(f, dest / f.name)
