"""Cross-lingual pretraining, XLM-R style: a Unigram tokenizer trained with language sampling,
then MLM on the monolingual corpus plus TLM on parallel pairs (both sides in one sequence,
masked together).

Tiny, on a CPU (minutes, offline, the bundled sample corpus):
    lingbridge train pretrain --config tiny
Two CPU processes (gloo DDP):
    lingbridge train pretrain --config tiny --num_processes 2 --max_steps 20
Continue xlm-roberta-base on your corpus, on GPUs:
    lingbridge train pretrain --config base --accelerate_config multi_gpu
Streamed, for corpora larger than memory (shard folders per language, Hub ids; packed; resumable mid-stream):
    lingbridge train pretrain --config small   # ../shared/datasets/parallel, 2 CPU cores
    lingbridge train pretrain --config small --streaming true \
        --stream_corpus en=/data/cc100/en/ de=/data/cc100/de/*.jsonl.gz zh=hub:allenai/c4:zh --max_steps 100000

The run directory it writes is a `model_name_or_path` for recipes/finetune_classification.py.
"""

from __future__ import annotations

from lingbridge.errors import UserError, exit_on_user_error
from lingbridge.tasks.mlm import PretrainArguments


def parse(argv=None):
    from transformers import TrainingArguments

    from lingbridge.config import CleaningArguments, DataArguments, ModelArguments, RunArguments, parse_config
    from lingbridge.data.clean_distributed import CleaningEngineArguments

    return parse_config((ModelArguments, DataArguments, CleaningArguments, PretrainArguments, RunArguments,
                         CleaningEngineArguments, TrainingArguments), argv)


def check(configs) -> None:
    """The checks that need no data (`lingbridge.runs.validate_recipe` runs them before launching; `main` again)."""
    from lingbridge.models import check_model_source
    from lingbridge.tasks.mlm import head_warmup_engine

    model_args, args, training_args = configs[0], configs[3], configs[6]
    check_model_source(model_args.model_name_or_path)
    check_model_source(model_args.tokenizer_name, "tokenizer_name")
    if args.config_overrides and model_args.model_name_or_path:
        raise UserError("config_overrides applies to from-scratch models (config_name), not to model_name_or_path")
    if 0 < training_args.max_steps <= args.head_warmup_steps:
        raise UserError(f"head_warmup_steps ({args.head_warmup_steps}) must be below max_steps "
                        f"({training_args.max_steps}), or the encoder never trains")
    if args.head_warmup_steps and (engine := head_warmup_engine(training_args)):
        raise UserError(f"head_warmup_steps cannot hold the encoder still under {engine}, which keeps gradients "
                        "outside the parameters; use DDP or FSDP2 (fsdp_version: 2), or head_warmup_steps 0")


def plan_data(configs) -> dict:
    """What `lingbridge plan` needs: training rows (after language sampling, plus TLM pairs) and sample texts."""
    from lingbridge.data import load_splits, sample_by_language
    from lingbridge.data.parallel import load_parallel

    model_args, data_args, _, args = configs[:4]
    if args.streaming:  # a stream has no row count: the steps set the rows
        from itertools import islice

        from lingbridge.tasks.mlm import StreamedCorpus

        training_args = configs[6]
        corpus = StreamedCorpus(data_args, args, training_args)
        rows = training_args.max_steps * training_args.per_device_train_batch_size * training_args.gradient_accumulation_steps
        return {"rows": rows, "texts": list(islice(corpus.tokenizer_texts(), 2000)), "languages": corpus.languages,
                "task": "mlm"}
    data_args.dataset_name = data_args.dataset_name or (None if data_args.train_file else "sample:corpus")
    dsd, _, languages = load_splits(data_args, {"text": data_args.text_column, "lang": data_args.lang_column})
    train, _ = sample_by_language(dsd["train"], args.sampling_alpha, num_rows=args.sampled_rows)
    rows = len(train)
    if args.tlm and args.parallel_dataset:
        rows += len(load_parallel(args.parallel_dataset, languages)[0]["train"])
    return {"rows": rows, "texts": train["text"][:2000], "languages": languages, "task": "mlm"}


