"""`lingbridge plan`: what a run will do and cost, without training."""

from __future__ import annotations

import math
import shlex
from pathlib import Path

import yaml

from .record import config_dict


def _count_params(model_args, tokenizer, task: str, num_labels: int = 2):
    """Parameters of the model the recipe would build, on the meta device (no weights loaded)."""
    import transformers
    from accelerate import init_empty_weights
    from transformers import AutoConfig

    from .models import build_config, tiny_seq2seq_config
    from .tasks import get_task

    auto_class = get_task(task).auto_class
    if auto_class == "AutoModelForSeq2SeqLM" and model_args.config_name == "tiny" and not model_args.model_name_or_path:
        # the recipe's built-in seq2seq model; its tokenizer is trained in the run, vocab_size bounds it
        config = tiny_seq2seq_config(tokenizer)
    elif model_args.config_name and not model_args.model_name_or_path:
        config = build_config(model_args, tokenizer)
    else:
        config = AutoConfig.from_pretrained(model_args.model_name_or_path, trust_remote_code=model_args.trust_remote_code)
    if auto_class == "AutoModelForSequenceClassification":
        config.num_labels = num_labels
    auto = getattr(transformers, auto_class or "AutoModel")
    with init_empty_weights():
        model = auto.from_config(config)
    model.tie_weights()  # on the meta device from_config leaves tied embeddings untied: they were counted twice
    return model, config


def _activation_bytes(config, batch: int, seq: int, half: bool) -> int:
    """Korthikanti et al. (2022): s·b·h·(34 + 5·a·s/h) bytes per layer with 16-bit activations."""
    h = config.hidden_size
    a = config.num_attention_heads
    layers = config.num_hidden_layers + (getattr(config, "decoder_layers", 0) if config.is_encoder_decoder else 0)
    per_layer = seq * batch * h * (34 + 5 * a * seq / h)
    return int(per_layer * layers * (1 if half else 2))


def plan(recipe: str, module, argv: list[str], num_processes: int = 1, accelerate_config: str | None = None) -> str:
    import datasets
    from transformers import AutoTokenizer

    datasets.disable_progress_bars()
    parsed = module.parse(argv)
    *configs, config_path = parsed
    model_args, data_args = configs[0], configs[1]
    training_args = configs[-1]
    if accelerate_config:
        acc = yaml.safe_load(Path(accelerate_config).read_text()) or {}
        num_processes = int(acc.get("num_processes", num_processes))  # the total across machines

    # rows the run would train on: each recipe knows its data (`plan_data`)
    info = module.plan_data(configs)
    rows, texts, languages = info["rows"], info["texts"], info["languages"]
    task, num_labels = info["task"], info.get("num_labels", 2)
    if data_args.max_train_samples:
        rows = min(rows, data_args.max_train_samples)

    # tokens per row: measured with the tokenizer when one exists, else ~4 characters per token
    tok_source = model_args.tokenizer_name or model_args.model_name_or_path
    tokenizer = None
    if tok_source:
        tokenizer = AutoTokenizer.from_pretrained(tok_source)
        lengths = [min(len(x), data_args.max_seq_length) for x in tokenizer(texts)["input_ids"]]
        tokens_per_row, how = sum(lengths) / max(len(lengths), 1), "measured with the tokenizer"
    else:
        tokens_per_row = min(sum(len(t) for t in texts) / max(len(texts), 1) / 4 + 2, data_args.max_seq_length)
        how = "estimated at 4 characters per token (the tokenizer is trained at run time)"

    world = max(num_processes, 1)
    effective = training_args.per_device_train_batch_size * training_args.gradient_accumulation_steps * world
    steps_per_epoch = math.ceil(rows / effective)
    steps = training_args.max_steps if training_args.max_steps > 0 else math.ceil(steps_per_epoch * training_args.num_train_epochs)
    tokens = int(steps * effective * tokens_per_row)

    # memory per device
    mem_lines = []
    try:
        if tokenizer is None:
            from .tokenization import SPECIAL_TOKENS

            class _Vocab:  # only the sizes matter for counting parameters
                pad_token_id, bos_token_id, eos_token_id = 1, 0, 2

                def __len__(self):
                    return model_args.vocab_size + len(SPECIAL_TOKENS)

            tokenizer = _Vocab()
        model, config = _count_params(model_args, tokenizer, task, num_labels)
        total = sum(p.numel() for p in model.parameters())
        lora = next((c for c in configs if hasattr(c, "use_lora")), None)
        if lora and lora.use_lora and model_args.model_name_or_path:
            from .models import lora_target_modules

            targets = set(lora.lora_target_modules or lora_target_modules(model))
            trainable = sum(lora.lora_r * (m.in_features + m.out_features) for name, m in model.named_modules()
                            if name.rsplit(".", 1)[-1] in targets and hasattr(m, "in_features"))
            head = getattr(model, "classifier", None) or getattr(model, "score", None)
            trainable += sum(p.numel() for p in head.parameters()) if head is not None else 0
        else:
            trainable = total
        half = bool(training_args.bf16 or training_args.fp16)
        weights = total * 4
        optim = trainable * (4 + 8)  # grads + Adam moments, fp32
        seq = data_args.max_seq_length if data_args.pad_to_max_length else int(tokens_per_row)
        acts = _activation_bytes(config, training_args.per_device_train_batch_size, max(seq, 1), half)
        if task == "mlm":  # the MLM head's logits over the vocabulary
            acts += training_args.per_device_train_batch_size * seq * config.vocab_size * 4 * 2
        peak = weights + optim + acts
        mem_lines = [
            f"parameters:        {total / 1e6:.2f}M ({trainable / 1e6:.2f}M trainable"
            f"{', LoRA adapters + head' if trainable != total else ''})",
            f"memory per device: ~{peak / 2**30:.2f} GiB (weights {weights / 2**30:.2f}, grads+Adam {optim / 2**30:.2f}, "
            f"activations {acts / 2**30:.2f} at batch {training_args.per_device_train_batch_size} × {seq} tokens)",
        ]
    except Exception as err:  # the estimate must never stop a plan
        mem_lines = [f"memory per device: unavailable ({type(err).__name__}: {err})"]

    launch = ["accelerate", "launch"]
    if accelerate_config:
        launch += ["--config_file", accelerate_config]
    elif world > 1:
        launch += ["--multi_gpu", "--num_processes", str(world)]
    launch += [f"recipes/{recipe}.py", *argv]
    resolved = config_dict(*configs)
    shown = {k: v for k, v in resolved.items() if v not in (None, [], {}, "")}
    lines = [
        f"recipe:            {recipe}",
        f"config file:       {config_path or '(none: defaults and command line)'}",
        f"languages:         {', '.join(languages)}",
        f"training rows:     {rows:,}",
        f"effective batch:   {effective} = {training_args.per_device_train_batch_size} per device × "
        f"{training_args.gradient_accumulation_steps} accumulation × {world} process(es)",
        f"optimizer steps:   {steps:,} ({steps_per_epoch:,} per epoch)",
        f"tokens:            ~{tokens:,} ({tokens_per_row:.1f} per row, {how})",
        *mem_lines,
        f"launch:            {shlex.join(launch)}",
        "",
        "resolved config:",
        yaml.safe_dump(shown, sort_keys=True, allow_unicode=True).rstrip(),
    ]
    return "\n".join(lines)
