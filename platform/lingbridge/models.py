"""Build models from a Hub id, a local folder or run directory, or a tiny config; add LoRA."""

from __future__ import annotations

import logging
from pathlib import Path

from .errors import UserError

logger = logging.getLogger(__name__)

# The built-in tiny XLM-R: trains on a 2-core CPU in minutes, same architecture as xlm-roberta-base.
TINY_XLMR = dict(
    hidden_size=128,
    num_hidden_layers=2,
    num_attention_heads=2,
    intermediate_size=512,
    max_position_embeddings=514,  # XLM-R offsets positions by padding_idx + 1
    hidden_dropout_prob=0.1,
    attention_probs_dropout_prob=0.1,
    type_vocab_size=1,
)


# XLM-R base's architecture (278M parameters with its 250k vocabulary), randomly initialised: for
# from-scratch pretraining at real scale and throughput measurements without the Hub.
BASE_XLMR = dict(
    hidden_size=768,
    num_hidden_layers=12,
    num_attention_heads=12,
    intermediate_size=3072,
    max_position_embeddings=514,
    hidden_dropout_prob=0.1,
    attention_probs_dropout_prob=0.1,
    type_vocab_size=1,
)
BUILTIN_CONFIGS = {"tiny": TINY_XLMR, "base": BASE_XLMR}


def check_model_source(name: str | None, what: str = "model_name_or_path") -> None:
    """A local path that does not exist is a user mistake, not a Hub id (Hub ids are `org/name`)."""
    if not name:
        return
    p = Path(name)
    looks_local = name.startswith((".", "/", "~")) or p.exists() or name.count("/") > 1 or name.startswith("runs")
    if looks_local and not p.exists():
        raise UserError(f"{what}: folder not found: {name}")
    if p.exists() and not (p / "config.json").is_file() and not (p / "adapter_config.json").is_file():
        raise UserError(f"{what}: {name} has no config.json; expected a model folder or a lingbridge run directory")


def build_config(model_args, tokenizer, **overrides):
    """Config for a from-scratch model: 'tiny' or 'base' (built-in XLM-R sizes) or any config id/path."""
    from transformers import AutoConfig, XLMRobertaConfig

    special = dict(vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id,
                   bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)
    if model_args.config_name in BUILTIN_CONFIGS:
        return XLMRobertaConfig(**{**BUILTIN_CONFIGS[model_args.config_name], **special, **overrides})
    try:
        config = AutoConfig.from_pretrained(model_args.config_name, cache_dir=model_args.cache_dir,
                                            trust_remote_code=model_args.trust_remote_code)
    except OSError as err:
        raise UserError(f"config_name: {str(err).splitlines()[0]}") from None
    for k, v in {**special, **overrides}.items():
        setattr(config, k, v)
    return config


def load_pretrained(auto_class, model_args, **kwargs):
    """`auto_class.from_pretrained` with safetensors only; returns (model, missing weight names)."""
    check_model_source(model_args.model_name_or_path)
    try:
        model, info = auto_class.from_pretrained(
            model_args.model_name_or_path,
            revision=model_args.model_revision,
            cache_dir=model_args.cache_dir,
            trust_remote_code=model_args.trust_remote_code,
            use_safetensors=True,  # never unpickle weights
            output_loading_info=True,
            **kwargs,
        )
    except (OSError, ValueError) as err:
        raise UserError(f"could not load model '{model_args.model_name_or_path}': {str(err).splitlines()[0]}") from None
    return model, list(info.get("missing_keys", []))


def lora_target_modules(model) -> list[str]:
    """LoRA targets from the architecture: peft's table, else the attention projections found."""
    from peft.utils import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING as table

    if model.config.model_type in table:
        return list(table[model.config.model_type])
    names = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    for candidates in (["q_proj", "v_proj"], ["query", "value"], ["q", "v"], ["q_lin", "v_lin"]):
        if all(c in names for c in candidates):
            return candidates
    raise UserError(f"cannot pick LoRA target modules for model type '{model.config.model_type}'; set lora_target_modules")


def _untrained_modules(missing_keys: list[str], module_names: set[str]) -> list[str]:
    """The smallest set of modules covering every missing weight (a head is kept whole)."""
    paths = set()
    for key in missing_keys:
        parts = key.split(".")[:-1]
        # keep task heads whole: peft treats `classifier`/`score` as one module to save
        for i, part in enumerate(parts):
            if part in ("classifier", "score", "qa_outputs", "lm_head"):
                parts = parts[: i + 1]
                break
        path = ".".join(parts)
        if path in module_names:
            paths.add(path)
    return sorted(p for p in paths if not any(p.startswith(q + ".") for q in paths))


def apply_lora(model, lora_args, task_type: str, missing_keys: list[str]):
    """Wrap `model` with LoRA; every weight the checkpoint did not provide stays fully trainable.

    A head (classifier) or pooler that the checkpoint lacks is random: frozen, it would keep the
    model at chance, so those modules go to `modules_to_save`.
    """
    from peft import LoraConfig, get_peft_model

    targets = lora_args.lora_target_modules or lora_target_modules(model)
    module_names = {name for name, _ in model.named_modules()}
    to_save = _untrained_modules(missing_keys, module_names)
    config = LoraConfig(
        task_type=task_type,
        r=lora_args.lora_r,
        lora_alpha=lora_args.lora_alpha,
        lora_dropout=lora_args.lora_dropout,
        target_modules=targets,
        modules_to_save=list(to_save) or None,  # peft extends this list in place
    )
    model = get_peft_model(model, config)
    trainable, total = model.get_nb_trainable_parameters()
    return model, {"target_modules": list(targets), "modules_to_save": to_save, "r": lora_args.lora_r,
                   "alpha": lora_args.lora_alpha, "dropout": lora_args.lora_dropout,
                   "trainable_params": int(trainable), "total_params": int(total)}


def count_parameters(model) -> dict[str, int]:
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {"total": total, "trainable": trainable}
