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

from lingbridge.errors import exit_on_user_error
from lingbridge.tasks.mlm import PretrainArguments


def parse(argv=None):
    from transformers import TrainingArguments

    from lingbridge.config import CleaningArguments, DataArguments, ModelArguments, RunArguments, parse_config

    return parse_config((ModelArguments, DataArguments, CleaningArguments, PretrainArguments, RunArguments,
                         TrainingArguments), argv)


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
    return {"rows": rows, "texts": train["text"][:2000], "languages": languages, "task": "mlm"}


@exit_on_user_error
def main(argv=None):
    model_args, data_args, clean_args, args, run_args, training_args, config_path = parse(argv)

    from datasets import concatenate_datasets
    from transformers import set_seed

    from lingbridge.data import clean_splits, load_splits, sample_by_language
    from lingbridge.data.load import filter_languages, limit
    from lingbridge.data.parallel import load_parallel
    from lingbridge.models import build_model, check_model_source
    from lingbridge.record import RunRecord, config_dict
    from lingbridge.runs import finish_run, prepare_run, save_model, start_run
    from lingbridge.tasks.mlm import TASK, encode_pairs, has_language_tags, pack_blocks, perplexity_per_language
    from lingbridge.tokenization import fertility, load_or_train_tokenizer
    from lingbridge.training import build_trainer, logger, plot_loss_curves, setup_logging

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

    # ---- tokenizer: the model's own, or a Unigram trained on the sampled corpus (main process, shared) ---
    tokenizer, tok_source = load_or_train_tokenizer(model_args, lambda: train_mono["text"], languages,
                                                    data_args.max_seq_length, share_dir=run.work, show_progress=True)
    by_lang = {lang: filter_languages({"v": corpus["validation"]}, [lang])["v"] for lang in languages}
    fert = fertility(tokenizer, {lang: ds["text"] for lang, ds in by_lang.items()})

    # ---- tokenise: MLM lines, TLM pairs ("<s> A </s></s> B </s>", masked together) ---------------
    max_len = min(data_args.max_seq_length, tokenizer.model_max_length)
    has_tags = args.language_tags and has_language_tags(tokenizer, languages)
    encode_mono, num_proc = TASK.preprocess(tokenizer, max_len), data_args.preprocessing_num_workers
    with training_args.main_process_first(desc="tokenise"):
        parts = [train_mono.map(encode_mono, batched=True, num_proc=num_proc, remove_columns=train_mono.column_names,
                                desc="Tokenising MLM")]
        evals = {lang: limit(ds, data_args.max_eval_samples) for lang, ds in by_lang.items()}
        evals = {lang: ds.map(encode_mono, batched=True, remove_columns=ds.column_names) for lang, ds in evals.items() if len(ds)}
        if pairs is not None:
            encode = encode_pairs(tokenizer, max_len, has_tags)
            cols = pairs["train"].column_names
            parts.append(limit(pairs["train"], data_args.max_train_samples).map(
                encode, batched=True, with_indices=True, num_proc=num_proc, remove_columns=cols,
                desc="Tokenising TLM").remove_columns("lang"))
            evals["tlm"] = limit(pairs["validation"], data_args.max_eval_samples).map(
                encode, batched=True, with_indices=True, remove_columns=cols).remove_columns("lang")
        if args.pack_sequences:
            parts[0] = pack_blocks(parts[0], max_len, num_proc)
    train_ds = concatenate_datasets(parts)

    # ---- model, train, perplexity per language ----------------------------------------------------
    model, init, _, params = build_model(TASK, model_args, tokenizer, max_seq_length=max_len)
    trainer = build_trainer(model, training_args, train_dataset=train_ds,
                            eval_dataset=concatenate_datasets(list(evals.values())),
                            data_collator=TASK.collator(tokenizer, args.mlm_probability), processing_class=tokenizer)
    result = trainer.train(resume_from_checkpoint=run.last_checkpoint())
    per_language = perplexity_per_language(trainer, evals, languages, training_args.seed)

    # ---- run directory -----------------------------------------------------------------------------
    save_model(run, trainer.model, tokenizer)
    if trainer.is_world_process_zero():
        plot_loss_curves(trainer.state.log_history, run.work / "loss.png", "Pretraining loss (MLM + TLM)")
    record = RunRecord(
        job="pretrain", task=TASK.pipeline_tag, pipeline_tag=TASK.pipeline_tag, languages=languages,
        config=config_dict(model_args, data_args, clean_args, args, run_args, training_args), config_file=config_path,
        eval_split="validation", init=init, base_model=model_args.model_name_or_path, parameters=params,
        data_sources=sources, cleaning=cleaning, metrics={"per_language": per_language},
        summary=f"An XLM-R-architecture masked language model ({params['total'] / 1e6:.1f}M parameters) "
                f"pretrained with MLM{' + TLM' if len(parts) > 1 else ''} on {', '.join(languages)}.",
        extra={"parallel_cleaning": pair_cleaning, "language_sampling": {"alpha": args.sampling_alpha, "per_language": sampling},
               "tokenizer": {"trained": not tok_source, "vocab_size": len(tokenizer), "fertility": fert,
                             "language_tags": has_tags},
               "train_rows": {"mlm": len(parts[0]), "tlm": len(parts[1]) if len(parts) > 1 else 0},
               "throughput": {"train_samples_per_second": result.metrics.get("train_samples_per_second"),
                              "tokens_seen": trainer.state.num_input_tokens_seen or 0}},
    )
    finish_run(run, record, run_args.keep_checkpoints, trainer, result)
    return run.path


if __name__ == "__main__":
    main()
