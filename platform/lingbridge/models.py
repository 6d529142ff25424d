"""Build models from a Hub id, a local folder or run directory, or a tiny config; add LoRA."""

from __future__ import annotations

import logging
from pathlib import Path

from .errors import UserError

logger = logging.getLogger("lingbridge")

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


def _poolers_read_by_the_head(model, task_type: str) -> list[str]:
    """Pooler modules a sequence-classification head reads (BERT, ALBERT, ...: `pooler_output`).

    A checkpoint's pooler was trained for its own pretraining objective (next-sentence prediction), or
    not at all (sentence-transformers checkpoints such as MiniLM-L6 ship one and never use it): either
    way, not for this task. Frozen under LoRA, a short run cannot learn through it (measured: SST-2 dev
    stayed at the majority class after 60 steps; trainable, 0.68). XLM-R/RoBERTa heads build no pooler.
    """
    if task_type != "SEQ_CLS":
        return []
    return sorted(name for name, module in model.named_modules()
                  if name.rsplit(".", 1)[-1] == "pooler" and module is not None and any(True for _ in module.parameters()))


def trainable_modules(model, task_type: str, missing_keys: list[str], override: list[str] | None = None):
    """The modules trained in full beside the LoRA adapters, and why each one.

    By default: every module covering weights the checkpoint did not provide (the new head), and the
    pooler a classification head reads. `override` (`--lora_modules_to_save`) replaces the decision;
    `["none"]` trains nothing beside the adapters.
    """
    module_names = {name for name, _ in model.named_modules()}
    if override is not None:
        chosen = [m for m in override if m.lower() != "none"]
        unknown = [m for m in chosen if not any(n == m or n.endswith("." + m) for n in module_names)]
        if unknown:
            from .config import did_you_mean

            short = sorted({n.rsplit(".", 1)[-1] for n in module_names if n})
            raise UserError(f"lora_modules_to_save: no module named '{unknown[0]}' in the model"
                            f"{did_you_mean(unknown[0].rsplit('.', 1)[-1], short)}")
        return chosen, {m: "lora_modules_to_save (given)" for m in chosen}
    reasons = {m: "not in the checkpoint: initialised randomly" for m in _untrained_modules(missing_keys, module_names)}
    for pooler in _poolers_read_by_the_head(model, task_type):
        inside = [m for m in reasons if m.startswith(pooler + ".")]
        if inside or not any(pooler == m or pooler.startswith(m + ".") for m in reasons):
            for m in inside:  # a pooler partly missing from the checkpoint is trained whole
                reasons.pop(m)
            reasons[pooler] = ("read by the classification head; " + ("partly missing from the checkpoint" if inside
                               else "the checkpoint's pooler was not trained for this task"))
    return sorted(reasons), reasons


def apply_lora(model, lora_args, task_type: str, missing_keys: list[str]):
    """Wrap `model` with LoRA; the weights the task needs but the checkpoint never trained for it stay
    fully trainable (`trainable_modules`): a head the checkpoint lacks, a pooler the head reads.
    """
    from peft import LoraConfig, get_peft_model

    targets = lora_args.lora_target_modules or lora_target_modules(model)
    to_save, reasons = trainable_modules(model, task_type, missing_keys, getattr(lora_args, "lora_modules_to_save", None))
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
    return model, {"target_modules": list(targets), "modules_to_save": to_save, "modules_to_save_reasons": reasons,
                   "r": lora_args.lora_r,
                   "alpha": lora_args.lora_alpha, "dropout": lora_args.lora_dropout,
                   "trainable_params": int(trainable), "total_params": int(total)}


def count_parameters(model) -> dict[str, int]:
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {"total": total, "trainable": trainable}


# ---- seq2seq ------------------------------------------------------------------------------------------

# The built-in tiny seq2seq model: the M2M100/NLLB architecture (pre-LayerNorm) at 2+2 layers, hidden 128;
# trains on a 2-core CPU in a few minutes. A post-LN model (Marian) at this size and a tiny corpus lets the
# decoder memorise the targets while the encoder collapses to one vector for every input: pre-LN does not.
TINY_SEQ2SEQ = dict(d_model=128, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4,
                    decoder_attention_heads=4, encoder_ffn_dim=512, decoder_ffn_dim=512, dropout=0.1,
                    attention_dropout=0.0, activation_dropout=0.0, encoder_layerdrop=0.0, decoder_layerdrop=0.0,
                    max_position_embeddings=256, scale_embedding=True)


def tiny_seq2seq_config(tokenizer, **overrides):
    """A from-scratch M2M100-architecture config for `tokenizer` (decoding starts from its `<s>`)."""
    from transformers import M2M100Config

    return M2M100Config(**{**TINY_SEQ2SEQ, "vocab_size": len(tokenizer), "pad_token_id": tokenizer.pad_token_id,
                           "eos_token_id": tokenizer.eos_token_id, "bos_token_id": tokenizer.bos_token_id,
                           "decoder_start_token_id": tokenizer.bos_token_id, **overrides})


