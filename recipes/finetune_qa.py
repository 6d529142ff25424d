"""Extractive question answering (SQuAD v1.1/v2.0, XQuAD, MLQA, TyDi QA GoldP) with LoRA, EM/F1 per
language and zero-shot cross-lingual transfer: train on `train_languages`, evaluate on every language.

Tiny, on a CPU (the bundled en/de/zh SQuAD v2.0-style sample; start from a pretrain run directory):
    lingbridge train finetune_qa --config tiny \
        --model_name_or_path runs/pretrain-<timestamp>
Your SQuAD JSON files, zero-shot on XQuAD's languages (language from each file name):
    lingbridge train finetune_qa --config tiny \
        --model_name_or_path runs/pretrain-<timestamp> --train_file train-v1.1.json --eval_files xquad.*.json
Two CPU processes (gloo DDP):
    lingbridge train finetune_qa --config tiny --num_processes 2 \
        --model_name_or_path runs/pretrain-<timestamp> --max_steps 10
xlm-roberta-base on SQuAD v1.1 from the Hub, zero-shot on XQuAD, on GPUs:
    lingbridge train finetune_qa --config base --accelerate_config multi_gpu
"""

from __future__ import annotations

from lingbridge.errors import UserError, exit_on_user_error
from lingbridge.tasks.qa import QAArguments


def parse(argv=None):
    from transformers import TrainingArguments

    from lingbridge.config import DataArguments, LoraArguments, ModelArguments, RunArguments, parse_config

    parsed = parse_config((ModelArguments, DataArguments, QAArguments, LoraArguments, RunArguments, TrainingArguments), argv)
    data_args, args = parsed[1], parsed[2]
    if args.doc_stride >= data_args.max_seq_length:
        raise UserError(f"doc_stride ({args.doc_stride}) must be smaller than max_seq_length ({data_args.max_seq_length})")
    return parsed


def check(configs) -> None:
    """The checks that need no data (`lingbridge.runs.validate_recipe` runs them before launching)."""
    from lingbridge.models import check_model_source

    model_args = configs[0]
    check_model_source(model_args.model_name_or_path)
    check_model_source(model_args.tokenizer_name, "tokenizer_name")
    if not (model_args.config_name or model_args.model_name_or_path):
        raise UserError("give model_name_or_path (a checkpoint or pretrain run directory) or config_name")


def plan_data(configs) -> dict:
    """What `lingbridge plan` needs: training questions in the training languages and sample texts."""
    from lingbridge.data.load import filter_languages
    from lingbridge.data.load import load_qa_splits

    data_args, args = configs[1], configs[2]
    dsd, _, languages, _ = load_qa_splits(data_args, args)
    train = filter_languages({"t": dsd["train"]}, args.train_languages)["t"]
    texts = [f"{q} {c}" for q, c in zip(list(train["question"])[:2000], list(train["context"])[:2000])]
    return {"rows": len(train), "texts": texts, "languages": languages, "task": "qa"}


