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

    return _Parser


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


def parse_config(dataclass_types, args: list[str] | None = None):
    """Parse `--config file.yaml` plus command-line overrides into instances of `dataclass_types`.

    Returns a tuple with one instance per dataclass type, in order, followed by the config file path
    (or `None`). Raises `UserError` for unknown keys, bad values and unreadable files.
    """
    args = list(sys.argv[1:] if args is None else args)
    config_path, args = _pop_config(args)
    values = load_yaml_config(config_path) if config_path else {}
    valid = {f.name for dc in dataclass_types for f in dataclasses.fields(dc) if f.init}
    for key in values:
        if key not in valid:
            raise UserError(f"{config_path}: unknown config key '{key}'{did_you_mean(key, valid)}")

    _cpu_distributed_env()
    parser = _parser_class()(dataclass_types, allow_abbrev=False)  # a typo must not match a prefix
    parser.set_defaults(**values)
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
    return (*parsed, config_path)


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
            if path and not Path(path).is_file():
                raise UserError(f"{name}: file not found: {path}")
        if self.languages:
            check_languages(self.languages, where="languages")
        if not 0 <= self.validation_split_percentage < 100:
            raise UserError(f"validation_split_percentage must be in [0, 100), got {self.validation_split_percentage}")
        if self.max_seq_length < 8:
            raise UserError(f"max_seq_length must be at least 8, got {self.max_seq_length}")


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

    def __post_init__(self):
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


@dataclass
class LoraArguments:
    use_lora: bool = field(default=True, metadata={"help": "Train LoRA adapters instead of every weight."})
    lora_r: int = field(default=8, metadata={"help": "LoRA rank: higher adapts more and costs more memory."})
    lora_alpha: int = field(default=16, metadata={"help": "LoRA scaling (alpha / r multiplies the update)."})
    lora_dropout: float = field(default=0.1, metadata={"help": "Dropout on the LoRA branch."})
    lora_target_modules: list[str] | None = field(default=None, metadata={"help": "Modules to adapt (default: chosen from the architecture)."})
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