def warm_start_from_encoder(path: str, tokenizer, warm_decoder: bool = True):
    """An encoder-decoder model whose encoder (and decoder) start from an encoder-only checkpoint.

    Rothe et al. (2020): a BERT/XLM-R checkpoint initialises both sides; only the decoder's
    cross-attention is new. Used for lingbridge pretrain run directories.
    """
    from transformers import AutoConfig, AutoModel, AutoModelForCausalLM, EncoderDecoderModel

    encoder = AutoModel.from_pretrained(path, add_pooling_layer=False, use_safetensors=True)
    if warm_decoder:
        decoder, info = AutoModelForCausalLM.from_pretrained(path, is_decoder=True, add_cross_attention=True,
                                                             use_safetensors=True, output_loading_info=True)
        missing = list(info.get("missing_keys", []))
    else:
        cfg = AutoConfig.from_pretrained(path, is_decoder=True, add_cross_attention=True)
        decoder, missing = AutoModelForCausalLM.from_config(cfg), ["decoder.*"]
    model = EncoderDecoderModel(encoder=encoder, decoder=decoder)
    for cfg in (model.config, model.generation_config):
        cfg.decoder_start_token_id = tokenizer.bos_token_id
        cfg.pad_token_id = tokenizer.pad_token_id
        cfg.eos_token_id = tokenizer.eos_token_id
    return model, missing


def is_encoder_only(path: str) -> bool:
    """True for a checkpoint (e.g. a lingbridge pretrain run) that has no decoder to translate with."""
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(path)
    return not getattr(config, "is_encoder_decoder", False) and config.model_type in (
        "xlm-roberta", "roberta", "bert", "distilbert", "electra", "camembert", "deberta-v2")


# ---- one builder for the recipes ------------------------------------------------------------------------


def build_model(task, model_args, tokenizer, lora_args=None, max_seq_length: int = 128, config_overrides: str | None = None,
                warm_start_decoder: bool = True, **config_kwargs):
    """The model a recipe trains, for a registry `task`: from a checkpoint (+ LoRA) or from scratch.

    From `model_name_or_path`: the checkpoint (safetensors only) with `config_kwargs` (labels), the
    embeddings grown to the tokenizer, and LoRA when `lora_args.use_lora` (weights the checkpoint did
    not provide stay trainable). For a seq2seq task, an encoder-only checkpoint (a pretrain run) warm-starts
    both sides of an encoder-decoder. From `config_name`: a random model ('tiny'/'base' built-in sizes,
    the tiny M2M100-architecture model for seq2seq); LoRA is skipped, since nothing is pretrained to freeze.

    Returns:
        (model, init: what it started from, lora: the LoRA record or None, parameters: total/trainable counts)
    """
    import transformers

    auto = getattr(transformers, task.auto_class)
    path = model_args.model_name_or_path
    seq2seq = task.auto_class == "AutoModelForSeq2SeqLM"
    lora, missing = None, []
    if path and seq2seq and is_encoder_only(path):
        model, missing = warm_start_from_encoder(path, tokenizer, warm_start_decoder)
        init = f"encoder{' and decoder' if warm_start_decoder else ''} from {path} (cross-attention new)"
    elif path:
        model, missing = load_pretrained(auto, model_args, **config_kwargs)
        if model.get_input_embeddings().num_embeddings < len(tokenizer):
            model.resize_token_embeddings(len(tokenizer))
        init = path
    else:
        positions = min(max_seq_length, 512) + 3  # XLM-R offsets positions by padding_idx + 1
        if seq2seq and model_args.config_name == "tiny":
            config = tiny_seq2seq_config(tokenizer, max_position_embeddings=max_seq_length)
        elif seq2seq:
            config = build_config(model_args, tokenizer)
        else:
            config = build_config(model_args, tokenizer, **config_kwargs, max_position_embeddings=positions)
        if config_overrides:
            try:
                config.update_from_string(config_overrides)
            except ValueError as err:
                raise UserError(f"config_overrides '{config_overrides}': {err}") from None
        model = auto.from_config(config)
        init = f"random ({model_args.config_name} config)"
    if lora_args is not None and lora_args.use_lora:
        if init == path and task.peft_task_type:
            model, lora = apply_lora(model, lora_args, task.peft_task_type, missing)
            lora["kept_unmerged"] = not lora_args.merge_lora
        else:
            # random weights (a new model, or a new cross-attention) must all learn: LoRA would freeze them
            logger.warning("LoRA skipped: %s has weights with nothing pretrained to freeze; training all of them", init)
    params = count_parameters(model)
    logger.info("model: %s; %s of %s parameters trainable", init, f"{params['trainable']:,}", f"{params['total']:,}")
    return model, init, lora, params


def input_limit(tokenizer, config=None) -> int:
    """The most tokens the model reads: the tokenizer's `model_max_length` (when it was set) and the
    model's position table (XLM-R/RoBERTa offset their positions by `padding_idx + 1`)."""
    limit = tokenizer.model_max_length if tokenizer.model_max_length and tokenizer.model_max_length < 1_000_000 else 512
    positions = getattr(config, "max_position_embeddings", None) if config is not None else None
    if positions:
        offset = (config.pad_token_id or 0) + 1 if config.model_type in ("xlm-roberta", "roberta", "camembert") else 0
        limit = min(limit, positions - offset)
    return int(limit)


def fit_max_length(requested: int, tokenizer, config=None, what: str = "max_seq_length") -> int:
    """`requested` tokens, lowered to what the model reads (`input_limit`) with a warning.

    Every place a model reads text truncates to this: a `--max_seq_length 100000` would otherwise index past
    the position table (`index out of range`) on the first long text.
    """
    limit = input_limit(tokenizer, config)
    if requested > limit:
        logger.warning("%s %d is more than the model reads: using %d tokens", what, requested, limit)
        return limit
    return requested
