"""One config path for every recipe: dataclasses + `HfArgumentParser` + `--config file.yaml`.

The YAML file sets defaults and the command line wins (`--learning_rate 3e-4`). Keys are checked
against every field of every dataclass, `TrainingArguments` included: an unknown key is an error
that names it and the closest valid key, before anything heavy happens.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import UserError
from .languages import check_languages


def did_you_mean(name: str, candidates) -> str:
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.5)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _parser_class():
    from transformers import HfArgumentParser

    class _Parser(HfArgumentParser):
        # argparse prints the whole usage and exits; we want one line and exit status 2.
        def error(self, message):
            raise UserError(message)

        def _add_dataclass_arguments(self, dtype):
            # `--help` in one titled group per argument class (HfArgumentParser groups a class that names one)
            if not hasattr(dtype, "_argument_group_name"):
                dtype = type(dtype.__name__, (dtype,), {"_argument_group_name": argument_group(dtype)})
            super()._add_dataclass_arguments(dtype)

    return _Parser


def argument_group(dtype) -> str:
    """The `--help` title of an argument class: model, data, cleaning, LoRA, task, run directory, training."""
    name = dtype.__name__
    titles = {"ModelArguments": "model", "DataArguments": "data", "VisionDataArguments": "data (images)",
              "CleaningArguments": "cleaning", "LoraArguments": "LoRA", "RunArguments": "run directory",
              "AugmentationArguments": "augmentation"}
    if name in titles:
        return titles[name]
    if name.endswith("TrainingArguments"):
        return f"training (transformers {name})"
    return f"task ({name.removesuffix('Arguments').lower() or name})"


def _pop_config(args: list[str]) -> tuple[str | None, list[str]]:
    rest, path, i = [], None, 0
    while i < len(args):
        if args[i] == "--config":
            if i + 1 >= len(args):
                raise UserError("--config needs a YAML file path")
            path, i = args[i + 1], i + 2
            continue
        if args[i].startswith("--config="):
            path = args[i].split("=", 1)[1]
        else:
            rest.append(args[i])
        i += 1
    return path, rest


def load_yaml_config(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"config file not found: {path}")
    try:
        values = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as err:
        raise UserError(f"{path}: not valid YAML ({str(err).splitlines()[0]})") from None
    if not isinstance(values, dict):
        raise UserError(f"{path}: expected a mapping of config keys to values at the top level")
    return values


def _cpu_distributed_env() -> None:
    """Make `accelerate launch --multi_gpu` on a machine without GPUs run gloo DDP on the CPU.

    Accelerate picks MULTI_CPU only when asked for the CPU; its multi-GPU launcher does not ask, so
    each process would train alone. Set before TrainingArguments builds the distributed state.
    """
    import os

    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and "ACCELERATE_USE_CPU" not in os.environ:
        import torch

        if not torch.cuda.is_available():
            os.environ["ACCELERATE_USE_CPU"] = "true"


def parse_config(dataclass_types, args: list[str] | None = None, trainer_fields: set[str] | None = None,
                 unread_reason: str = "this recipe runs its own training loop (not Trainer)"):
    """Parse `--config file.yaml` plus command-line overrides into instances of `dataclass_types`.

    `trainer_fields`: for a recipe with its own training loop (no Trainer), the `TrainingArguments` fields
    it reads; any other field given is refused instead of silently ignored, saying `unread_reason`.

    Returns a tuple with one instance per dataclass type, in order, followed by the config file path
    (or `None`). Raises `UserError` for unknown keys, bad values and unreadable files.
    """
    args = list(sys.argv[1:] if args is None else args)
    config_path, args = _pop_config(args)
    values = load_yaml_config(config_path) if config_path else {}
    valid = {f.name for dc in dataclass_types for f in dataclasses.fields(dc) if f.init}
    values, args = apply_aliases(values, args, valid, config_path)
    given = set(values) | _options_given(args, valid)
    for key in values:
        if key not in valid:
            raise UserError(f"{config_path}: unknown config key '{key}'{did_you_mean(key, valid)}")

    _cpu_distributed_env()
    parser = _parser_class()(dataclass_types, allow_abbrev=False,  # a typo must not match a prefix
                             usage="%(prog)s [--config FILE.yaml] [--OPTION VALUE ...]  (options by group below)",
                             epilog=_aliases_help(valid))
    # set_defaults skips argparse's type conversion: check each YAML value against its option first
    parser.set_defaults(**_trainer_defaults(given, valid))
    parser.set_defaults(**_typed_yaml_values(parser, values, dataclass_types, config_path))
    try:
        *parsed, remaining = parser.parse_args_into_dataclasses(
            args, return_remaining_strings=True, look_for_args_file=False
        )
    except UserError:
        raise
    except (ValueError, TypeError, argparse.ArgumentTypeError) as err:
        raise UserError(str(err).strip().splitlines()[0]) from None
    if remaining:
        bad = next((a for a in remaining if a.startswith("-")), remaining[0])
        name = bad.lstrip("-").split("=")[0].replace("-", "_")
        close = difflib.get_close_matches(name, list(valid), n=1, cutoff=0.5)
        hint = f" (did you mean '--{close[0]}'?)" if close else ""
        raise UserError(f"unknown option '{bad}'{hint}")
    for instance in parsed:
        if type(instance).__name__.endswith("TrainingArguments"):
            check_training_args(instance)
            check_trainer_fields(instance, given, config_path)
            if trainer_fields is not None:
                _check_own_loop_fields(instance, given, trainer_fields, unread_reason)
            if instance.output_dir is None and not instance.do_train:
                instance.output_dir = _model_run_dir(parsed)
    return (*parsed, config_path)


def _model_run_dir(parsed) -> str | None:
    """Without training, results go into the model's own run directory when `model_name_or_path` is one
    (the example scripts' `--model_name_or_path out --output_dir out`)."""
    for instance in parsed:
        model = getattr(instance, "model_name_or_path", None)
        if model and (Path(model) / "lingbridge_run.json").is_file():
            return str(model)
    return None


# ----------------------------------------------------------------------------------------------
# The Transformers example scripts' conventions: their option names, do_train/do_eval/do_predict,
# output_dir, and every TrainingArguments field honoured as Trainer honours it or refused.

# alias → the option it sets (special forms in `apply_aliases`)
ALIASES = {
    "label_column_name": "label_column",  # run_classification.py
    "max_source_length": "max_seq_length",  # run_translation.py / run_summarization.py
    "text_column_names": "text_column",  # run_classification.py: "sentence1,sentence2" → text + text pair
    "source_lang": "directions",  # run_translation.py: --source_lang en --target_lang de → --directions en-de
    "target_lang": "directions",
    "line_by_line": "pack_sequences",  # run_mlm.py: one example per line instead of packed blocks
}
_TRUE, _FALSE = ("true", "yes", "1", "on"), ("false", "no", "0", "off")


def _aliases_help(valid: set[str]) -> str | None:
    names = [f"--{alias} (--{target})" for alias, target in ALIASES.items() if target in valid]
    return ("also accepted, as in the Transformers example scripts: " + ", ".join(names)) if names else None


def _options_given(args: list[str], valid: set[str]) -> set[str]:
    """The fields named on a command line (`--x v`, `--x=v`, and `--no_x` for a boolean `x`)."""
    names = set()
    for arg in args:
        if arg.startswith("--"):
            name = arg[2:].split("=", 1)[0].replace("-", "_")
            names.add(name[3:] if name.startswith("no_") and name[3:] in valid else name)
    return names


def _bool_word(alias: str, value) -> bool:
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower()
    if word in _TRUE or word in _FALSE:
        return word in _TRUE
    raise UserError(f"--{alias} takes true or false, got '{value}'")


def apply_aliases(values: dict, args: list[str], valid: set[str], config_path=None) -> tuple[dict, list[str]]:
    """Rewrite the example scripts' option names (in the YAML keys and on the command line) into ours.

    `--label_column_name y` → `--label_column y`; `--max_source_length n` → `--max_seq_length n`;
    `--text_column_names a,b` → `--text_column a --text_pair_column b`; `--source_lang en --target_lang de`
    → `--directions en-de`; `--line_by_line` → `--pack_sequences false`. An alias applies where its
    option exists; an alias and its option in the same place (both in the file, or both on the command
    line) is a `UserError`; the command line wins over the file, as for every option.
    """
    in_file = {k: values.pop(k) for k in list(values) if k in ALIASES and ALIASES[k] in valid}
    values.update(_resolve_aliases(in_file, set(values), valid, f"{config_path}: " if config_path else ""))
    found: dict[str, object] = {}
    rest, i = [], 0
    while i < len(args):
        arg = args[i]
        name, _, inline = arg[2:].partition("=") if arg.startswith("--") else ("", "", "")
        if name in ALIASES and ALIASES[name] in valid:
            if inline:
                found[name], i = inline, i + 1
            elif name == "line_by_line":  # a flag: a following true/false is its value
                nxt = args[i + 1] if i + 1 < len(args) else ""
                takes = nxt.lower() in _TRUE + _FALSE
                found[name], i = (nxt if takes else True), i + (2 if takes else 1)
            elif i + 1 < len(args):
                found[name], i = args[i + 1], i + 2
            else:
                raise UserError(f"{arg} needs a value")
            continue
        rest.append(arg)
        i += 1
    extra: list[str] = []
    for key, value in _resolve_aliases(found, _options_given(rest, valid), valid, "").items():
        extra += [f"--{key}", *(map(str, value) if isinstance(value, list) else [str(value)])]
    return values, [*extra, *rest]


def _resolve_aliases(found: dict, given: set[str], valid: set[str], where: str) -> dict:
    """The options that the aliases in `found` (alias → value) stand for; `given` are the options named
    beside them."""
    out: dict[str, object] = {}
    for alias, value in found.items():
        target = ALIASES[alias]
        if target in given:
            raise UserError(f"{where}give --{target} or its alias --{alias}, not both")
        if alias == "text_column_names":
            names = [c.strip() for c in (value if isinstance(value, list) else str(value).split(",")) if c.strip()]
            pair = "text_pair_column" in valid
            if not 1 <= len(names) <= (2 if pair else 1):
                raise UserError(f"{where}--text_column_names: expected one column{' or two (text, text pair)' if pair else ''}"
                                f", comma-separated; got '{value}'")
            if len(names) == 2 and "text_pair_column" in given:
                raise UserError(f"{where}give --text_pair_column or a second name in --text_column_names, not both")
            out.update(zip(("text_column", "text_pair_column"), names))
        elif alias in ("source_lang", "target_lang"):
            if not ("source_lang" in found and "target_lang" in found):
                raise UserError(f"{where}--source_lang and --target_lang go together (or give --directions src-tgt ...)")
            out["directions"] = [f"{found['source_lang']}-{found['target_lang']}"]
        elif alias == "line_by_line":
            out["pack_sequences"] = not _bool_word(alias, value)
        else:
            out[target] = value
    return out


def _trainer_defaults(given: set[str], valid: set[str]) -> dict:
    """Defaults that differ from `TrainingArguments`' own, for the recipes that use it.

    - `report_to`: TensorBoard when it is installed (live loss, learning rate and evaluation curves,
      written into the run directory); `--report_to none` turns it off.
    """
    out: dict = {}
    if "report_to" in valid and "report_to" not in given:
        import importlib.util

        if importlib.util.find_spec("tensorboard") is not None:
            out["report_to"] = ["tensorboard"]
    return out


# Fields lingbridge does not pass on as Trainer would: (why, what to do instead)
REFUSED_TRAINER_FIELDS = {
    "predict_with_generate": "the translation recipe generates the test translations itself (and scores the "
                             "dev split by its loss); set --generation_num_beams / --generation_max_length",
    "prediction_loss_only": "the recipes compute their metrics per language from the predictions; "
                            "use --eval_strategy no to skip evaluation during training",
    "batch_eval_metrics": "the recipes compute their metrics per language over the whole split",
    "eval_do_concat_batches": "the recipes compute their metrics per language over the whole split",
}
HUB_STRATEGIES = ("end",)


def check_trainer_fields(training_args, given: set[str], config_path=None) -> None:
    """Refuse what a recipe would not honour as Trainer does, naming the alternative (`UserError`).

    Also notes whether `output_dir` was given: without one, `training_args.output_dir` is None and
    the run directory is `runs/<job>-<time>` (transformers' own stand-in, `trainer_output`, stays a
    folder name the user may choose).
    """
    for name in sorted(given & set(REFUSED_TRAINER_FIELDS)):
        if name == "eval_do_concat_batches" and training_args.eval_do_concat_batches:
            continue  # the default, stated
        if name == "predict_with_generate" and not hasattr(training_args, "generation_num_beams"):
            continue
        raise UserError(f"--{name} is not supported: {REFUSED_TRAINER_FIELDS[name]}")
    if "output_dir" not in given:
        training_args.output_dir = None
    if training_args.push_to_hub:
        repo = training_args.hub_model_id
        if not repo or repo.count("/") != 1:
            raise UserError(f"--push_to_hub needs --hub_model_id namespace/name (the repository the finished run is "
                            f"published to, as `lingbridge publish RUN --repo_id` does); got {repo!r}")
        from huggingface_hub.utils import HFValidationError, validate_repo_id

        try:
            validate_repo_id(repo)
        except HFValidationError as err:
            raise UserError(f"--hub_model_id '{repo}': {str(err).splitlines()[0]}") from None
        strategy = str(getattr(training_args.hub_strategy, "value", training_args.hub_strategy))
        if "hub_strategy" in given and strategy not in HUB_STRATEGIES:  # Trainer's default (every_save) means end here
            raise UserError(f"--hub_strategy {strategy}: lingbridge publishes the finished run once, with its card and "
                            "record (--hub_strategy end); checkpoints are never pushed. Publish a run directory "
                            "any time with `lingbridge publish`")
    ckpt = training_args.resume_from_checkpoint
    if ckpt not in (None, "") and str(ckpt).lower() not in _TRUE + _FALSE:
        path = Path(ckpt)
        if not (path / "trainer_state.json").is_file():
            raise UserError(f"--resume_from_checkpoint {ckpt}: not a Trainer checkpoint folder (no trainer_state.json); "
                            "give a checkpoint-<step> folder, or true for the last checkpoint of this run")
    _resolve_stages(training_args, given)


def _check_own_loop_fields(training_args, given: set[str], trainer_fields: set[str], reason: str) -> None:
    """A recipe with its own loop (or a job that trains nothing) reads only `trainer_fields` of
    `TrainingArguments`: refuse the others."""
    fields = {f.name for f in dataclasses.fields(training_args)}
    unused = sorted((given & fields) - set(trainer_fields) - {"output_dir"})
    if unused == ["report_to"] and not training_args.report_to:
        return  # `report_to: none` states what such a recipe does anyway
    if unused:
        raise UserError(f"--{unused[0]} has no effect here: {reason} and reads only "
                        f"{', '.join(sorted(trainer_fields))} of the training arguments")


def _resolve_stages(training_args, given: set[str]) -> None:
    """`do_train`/`do_eval`/`do_predict`: a recipe trains, evaluates on the dev split and predicts on the
    test split. Naming some of them turns the others off when one named is on, as in the example scripts
    (`--do_eval` alone evaluates an existing model), and keeps them on otherwise (`--do_train false`
    evaluates and predicts). Evaluation during training follows `eval_strategy` either way."""
    stages = ("do_train", "do_eval", "do_predict")
    named = [s for s in stages if s in given]
    on = any(getattr(training_args, s) for s in named)
    for stage in stages:
        if stage not in named:
            setattr(training_args, stage, not on)
    if not any(getattr(training_args, s) for s in stages):
        raise UserError("nothing to do: --do_train, --do_eval and --do_predict are all false")


def _typed_yaml_values(parser, values: dict[str, Any], dataclass_types, config_path) -> dict[str, Any]:
    """YAML values converted as argparse converts the same option on the command line.

    A list where one value is expected (`learning_rate: [1e-3, 2e-3]`), a word where a number is expected
    or a value outside the choices is a `UserError` naming the file and the key. Lists stay lists for
    list options (a single value becomes a one-item list) and for fields typed as lists or mappings
    (`report_to`, `fsdp_config`); PyYAML's strings such as `2e-3` (YAML 1.1 reads it as text) become numbers.
    """
    types = _declared_types(dataclass_types)
    out = {}
    for key, value in values.items():
        action = parser._option_string_actions.get(f"--{key}")
        if action is None or value is None:
            out[key] = value
            continue
        many = action.nargs in ("+", "*")
        if isinstance(value, dict) or (isinstance(value, list) and not many):
            shape = "mapping" if isinstance(value, dict) else "list"
            if ("dict" if shape == "mapping" else "list") in types[key]:
                out[key] = value  # the field takes a list / mapping as it is (report_to, fsdp_config)
                continue
            raise UserError(f"{config_path}: '{key}' must be a single {_kind(action)}, got a {shape}: {_short(value)}")
        items = [_yaml_item(key, action, v, config_path) for v in (value if isinstance(value, list) else [value])]
        out[key] = items if many else items[0]
    return out


def _declared_types(dataclass_types) -> dict[str, str]:
    """Each field's annotation as written, lower-cased (HfArgumentParser rewrites `field.type` in place:
    `dict | str | None` becomes `str`, so the class annotations are the only record of it)."""
    out = {}
    for dc in dataclass_types:
        for klass in reversed(dc.__mro__):
            for name, annotation in vars(klass).get("__annotations__", {}).items():
                out[name] = str(annotation).lower()
    return out


def _kind(action) -> str:
    return {int: "integer", float: "number"}.get(action.type, "value")


def _short(value, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _yaml_item(key: str, action, value, config_path):
    import math

    where = f"{config_path}: '{key}'"
    if isinstance(value, (list, dict)):
        raise UserError(f"{where} must be a list of single values, got {_short(value)}")
    convert = action.type
    if convert in (int, float):
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise UserError(f"{where} must be a{'n' if convert is int else ''} {_kind(action)}, got {_short(value)}")
        try:
            number = convert(value)
        except (TypeError, ValueError):
            raise UserError(f"{where} must be a{'n' if convert is int else ''} {_kind(action)}, got {_short(value)}") from None
        if convert is int and isinstance(value, float) and not value.is_integer():
            raise UserError(f"{where} must be an integer, got {value}")
        if convert is float and math.isnan(number):
            raise UserError(f"{where} must be a number, got {value}")
        return number
    if convert is str or convert is None:
        # numbers become text (a revision `2024`); booleans stay (fields such as `fsdp` take false)
        return str(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else value
    try:
        converted = convert(value)
    except Exception:  # argparse's converters raise ValueError, KeyError or ArgumentTypeError
        converted = _INVALID
    if converted is _INVALID or (action.choices and converted not in action.choices):
        choices = f"; choose from {', '.join(str(c) for c in action.choices)}" if action.choices else ""
        raise UserError(f"{where}: invalid value {_short(value)}{choices}")
    return converted


_INVALID = object()


def check_training_args(args) -> None:
    """User mistakes in `TrainingArguments` that transformers accepts or reports only mid-run.

    Zero epochs or steps would train nothing and still write a run that says "finetuned"; a negative
    batch size fails deep inside the DataLoader; a token given as an option ends up in shell history,
    process lists and every checkpoint's pickled `training_args.bin`.
    """
    import math

    if getattr(args, "hub_token", None):
        raise UserError("hub_token: do not pass a token as an option or in a config file (it would be kept in "
                        "shell history, process lists and checkpoints); set HF_TOKEN or run `hf auth login`")
    for name in ("per_device_train_batch_size", "per_device_eval_batch_size", "gradient_accumulation_steps"):
        value = getattr(args, name, None)
        if value is not None and value < 1:
            raise UserError(f"{name} must be at least 1, got {value}")
    if args.max_steps == 0 or args.max_steps < -1:
        raise UserError(f"max_steps must be a positive number of steps (or -1: train for num_train_epochs), "
                        f"got {args.max_steps}")
    if args.max_steps == -1 and not (math.isfinite(args.num_train_epochs) and args.num_train_epochs > 0):
        raise UserError(f"num_train_epochs must be a positive number (or give max_steps), got {args.num_train_epochs}")
    if not (math.isfinite(args.learning_rate) and args.learning_rate > 0):
        raise UserError(f"learning_rate must be a positive number, got {args.learning_rate}")
    for name in ("weight_decay", "warmup_steps", "max_grad_norm", "label_smoothing_factor"):
        value = getattr(args, name, None)
        if value is not None and not (math.isfinite(value) and value >= 0):
            raise UserError(f"{name} must be a number of at least 0, got {value}")
    if not 0 <= getattr(args, "label_smoothing_factor", 0) < 1:
        raise UserError(f"label_smoothing_factor must be in [0, 1), got {args.label_smoothing_factor}")
    for name in ("seed", "data_seed"):
        value = getattr(args, name, None)
        if value is not None and not 0 <= value < 2**32:
            raise UserError(f"{name} must be in [0, 2**32), got {value}")
    for name in ("logging_steps", "save_steps", "eval_steps"):
        value = getattr(args, name, None)
        if value is not None and not (math.isfinite(value) and value > 0):
            raise UserError(f"{name} must be a positive number, got {value}")
    if getattr(args, "dataloader_num_workers", 0) < 0:
        raise UserError(f"dataloader_num_workers must be at least 0, got {args.dataloader_num_workers}")
    if getattr(args, "save_total_limit", None) is not None and args.save_total_limit < 0:
        raise UserError(f"save_total_limit must be at least 0, got {args.save_total_limit}")


# ----------------------------------------------------------------------------------------------
# Argument groups shared by the recipes (names follow the Hugging Face example scripts).


@dataclass
class ModelArguments:
    model_name_or_path: str | None = field(
        default=None,
        metadata={"help": "Hub id, local checkpoint folder or lingbridge run directory to start from."},
    )
    config_name: str | None = field(
        default=None,
        metadata={"help": "Config for a from-scratch model when model_name_or_path is not given: 'tiny' or 'base' (built-in XLM-R sizes) or a Hub id / path."},
    )
    tokenizer_name: str | None = field(
        default=None, metadata={"help": "Tokenizer Hub id or folder, if not the model's own."}
    )
    model_revision: str = field(default="main", metadata={"help": "Branch, tag or commit of a Hub model."})
    cache_dir: str | None = field(default=None, metadata={"help": "Where to cache Hub downloads."})
    trust_remote_code: bool = field(
        default=False, metadata={"help": "Allow code from the Hub to run. Off unless you trust the repository."}
    )

    vocab_size: int = field(
        default=8000, metadata={"help": "Vocabulary size of the Unigram tokenizer trained when no tokenizer is given."}
    )

    def __post_init__(self):
        if self.vocab_size < 100:
            raise UserError(f"vocab_size must be at least 100, got {self.vocab_size}")


MAX_SEQ_LENGTH = 1 << 20  # no text model reads a million tokens at once: a larger value is a typo


@dataclass
class DataArguments:
    dataset_name: str | None = field(
        default=None,
        metadata={"help": "Hub dataset id, or a bundled sample: 'sample:sentiment', 'sample:corpus', 'sample:parallel'."},
    )
    dataset_config_name: str | None = field(default=None, metadata={"help": "Hub dataset config name."})
    train_file: str | None = field(default=None, metadata={"help": "csv/tsv/json/jsonl/parquet/txt training file."})
    validation_file: str | None = field(default=None, metadata={"help": "Validation file (same formats)."})
    test_file: str | None = field(default=None, metadata={"help": "Test file (same formats)."})
    text_column: str = field(default="text", metadata={"help": "Column holding the text."})
    label_column: str = field(default="label", metadata={"help": "Column holding the label."})
    lang_column: str = field(default="lang", metadata={"help": "Column holding the language code (optional in the data)."})
    languages: list[str] | None = field(
        default=None, metadata={"help": "Keep only these language codes (default: all in the data)."}
    )
    validation_split_percentage: int = field(
        default=10, metadata={"help": "Share of train held out for validation when no validation split exists."}
    )
    max_train_samples: int | None = field(default=None, metadata={"help": "Truncate the training set (debugging)."})
    max_eval_samples: int | None = field(default=None, metadata={"help": "Truncate the evaluation sets."})
    preprocessing_num_workers: int | None = field(default=None, metadata={"help": "Processes for datasets.map."})
    max_seq_length: int = field(default=128, metadata={"help": "Truncate tokenised inputs to this length."})
    pad_to_max_length: bool = field(
        default=False, metadata={"help": "Pad every batch to max_seq_length (default: dynamic padding, faster)."}
    )

    def __post_init__(self):
        sources = [self.dataset_name, self.train_file]
        if self.dataset_name and self.train_file:
            raise UserError("give either dataset_name or train_file, not both")
        if not any(sources) and (self.validation_file or self.test_file):
            raise UserError("validation_file/test_file need a train_file (or a dataset_name)")
        for name in ("train_file", "validation_file", "test_file"):
            path = getattr(self, name)
            if path and Path(path).is_dir():
                raise UserError(f"{name}: {path} is a folder, expected a data file (csv, tsv, json, jsonl, parquet, txt)")
            if path and not Path(path).is_file():
                raise UserError(f"{name}: file not found: {path}")
        if self.languages:
            check_languages(self.languages, where="languages")
        if not 0 <= self.validation_split_percentage < 100:
            raise UserError(f"validation_split_percentage must be in [0, 100), got {self.validation_split_percentage}")
        if not 8 <= self.max_seq_length <= MAX_SEQ_LENGTH:
            # above the model's own limit it is lowered to that limit (with a warning) once the model is known
            raise UserError(f"max_seq_length must be between 8 and {MAX_SEQ_LENGTH} tokens, got {self.max_seq_length}")
        for name in ("max_train_samples", "max_eval_samples"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise UserError(f"{name} must be at least 1, got {value}")
        if self.preprocessing_num_workers is not None and self.preprocessing_num_workers < 1:
            raise UserError(f"preprocessing_num_workers must be at least 1, got {self.preprocessing_num_workers}")
        for name in ("text_column", "label_column", "lang_column"):
            if not str(getattr(self, name)).strip():
                raise UserError(f"{name} must name a column, got an empty string")


@dataclass
class CleaningArguments:
    unicode_normalization: str | None = field(
        default="NFKC", metadata={"help": "NFC, NFKC, NFD, NFKD or none."}
    )
    strip_control_chars: bool = field(default=True, metadata={"help": "Remove control and format characters."})
    normalize_whitespace: bool = field(default=True, metadata={"help": "Collapse runs of whitespace, strip ends."})
    min_chars: int = field(default=2, metadata={"help": "Drop texts shorter than this many characters."})
    max_chars: int = field(default=5000, metadata={"help": "Drop texts longer than this many characters."})
    dedup: bool = field(default=True, metadata={"help": "Drop exact duplicates after normalisation (case, punctuation)."})
    near_dedup: bool = field(default=True, metadata={"help": "Drop near-duplicates (MinHash LSH on character 5-grams)."})
    near_dedup_threshold: float = field(default=0.85, metadata={"help": "Jaccard similarity that counts as a near-duplicate."})
    langid: str = field(
        default="off", metadata={"help": "Language-id check against the lang column: off, flag or drop."}
    )
    decontaminate: bool = field(
        default=True, metadata={"help": "Remove training rows that also occur in validation/test (any language)."}
    )
    cleaning_num_workers: int | None = field(
        default=None, metadata={"help": "Processes for the per-row cleaning pass (datasets.map num_proc; default: one)."}
    )

    def __post_init__(self):
        if self.cleaning_num_workers is not None and self.cleaning_num_workers < 1:
            raise UserError(f"cleaning_num_workers must be at least 1, got {self.cleaning_num_workers}")
        if self.unicode_normalization in (None, "none", "None"):
            self.unicode_normalization = None
        elif self.unicode_normalization not in ("NFC", "NFKC", "NFD", "NFKD"):
            raise UserError(f"unicode_normalization must be NFC, NFKC, NFD, NFKD or none, got '{self.unicode_normalization}'")
        if self.langid not in ("off", "flag", "drop"):
            raise UserError(f"langid must be off, flag or drop, got '{self.langid}'")
        if not 0 < self.near_dedup_threshold <= 1:
            raise UserError(f"near_dedup_threshold must be in (0, 1], got {self.near_dedup_threshold}")
        if self.min_chars < 0 or self.max_chars < self.min_chars:
            raise UserError(f"need 0 <= min_chars <= max_chars, got {self.min_chars} and {self.max_chars}")


@dataclass
class RunArguments:
    overwrite_output_dir: bool = field(
        default=False, metadata={"help": "Replace an existing run directory (default: refuse)."}
    )
    resume: bool = field(
        default=False,
        metadata={"help": "Continue an unfinished run from its last checkpoint (the newest of this job if no output_dir)."},
    )
    keep_checkpoints: bool = field(
        default=False, metadata={"help": "Keep checkpoint-* folders in the finished run directory."}
    )
    auto_bf16: bool = field(
        default=False, metadata={"help": "bf16 autocast where the hardware has it (a GPU with bf16; a CPU with "
                                         "AVX512-BF16 or AMX), fp32 elsewhere; --bf16 forces it."}
    )


@dataclass
class LoraArguments:
    use_lora: bool = field(default=True, metadata={"help": "Train LoRA adapters instead of every weight."})
    lora_r: int = field(default=8, metadata={"help": "LoRA rank: higher adapts more and costs more memory."})
    lora_alpha: int = field(default=16, metadata={"help": "LoRA scaling (alpha / r multiplies the update)."})
    lora_dropout: float = field(default=0.1, metadata={"help": "Dropout on the LoRA branch."})
    lora_target_modules: list[str] | None = field(default=None, metadata={"help": "Modules to adapt (default: chosen from the architecture)."})
    lora_modules_to_save: list[str] | None = field(
        default=None, metadata={"help": "Modules trained in full beside the adapters (default: the new head, and a pooler "
                                        "the classification head reads; 'none': only the adapters)."})
    merge_lora: bool = field(default=True, metadata={"help": "Merge the adapters into the weights on save (else keep adapter_* files)."})

    def __post_init__(self):
        if self.lora_r < 1:
            raise UserError(f"lora_r must be at least 1, got {self.lora_r}")
        if not 0 <= self.lora_dropout < 1:
            raise UserError(f"lora_dropout must be in [0, 1), got {self.lora_dropout}")


# ----------------------------------------------------------------------------------------------
# Shipped configs: recipes/configs/<recipe>/<name>.yaml, in a checkout and in an installed package.


def shipped_config(recipe: str, name: str = "tiny") -> str:
    """Path of a shipped YAML config, e.g. `shipped_config("pretrain")` → `.../configs/pretrain/tiny.yaml`."""
    from importlib import resources

    return str(resources.files("lingbridge.recipes") / "configs" / recipe / f"{name}.yaml")