@exit_on_user_error
def main(argv=None):
    model_args, data_args, clean_args, args, run_args, engine, training_args, config_path = parse(argv)

    from datasets import concatenate_datasets
    from transformers import set_seed

    from lingbridge.models import build_model
    from lingbridge.hub import push_finished_run
    from lingbridge.record import RunRecord, config_dict
    from lingbridge.retrieval import alignment_report, log_alignment
    from lingbridge.runs import finish_run, prepare_run, save_model, start_run
    from lingbridge.tasks.mlm import (TASK, has_language_tags, head_warmup, load_pretraining_corpus,
                                      perplexity_per_language, predict_masked_only, stream_position)
    from lingbridge.tokenization import fertility, load_or_train_tokenizer
    from lingbridge.training import build_trainer, logger, plot_loss_curves, setup_logging

    setup_logging(training_args)
    set_seed(training_args.seed)  # before any model is built: heads are initialised randomly
    check([model_args, data_args, clean_args, args, run_args, engine, training_args])
    run = start_run("pretrain", run_args, training_args)
    logger.info("config: %s", config_dict(model_args, data_args, args))

    # ---- data: in memory (load → clean → language sampling) or streamed (--streaming) ----------------
    corpus = load_pretraining_corpus(data_args, clean_args, args, training_args, engine)
    languages = corpus.languages
    prepare_run(run)  # the data is valid: now the run folder may exist
    corpus.clean_on_engine(run.work / "cleaning")  # datatrove: cleaned shards and stage logs in the run folder

    # ---- tokenizer: the model's own, or a Unigram trained on the language-sampled corpus (main process) ---
    tokenizer, tok_source = load_or_train_tokenizer(model_args, corpus.tokenizer_texts, languages,
                                                    data_args.max_seq_length, share_dir=run.work, show_progress=True)
    fert = fertility(tokenizer, corpus.fertility_texts())

    # ---- tokenise: MLM lines or packed blocks, TLM pairs ("<s> A </s></s> B </s>", masked together) ----
    max_len = min(data_args.max_seq_length, tokenizer.model_max_length)
    has_tags = args.language_tags and has_language_tags(tokenizer, languages)
    train_ds, evals, train_rows = corpus.datasets(tokenizer, max_len, has_tags)
    sampling = corpus.sampling
    logger.info("language sampling (alpha=%s): %s", args.sampling_alpha,
                {k: round(v["q"], 3) for k, v in (sampling.get("per_language") or sampling).items()})

    # ---- model, train (a stream resumes where its checkpoint stood), perplexity per language ----------
    model, init, _, params = build_model(TASK, model_args, tokenizer, max_seq_length=max_len,
                                         config_overrides=args.config_overrides)
    if args.sparse_prediction and not predict_masked_only(model):  # the same loss, a fraction of the head's work
        logger.info("sparse_prediction: %s's MLM head is not one it knows; every position is predicted", type(model).__name__)
    callbacks, checkpoint = [], run.last_checkpoint()
    if args.head_warmup_steps:
        callbacks.append(head_warmup(args.head_warmup_steps, args.head_warmup_learning_rate))
    if corpus.stream is not None:
        from lingbridge.data.streaming import stream_state_callback

        callbacks.append(stream_state_callback(corpus.stream))
        if checkpoint and corpus.stream.load(checkpoint):
            training_args.ignore_data_skip = True  # the stream is already there: no re-reading
    trainer = build_trainer(model, training_args, callbacks=callbacks, train_dataset=train_ds,
                            eval_dataset=concatenate_datasets(list(evals.values())),
                            data_collator=TASK.collator(tokenizer, args.mlm_probability), processing_class=tokenizer)
    result = trainer.train(resume_from_checkpoint=checkpoint) if run.do_train else None  # --do_train false: evaluate only
    per_language = perplexity_per_language(trainer, evals, languages, training_args.seed)
    # how well the encoder aligns languages, no training: retrieval xx → en on held-out pairs (and Tatoeba)
    alignment = None
    if trainer.is_world_process_zero():
        alignment = alignment_report(trainer.model, tokenizer, corpus.held_out_pairs(), languages, max_length=max_len)
        log_alignment(alignment)

    # ---- run directory -----------------------------------------------------------------------------
    save_model(run, trainer.model, tokenizer)
    position = None
    if trainer.is_world_process_zero():
        plot_loss_curves(trainer.state.log_history, run.work / "loss.png", "Pretraining loss (MLM + TLM)")
        position = stream_position(corpus.stream, training_args, trainer.state.global_step, run.work)
    tlm = bool(train_rows.get("tlm") or train_rows.get("tlm_ratio"))
    record = RunRecord(
        job="pretrain", task=TASK.pipeline_tag, pipeline_tag=TASK.pipeline_tag, languages=languages,
        config=config_dict(model_args, data_args, clean_args, args, run_args, engine, training_args), config_file=config_path,
        eval_split="validation" if corpus.stream is None else f"first {args.eval_rows} rows of each stream",
        init=init, base_model=model_args.model_name_or_path, parameters=params,
        data_sources=corpus.sources, cleaning=corpus.cleaning, metrics={"per_language": per_language, "retrieval": alignment},
        summary=f"An XLM-R-architecture masked language model ({params['total'] / 1e6:.1f}M parameters) "
                f"pretrained with MLM{' + TLM' if tlm else ''} on {', '.join(languages)}.",
        extra={"parallel_cleaning": corpus.pair_cleaning, "streaming": args.streaming, "stream_position": position,
               "language_sampling": sampling if args.streaming else {"alpha": args.sampling_alpha, "per_language": sampling},
               "tokenizer": {"trained": not tok_source, "vocab_size": len(tokenizer), "fertility": fert,
                             "language_tags": has_tags, "rows": args.tokenizer_rows if args.streaming else None},
               "train_rows": train_rows,
               "throughput": {"train_samples_per_second": result.metrics.get("train_samples_per_second"),
                              "tokens_seen": trainer.state.num_input_tokens_seen or 0}},
    )
    finish_run(run, record, run_args.keep_checkpoints, trainer, result)
    return push_finished_run(run)  # --push_to_hub: the finished run, as `lingbridge publish` does


if __name__ == "__main__":
    main()