@exit_on_user_error
def main(argv=None):
    model_args, data_args, args, lora_args, run_args, training_args, config_path = parse(argv)

    import time

    import numpy as np
    from transformers import set_seed

    from lingbridge.data.load import zero_shot_splits
    from lingbridge.data.load import load_qa_splits
    from lingbridge.evaluation import format_table, per_language, transfer_table
    from lingbridge.hub import push_finished_run
    from lingbridge.models import build_model, fit_max_length
    from lingbridge.record import RunRecord, config_dict
    from lingbridge.runs import finish_run, prepare_run, save_model, start_run
    from lingbridge.tasks.qa import (TASK, best_null_threshold, predict_spans, qa_metrics, score_rows, squad_version,
                                     window_splits, write_predictions)
    from lingbridge.tokenization import load_or_train_tokenizer
    from lingbridge.training import build_trainer, logger, plot_loss_curves, setup_logging

    setup_logging(training_args)
    set_seed(training_args.seed)  # before any model is built: the QA head is initialised randomly
    check((model_args, data_args, args))
    run = start_run("finetune_qa", run_args, training_args)

    # ---- data: load → check spans → train / dev / test by language -------------------------------------
    with training_args.main_process_first(desc="load"):
        dsd, sources, languages, spans = load_qa_splits(data_args, args, cache_dir=model_args.cache_dir,
                                                        seed=training_args.seed)
    source_langs = args.train_languages or [lang for lang in languages if lang in set(dsd["train"]["lang"])]
    missing = [lang for lang in source_langs if lang not in languages]
    if missing:
        raise UserError(f"train_languages {missing} are not in the data (it has: {', '.join(languages)})")
    select_langs = source_langs if args.selection_languages == "source" else languages
    train, dev, test, _ = zero_shot_splits(dsd, source_langs, select_langs, data_args, eval_split="test")
    v2 = squad_version(train, test, args.version_2_with_negative)
    logger.info("train %d questions (%s), dev %d (%s), test %d (%s); SQuAD %s", len(train), ",".join(source_langs),
                len(dev), ",".join(select_langs), len(test), ",".join(languages), "v2.0" if v2 else "v1.1")

    # ---- tokenizer, model (+ LoRA), windows ---------------------------------------------------------------
    tokenizer, tok_source = load_or_train_tokenizer(
        model_args, lambda: list(dict.fromkeys(train["context"])) + list(train["question"]), languages,
        data_args.max_seq_length)
    if not getattr(tokenizer, "is_fast", False):
        raise UserError(f"tokenizer {tok_source} is not a fast tokenizer; QA needs its offset mapping")
    model, init, lora, params = build_model(TASK, model_args, tokenizer, lora_args, data_args.max_seq_length)
    max_len = fit_max_length(data_args.max_seq_length, tokenizer, model.config)
    if args.doc_stride >= max_len:
        raise UserError(f"doc_stride ({args.doc_stride}) must be smaller than the window ({max_len} tokens)")
    tune = v2 and args.tune_null_threshold and len(dev) > 0
    with training_args.main_process_first(desc="tokenise"):
        feats = window_splits(train, dev, test, tokenizer, max_len, args.doc_stride, data_args.pad_to_max_length,
                              data_args.preprocessing_num_workers, spans_for_dev=tune,
                              max_query_length=args.max_query_length)
    logger.info("windows: train %d, dev %d, test %d", len(feats["train"]), len(feats["dev"]), len(feats["test"]))
    if not len(feats["dev"]) and (training_args.eval_strategy != "no" or training_args.load_best_model_at_end):
        raise UserError(f"no dev questions in {', '.join(select_langs)} for eval_strategy/load_best_model_at_end; "
                        "give a validation split, set validation_split_percentage above 0, or --eval_strategy no "
                        "--load_best_model_at_end false")

    prepare_run(run)  # the data is valid: now the run folder may exist

    # ---- train; spans per question (null threshold tuned on dev), EM/F1 per language ---------------------
    trainer = build_trainer(model, training_args, train_dataset=feats["train"],
                            eval_dataset=feats["dev"] if len(feats["dev"]) else None,
                            data_collator=TASK.collator(tokenizer, data_args.pad_to_max_length), processing_class=tokenizer)
    result, dev_metrics = run.train(trainer), run.evaluate(trainer)  # as --do_train / --do_eval say
    threshold = args.null_score_diff_threshold
    if tune:
        dev_preds, _ = predict_spans(trainer, dev, feats["dev_spans"], args, v2, float("inf"))
        threshold = best_null_threshold(dev_preds, [list(a["text"]) for a in dev["answers"]], list(dev["lang"]))
        logger.info("null_score_diff_threshold tuned on dev: %.4f", threshold)
    t0 = time.perf_counter()
    preds, post_s = predict_spans(trainer, test, feats["test"], args, v2, threshold)
    t2 = time.perf_counter()
    golds, langs = [list(a["text"]) for a in test["answers"]], np.array(test["lang"])
    em, f1 = score_rows([p["text"] for p in preds], golds, langs)
    table = per_language(qa_metrics, langs, em, f1, np.array([bool(g) for g in golds]))
    timing = {"predict_s": t2 - t0 - post_s, "postprocess_s": post_s, "metric_s": time.perf_counter() - t2}
    transfer = transfer_table(table, source_langs, ["exact_match", "f1"])
    logger.info("test per language (EM/F1 %%):\n%s", format_table(table, [c for c in table["all"] if c != "n"] + ["n"]))

    # ---- run directory --------------------------------------------------------------------------------------
    save_model(run, trainer.model, tokenizer, lora_args.merge_lora)
    if trainer.is_world_process_zero():
        write_predictions(run.work / "predictions.json", test, preds, em, f1, v2)
        plot_loss_curves(trainer.state.log_history, run.work / "loss.png", "Finetuning loss (QA)")
    record = RunRecord(
        job="finetune_qa", task=TASK.pipeline_tag, pipeline_tag=TASK.pipeline_tag, languages=languages,
        config=config_dict(model_args, data_args, args, lora_args, run_args, training_args), config_file=config_path,
        eval_split="test", init=init, base_model=model_args.model_name_or_path, parameters=params,
        data_sources=sources, lora=lora,
        metrics={"dev": dev_metrics, "per_language": table, "transfer": transfer},
        example_input={"question": test[0]["question"], "context": test[0]["context"]} if len(test) else {},
        summary=f"Extractive question answering (SQuAD {'v2.0' if v2 else 'v1.1'}) finetuned from {init}"
                f"{' with LoRA' if lora else ''} on {', '.join(source_langs)}; evaluated on {', '.join(languages)}.",
        extra={"train_languages": source_langs, "selection_languages": select_langs,
               "squad_version": "v2.0" if v2 else "v1.1",
               "null_score_diff_threshold": {"used": threshold, "tuned_on_dev": bool(tune)} if v2 else None,
               "tokenizer_source": tok_source or "trained on the training split", "answer_spans": spans,
               "rows": {"train": len(train), "dev": len(dev), "test": len(test)},
               "windows": {s: len(feats[s]) for s in ("train", "dev", "test")}, "timing": timing},
    )
    finish_run(run, record, run_args.keep_checkpoints, trainer, result)
    return push_finished_run(run)  # --push_to_hub: the finished run, as `lingbridge publish` does


if __name__ == "__main__":
    main()
