"""Cross-lingual pretraining, XLM-R style: a Unigram tokenizer trained with language sampling,
then MLM on the monolingual corpus plus TLM on parallel pairs (both sides in one sequence,
masked together).

Tiny, on a CPU (minutes, offline, the bundled sample corpus):
    accelerate launch recipes/pretrain.py --config recipes/configs/pretrain/tiny.yaml
Two CPU processes (gloo DDP):
    accelerate launch --config_file recipes/accelerate/cpu_ddp.yaml recipes/pretrain.py \
        --config recipes/configs/pretrain/tiny.yaml --max_steps 20
Continue xlm-roberta-base on your corpus, on GPUs:
    accelerate launch --config_file recipes/accelerate/multi_gpu.yaml recipes/pretrain.py \
        --config recipes/configs/pretrain/base.yaml

The run directory it writes is a `model_name_or_path` for recipes/finetune_classification.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from lingbridge.errors import exit_on_user_error


@dataclass
class PretrainArguments:
    parallel_dataset: str | None = field(
        default="sample:parallel",
        metadata={"help": "Parallel pairs for TLM: 'sample:parallel', a tsv/jsonl file with src_lang, tgt_lang, src, tgt, or none."},
    )
    tlm: bool = field(default=True, metadata={"help": "Add translation language modelling on the parallel pairs."})
    sampling_alpha: float = field(default=0.3, metadata={"help": "XLM-R language sampling exponent: q_i ∝ p_i^α (1 = natural, 0 = uniform)."})
    sampled_rows: int | None = field(default=None, metadata={"help": "Monolingual rows per epoch after language sampling (default: corpus size)."})
    mlm_probability: float = field(default=0.15, metadata={"help": "Share of tokens masked, as in BERT/XLM-R."})
    language_tags: bool = field(default=True, metadata={"help": "Prefix each side of a TLM pair with its <lang_xx> token."})
    pack_sequences: bool = field(
        default=False,
        metadata={"help": "Concatenate monolingual lines into full max_seq_length blocks (run_mlm's group_texts): "
                          "no padding, far better GPU use; per-language evaluation stays line by line."})

    def __post_init__(self):
        from lingbridge.errors import UserError

        if not 0 < self.mlm_probability < 1:
            raise UserError(f"mlm_probability must be in (0, 1), got {self.mlm_probability}")
        if not 0 <= self.sampling_alpha <= 1:
            raise UserError(f"sampling_alpha must be in [0, 1], got {self.sampling_alpha}")
        if self.parallel_dataset in ("none", "None", ""):
            self.parallel_dataset = None


def parse(argv=None):
    from transformers import TrainingArguments

    from lingbridge.config import CleaningArguments, DataArguments, ModelArguments, RunArguments, parse_config

    return parse_config((ModelArguments, DataArguments, CleaningArguments, PretrainArguments, RunArguments,
                         TrainingArguments), argv)


def pack_blocks(ds, block: int, num_proc=None):
    """Concatenate tokenised lines and cut them into blocks of `block` tokens (the remainder is dropped)."""

    def group(batch):
        ids = [t for seq in batch["input_ids"] for t in seq]
        n = len(ids) // block * block
        blocks = [ids[i : i + block] for i in range(0, n, block)]
        return {"input_ids": blocks, "attention_mask": [[1] * block for _ in blocks]}

    return ds.map(group, batched=True, batch_size=1000, num_proc=num_proc, remove_columns=ds.column_names,
                  desc=f"Packing into blocks of {block}")


def plan_data(configs) -> dict:
    """What `lingbridge plan` needs: training rows (after language sampling, plus TLM pairs) and sample texts."""
    from lingbridge.data import load_splits, sample_by_language
    from lingbridge.data.parallel import load_parallel

    model_args, data_args, _, args = configs[:4]
    data_args.dataset_name = data_args.dataset_name or (None if data_args.train_file else "sample:corpus")
    dsd, _, languages = load_splits(data_args, {"text": data_args.text_column, "lang": data_args.lang_column})
    train, _ = sample_by_language(dsd["train"], args.sampling_alpha, num_rows=args.sampled_rows)
    rows = len(train)
    if args.tlm and args.parallel_dataset:
        rows += len(load_parallel(args.parallel_dataset, languages)[0]["train"])
    return {"rows": rows, "texts": train["text"][:2000], "languages": languages, "task": "pretrain"}


@exit_on_user_error
def main(argv=None):
    model_args, data_args, clean_args, args, run_args, training_args, config_path = parse(argv)

    # ---- set-up (every check above has passed; now the process group and run folder) ----------
    import torch
    from transformers import set_seed
    from transformers import AutoModelForMaskedLM, AutoTokenizer, DataCollatorForLanguageModeling, Trainer

    from lingbridge.data import clean_splits, load_splits, sample_by_language
    from lingbridge.data.load import limit
    from lingbridge.data.parallel import load_parallel
    from lingbridge.models import build_config, check_model_source, count_parameters, load_pretrained
    from lingbridge.runs import config_dict
    from lingbridge.tokenization import fertility, language_tag, train_unigram_tokenizer
    from lingbridge.training import (RankParticipation, finish_run, logger, loss_summary, plot_loss_curves,
                                     prepare_run, setup_logging, start_run, skip_unit_loss_division, use_mean_loss)

    setup_logging(training_args)
    set_seed(training_args.seed)  # before any model is built: heads are initialised randomly
    check_model_source(model_args.model_name_or_path)
    check_model_source(model_args.tokenizer_name, "tokenizer_name")
    run = start_run("pretrain", run_args, training_args)
    logger.info("config: %s", config_dict(model_args, data_args, args))

    # ---- data: load → clean → language sampling -------------------------------------------------
    data_args.dataset_name = data_args.dataset_name or (None if data_args.train_file else "sample:corpus")
    with training_args.main_process_first(desc="load and clean the corpus"):
        corpus, sources, languages = load_splits(data_args, {"text": data_args.text_column, "lang": data_args.lang_column})
        corpus, cleaning = clean_splits(corpus, clean_args)
        pairs, pair_cleaning = None, None
        if args.tlm and args.parallel_dataset:
            pairs, pair_source = load_parallel(args.parallel_dataset, languages)
            pairs, pair_cleaning = clean_splits(pairs, clean_args, text_columns=("src", "tgt"))
            sources.append(pair_source)
    train_mono, sampling = sample_by_language(corpus["train"], args.sampling_alpha, num_rows=args.sampled_rows,
                                              seed=training_args.seed)
    train_mono = limit(train_mono, data_args.max_train_samples)
    logger.info("language sampling (alpha=%s): %s", args.sampling_alpha,
                {k: round(v["q"], 3) for k, v in sampling.items()})

    prepare_run(run)  # the data is valid: now the run folder may exist

    # ---- tokenizer: the model's own, or a Unigram trained on the sampled corpus ------------------
    tok_source = model_args.tokenizer_name or model_args.model_name_or_path
    with training_args.main_process_first(desc="tokenizer"):
        if tok_source:
            tokenizer = AutoTokenizer.from_pretrained(tok_source, trust_remote_code=model_args.trust_remote_code)
        elif training_args.process_index == 0:
            tokenizer = train_unigram_tokenizer(train_mono["text"], model_args.vocab_size, languages,
                                                model_max_length=data_args.max_seq_length)
            tokenizer.save_pretrained(run.work)
        else:
            tokenizer = AutoTokenizer.from_pretrained(run.work)
    val_texts = {lang: corpus["validation"].filter(lambda b: [x == lang for x in b["lang"]], batched=True)["text"]
                 for lang in languages}
    fert = fertility(tokenizer, val_texts)

    # ---- tokenise: MLM lines, TLM pairs ("<s> A </s></s> B </s>", masked together) ---------------
    max_len = min(data_args.max_seq_length, tokenizer.model_max_length)
    has_tags = all(language_tag(lang) in tokenizer.get_vocab() for lang in languages) and args.language_tags

    def encode_mono(batch):
        return tokenizer(batch["text"], truncation=True, max_length=max_len)

    def encode_pairs(batch, indices):
        a, b = batch["src"], batch["tgt"]
        if has_tags:
            a = [f"{language_tag(la)} {t}" for la, t in zip(batch["src_lang"], a)]
            b = [f"{language_tag(lb)} {t}" for lb, t in zip(batch["tgt_lang"], b)]
        # both orders, so that neither language always comes first
        first = [x if i % 2 == 0 else y for i, x, y in zip(indices, a, b)]
        second = [y if i % 2 == 0 else x for i, x, y in zip(indices, a, b)]
        enc = tokenizer(first, second, truncation=True, max_length=max_len)
        enc["lang"] = [f"{s}-{t}" for s, t in zip(batch["src_lang"], batch["tgt_lang"])]
        return enc

    num_proc = data_args.preprocessing_num_workers
    with training_args.main_process_first(desc="tokenise"):
        train_parts = [train_mono.map(encode_mono, batched=True, num_proc=num_proc,
                                      remove_columns=[c for c in train_mono.column_names if c != "lang"],
                                      desc="Tokenising MLM")]
        evals = {lang: limit(corpus["validation"].filter(lambda b, lang=lang: [x == lang for x in b["lang"]], batched=True),
                             data_args.max_eval_samples) for lang in languages}
        evals = {lang: ds.map(encode_mono, batched=True, remove_columns=ds.column_names) for lang, ds in evals.items() if len(ds)}
        if pairs is not None:
            cols = pairs["train"].column_names
            train_parts.append(limit(pairs["train"], data_args.max_train_samples).map(
                encode_pairs, batched=True, with_indices=True, num_proc=num_proc, remove_columns=cols, desc="Tokenising TLM"))
            tlm_eval = limit(pairs["validation"], data_args.max_eval_samples)
            evals["tlm"] = tlm_eval.map(encode_pairs, batched=True, with_indices=True, remove_columns=cols)
    from datasets import concatenate_datasets

    train_parts = [part.remove_columns("lang") for part in train_parts]
    if args.pack_sequences:
        with training_args.main_process_first(desc="pack"):
            train_parts[0] = pack_blocks(train_parts[0], max_len, num_proc)
    train_ds = concatenate_datasets(train_parts)
    evals = {k: v.remove_columns([c for c in v.column_names if c == "lang"]) for k, v in evals.items()}

    # ---- model -----------------------------------------------------------------------------------
    if model_args.model_name_or_path:
        model, _ = load_pretrained(AutoModelForMaskedLM, model_args)
        if model.get_input_embeddings().num_embeddings < len(tokenizer):
            model.resize_token_embeddings(len(tokenizer))
        init = model_args.model_name_or_path
    else:
        config = build_config(model_args, tokenizer, max_position_embeddings=max_len + 2 + 1)
        model = AutoModelForMaskedLM.from_config(config)
        init = f"random ({model_args.config_name} config)"
    params = count_parameters(model)
    logger.info("model: %s, %.2fM parameters", init, params["total"] / 1e6)

    collator = DataCollatorForLanguageModeling(
        tokenizer, mlm_probability=args.mlm_probability,
        pad_to_multiple_of=8 if torch.cuda.is_available() else None,  # tensor-core friendly shapes
    )
    ranks = RankParticipation()
    trainer = Trainer(model=use_mean_loss(model), args=training_args, train_dataset=train_ds,
                      eval_dataset=concatenate_datasets(list(evals.values())), data_collator=collator,
                      processing_class=tokenizer, callbacks=[ranks])
    skip_unit_loss_division(trainer)
    result = trainer.train(resume_from_checkpoint=run.last_checkpoint())

    # ---- evaluate per language (fixed masking seed so runs compare) ------------------------------
    per_language = {}
    for lang, ds in evals.items():
        torch.manual_seed(training_args.seed)
        m = trainer.evaluate(eval_dataset=ds, metric_key_prefix="eval")
        per_language[lang] = {"loss": m["eval_loss"], "perplexity": math.exp(min(m["eval_loss"], 50)), "n": len(ds)}
    mono = [lang for lang in languages if lang in per_language]
    if mono:
        mean_loss = sum(per_language[lang]["loss"] for lang in mono) / len(mono)
        per_language["all"] = {"loss": mean_loss, "perplexity": math.exp(min(mean_loss, 50)),
                               "n": sum(per_language[lang]["n"] for lang in mono)}

    # ---- run directory -----------------------------------------------------------------------------
    train_metrics = dict(result.metrics)
    tokens = trainer.state.num_input_tokens_seen or 0
    if trainer.is_world_process_zero():
        trainer.save_model(run.work)
        tokenizer.save_pretrained(run.work)
        plot_loss_curves(trainer.state.log_history, run.work / "loss.png", "Pretraining loss (MLM + TLM)")
    record = {
        "job": "pretrain", "task": "fill-mask", "eval_split": "validation", "pipeline_tag": "fill-mask",
        "languages": languages, "config_file": config_path,
        "config": config_dict(model_args, data_args, clean_args, args, run_args, training_args),
        "init": init, "base_model": model_args.model_name_or_path, "parameters": params,
        "data_sources": sources, "cleaning": cleaning, "parallel_cleaning": pair_cleaning,
        "language_sampling": {"alpha": args.sampling_alpha, "per_language": sampling},
        "tokenizer": {"trained": not tok_source, "vocab_size": len(tokenizer), "fertility": fert,
                      "language_tags": has_tags},
        "train_rows": {"mlm": len(train_parts[0]), "tlm": len(train_parts[1]) if len(train_parts) > 1 else 0},
        "metrics": {"train": train_metrics, "per_language": per_language, **loss_summary(trainer.state.log_history)},
        "throughput": {"train_samples_per_second": train_metrics.get("train_samples_per_second"),
                       "tokens_seen": tokens},
        "world_size": training_args.world_size, "ranks": ranks.per_rank,
        "summary": f"An XLM-R-architecture masked language model ({params['total'] / 1e6:.1f}M parameters) "
                   f"pretrained with MLM{' + TLM' if len(train_parts) > 1 else ''} on {', '.join(languages)}.",
    }
    finish_run(run, record, run_args.keep_checkpoints)
    return run.path


if __name__ == "__main__":
    main()
