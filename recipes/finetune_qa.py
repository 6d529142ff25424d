"""Extractive question answering (SQuAD v1.1/v2.0, XQuAD, MLQA, TyDi QA GoldP) with LoRA, EM/F1 per
language and zero-shot cross-lingual transfer: train on `train_languages`, evaluate on every language.

Tiny, on a CPU (the bundled en/de/zh SQuAD v2.0-style sample; start from a pretrain run directory):
    accelerate launch recipes/finetune_qa.py --config recipes/configs/finetune_qa/tiny.yaml \
        --model_name_or_path runs/pretrain-<timestamp>
Your SQuAD JSON files, zero-shot on XQuAD's languages (language from each file name):
    accelerate launch recipes/finetune_qa.py --config recipes/configs/finetune_qa/tiny.yaml \
        --model_name_or_path runs/pretrain-<timestamp> --train_file train-v1.1.json --eval_files xquad.*.json
Two CPU processes (gloo DDP):
    accelerate launch --config_file recipes/accelerate/cpu_ddp.yaml recipes/finetune_qa.py \
        --config recipes/configs/finetune_qa/tiny.yaml --model_name_or_path runs/pretrain-<timestamp> --max_steps 10
xlm-roberta-base on SQuAD v1.1 from the Hub, zero-shot on XQuAD, on GPUs:
    accelerate launch --config_file recipes/accelerate/multi_gpu.yaml recipes/finetune_qa.py \
        --config recipes/configs/finetune_qa/base.yaml
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from lingbridge.errors import UserError, exit_on_user_error
from lingbridge.recipes.finetune_classification import LoraArguments


@dataclass
class QAArguments:
    question_column: str = field(default="question", metadata={"help": "Column holding the question (flat data)."})
    context_column: str = field(default="context", metadata={"help": "Column holding the context (flat data)."})
    answer_column: str = field(default="answers", metadata={"help": "Column holding SQuAD-style answers {text, answer_start}."})
    id_column: str = field(default="id", metadata={"help": "Column holding the question id (flat data)."})
    eval_files: list[str] | None = field(
        default=None, metadata={"help": "Extra SQuAD JSON files to evaluate on, each one language (from the file name, e.g. xquad.de.json)."})
    eval_datasets: list[str] | None = field(
        default=None, metadata={"help": "Extra Hub datasets to evaluate on, as id:config (e.g. google/xquad:xquad.de); language from the config."})
    version_2_with_negative: bool | None = field(
        default=None, metadata={"help": "Some questions have no answer (SQuAD v2.0); default: detected from the data."})
    null_score_diff_threshold: float = field(
        default=0.0, metadata={"help": "v2.0: answer '' when null score − best span score exceeds this."})
    tune_null_threshold: bool = field(
        default=True, metadata={"help": "v2.0: replace null_score_diff_threshold by the one that maximises dev F1 "
                                         "(the SQuAD v2.0 script's best_f1_thresh)."})
    doc_stride: int = field(default=128, metadata={"help": "Tokens of overlap between the windows of a long context."})
    n_best_size: int = field(default=20, metadata={"help": "Best start and end logits combined into candidate spans."})
    max_answer_length: int = field(default=30, metadata={"help": "Longest answer, in tokens."})
    train_languages: list[str] | None = field(
        default=None, metadata={"help": "Train on these languages only; the others are evaluated zero-shot (default: all)."})
    selection_languages: str = field(
        default="source", metadata={"help": "Dev set for model selection: 'source' (train languages: the honest zero-shot setting) or 'all'."})

    def __post_init__(self):
        from lingbridge.languages import check_languages

        if self.train_languages:
            check_languages(self.train_languages, "train_languages")
        if self.selection_languages not in ("source", "all"):
            raise UserError(f"selection_languages must be 'source' or 'all', got '{self.selection_languages}'")
        for name in ("doc_stride", "n_best_size", "max_answer_length"):
            if getattr(self, name) < 1:
                raise UserError(f"{name} must be at least 1, got {getattr(self, name)}")
        for path in self.eval_files or []:
            if not Path(path).is_file():
                raise UserError(f"eval_files: file not found: {path}")
        for name in self.eval_datasets or []:
            if name.count(":") != 1:
                raise UserError(f"eval_datasets: '{name}' should be id:config, e.g. google/xquad:xquad.de")


def parse(argv=None):
    from transformers import TrainingArguments

    from lingbridge.config import DataArguments, ModelArguments, RunArguments, parse_config

    parsed = parse_config((ModelArguments, DataArguments, QAArguments, LoraArguments, RunArguments, TrainingArguments), argv)
    data_args, args = parsed[1], parsed[2]
    if args.doc_stride >= data_args.max_seq_length:
        raise UserError(f"doc_stride ({args.doc_stride}) must be smaller than max_seq_length ({data_args.max_seq_length})")
    return parsed


def plan_data(configs) -> dict:
    """What `lingbridge plan` needs: training questions in the training languages and sample texts."""
    from lingbridge.tasks.qa import load_qa_splits

    data_args, args = configs[1], configs[2]
    dsd, _, languages, _ = load_qa_splits(data_args, args)
    train = dsd["train"]
    if args.train_languages:
        train = train.filter(lambda b: [x in args.train_languages for x in b["lang"]], batched=True)
    texts = [f"{q} {c}" for q, c in zip(list(train["question"])[:2000], list(train["context"])[:2000])]
    return {"rows": len(train), "texts": texts, "languages": languages, "task": "qa"}


@exit_on_user_error
def main(argv=None):
    model_args, data_args, args, lora_args, run_args, training_args, config_path = parse(argv)

    import json
    import time

    import numpy as np
    import torch
    from transformers import AutoModelForQuestionAnswering, AutoTokenizer, DataCollatorWithPadding, Trainer, set_seed

    from lingbridge.data.load import filter_languages, limit
    from lingbridge.evaluation import format_table, per_language, transfer_table
    from lingbridge.models import apply_lora, build_config, check_model_source, count_parameters, load_pretrained
    from lingbridge.runs import config_dict
    from lingbridge.tasks.qa import (best_null_threshold, load_qa_splits, offsets_array, postprocess_qa_predictions,
                                     prepare_eval_features, prepare_train_features, qa_metrics, score_rows)
    from lingbridge.training import (RankParticipation, finish_run, logger, loss_summary, plot_loss_curves,
                                     prepare_run, setup_logging, start_run, skip_unit_loss_division, use_mean_loss)

    setup_logging(training_args)
    set_seed(training_args.seed)  # before any model is built: the QA head is initialised randomly
    check_model_source(model_args.model_name_or_path)
    check_model_source(model_args.tokenizer_name, "tokenizer_name")
    if not (model_args.config_name or model_args.model_name_or_path):
        raise UserError("give model_name_or_path (a checkpoint or pretrain run directory) or config_name")
    run = start_run("finetune_qa", run_args, training_args)

    # ---- data: load → check spans → languages ---------------------------------------------------------
    with training_args.main_process_first(desc="load"):
        dsd, sources, languages, spans = load_qa_splits(data_args, args, cache_dir=model_args.cache_dir,
                                                        seed=training_args.seed)
    source_langs = args.train_languages or [lang for lang in languages if lang in set(dsd["train"]["lang"])]
    missing = [lang for lang in source_langs if lang not in languages]
    if missing:
        raise UserError(f"train_languages {missing} are not in the data (it has: {', '.join(languages)})")
    select_langs = source_langs if args.selection_languages == "source" else languages
    train = limit(filter_languages({"t": dsd["train"]}, source_langs)["t"], data_args.max_train_samples)
    dev = limit(filter_languages({"d": dsd["validation"]}, select_langs)["d"], data_args.max_eval_samples)
    test = limit(dsd["test"], data_args.max_eval_samples)
    if len(train) == 0:
        raise UserError(f"no training questions in languages {source_langs}")
    v2 = args.version_2_with_negative
    if v2 is None:
        v2 = any(not a["text"] for split in (train, test) for a in split["answers"])
    elif not v2 and any(not a["text"] for a in train["answers"]):
        raise UserError("the training data has unanswerable questions (no answers) but version_2_with_negative is "
                        "false; set it to true (SQuAD v2.0) or remove them")
    logger.info("train %d questions (%s), dev %d (%s), test %d (%s); SQuAD %s", len(train), ",".join(source_langs),
                len(dev), ",".join(select_langs), len(test), ",".join(languages), "v2.0" if v2 else "v1.1")

    # ---- tokenizer and model -------------------------------------------------------------------------------
    tok_source = model_args.tokenizer_name or model_args.model_name_or_path
    if tok_source:
        tokenizer = AutoTokenizer.from_pretrained(tok_source, trust_remote_code=model_args.trust_remote_code)
    else:
        from lingbridge.tokenization import train_unigram_tokenizer

        tokenizer = train_unigram_tokenizer(list(dict.fromkeys(train["context"])) + list(train["question"]),
                                            model_args.vocab_size, languages,
                                            model_max_length=data_args.max_seq_length, show_progress=False)
    if not getattr(tokenizer, "is_fast", False):
        raise UserError(f"tokenizer {tok_source} is not a fast tokenizer; QA needs its offset mapping")
    lora_info = None
    if model_args.model_name_or_path:
        model, missing_keys = load_pretrained(AutoModelForQuestionAnswering, model_args)
        init = model_args.model_name_or_path
        if lora_args.use_lora:
            model, lora_info = apply_lora(model, lora_args, "QUESTION_ANS", missing_keys)
            lora_info["kept_unmerged"] = not lora_args.merge_lora
    else:
        config = build_config(model_args, tokenizer, max_position_embeddings=min(data_args.max_seq_length, 512) + 3)
        model = AutoModelForQuestionAnswering.from_config(config)
        init = f"random ({model_args.config_name} config)"
        if lora_args.use_lora:
            logger.warning("LoRA skipped: a from-scratch model has no pretrained weights to freeze")
    max_len = data_args.max_seq_length
    if tokenizer.model_max_length < max_len:  # a pretrain run's tokenizer records its model's position limit
        logger.warning("max_seq_length %d lowered to the tokenizer's model_max_length %d", max_len, tokenizer.model_max_length)
        max_len = tokenizer.model_max_length
    if args.doc_stride >= max_len:
        raise UserError(f"doc_stride ({args.doc_stride}) must be smaller than the window ({max_len} tokens)")
    params = count_parameters(model)
    logger.info("model: %s; %s of %s parameters trainable", init, f"{params['trainable']:,}", f"{params['total']:,}")

    # ---- features: windows of max_seq_length overlapping by doc_stride ----------------------------------
    kw = dict(tokenizer=tokenizer, max_seq_length=max_len, doc_stride=args.doc_stride,
              pad_to_max_length=data_args.pad_to_max_length)
    num_proc = data_args.preprocessing_num_workers
    with training_args.main_process_first(desc="tokenise"):
        train_feats = train.map(prepare_train_features, batched=True, fn_kwargs=kw, num_proc=num_proc,
                                remove_columns=train.column_names, desc="Windows (train)")
        # dev keeps labels so that Trainer reports a loss for checkpoint selection
        dev_feats = dev.map(prepare_train_features, batched=True, fn_kwargs=kw, num_proc=num_proc,
                            remove_columns=dev.column_names, desc="Windows (dev)")
        test_feats = test.map(prepare_eval_features, batched=True, with_indices=True, fn_kwargs=kw, num_proc=num_proc,
                              remove_columns=test.column_names, desc="Windows (test)")
        tune = v2 and args.tune_null_threshold and len(dev) > 0
        dev_eval = dev.map(prepare_eval_features, batched=True, with_indices=True, fn_kwargs=kw, num_proc=num_proc,
                           remove_columns=dev.column_names, desc="Windows (dev, spans)") if tune else None
    logger.info("windows: train %d, dev %d, test %d", len(train_feats), len(dev_feats), len(test_feats))
    if not len(dev_feats) and (training_args.eval_strategy != "no" or training_args.load_best_model_at_end):
        raise UserError(f"no dev questions in {', '.join(select_langs)} for eval_strategy/load_best_model_at_end; "
                        "give a validation split, set validation_split_percentage above 0, or --eval_strategy no "
                        "--load_best_model_at_end false")

    prepare_run(run)  # the data is valid: now the run folder may exist

    # ---- train -----------------------------------------------------------------------------------------------
    collator = None if data_args.pad_to_max_length else DataCollatorWithPadding(
        tokenizer, pad_to_multiple_of=8 if torch.cuda.is_available() else None)
    ranks = RankParticipation()
    trainer = Trainer(model=use_mean_loss(model), args=training_args, train_dataset=train_feats,
                      eval_dataset=dev_feats if len(dev_feats) else None, data_collator=collator,
                      processing_class=tokenizer, callbacks=[ranks])
    skip_unit_loss_division(trainer)
    result = trainer.train(resume_from_checkpoint=run.last_checkpoint())
    dev_metrics = trainer.evaluate() if len(dev_feats) else {}

    # ---- evaluate: spans per example, EM/F1 per language, zero-shot transfer --------------------------------
    def predict_spans(examples, feats, threshold):
        out = trainer.predict(feats.remove_columns(["example_index", "offset_mapping"]), metric_key_prefix="test")
        start_logits, end_logits = out.predictions[:2]
        t = time.perf_counter()
        preds = postprocess_qa_predictions(
            list(examples["context"]), np.asarray(feats["example_index"]), offsets_array(feats, start_logits.shape[1]),
            start_logits, end_logits, n_best_size=args.n_best_size, max_answer_length=args.max_answer_length,
            version_2_with_negative=v2, null_score_diff_threshold=threshold)
        return preds, time.perf_counter() - t

    threshold = args.null_score_diff_threshold
    if tune:
        dev_preds, _ = predict_spans(dev, dev_eval, float("inf"))
        threshold = best_null_threshold(dev_preds, [list(a["text"]) for a in dev["answers"]], list(dev["lang"]))
        logger.info("null_score_diff_threshold tuned on dev: %.4f", threshold)
    t0 = time.perf_counter()
    preds, post_s = predict_spans(test, test_feats, threshold)
    t2 = time.perf_counter()
    golds = [list(a["text"]) for a in test["answers"]]
    langs = np.array(test["lang"])
    em, f1 = score_rows([p["text"] for p in preds], golds, langs)
    table = per_language(qa_metrics, langs, em, f1, np.array([bool(g) for g in golds]))
    timing = {"predict_s": t2 - t0 - post_s, "postprocess_s": post_s, "metric_s": time.perf_counter() - t2}
    transfer = transfer_table(table, source_langs, ["exact_match", "f1"])
    logger.info("test per language (EM/F1 %%):\n%s", format_table(table, [c for c in table["all"] if c != "n"] + ["n"]))

    # ---- run directory --------------------------------------------------------------------------------------
    if trainer.is_world_process_zero():
        model_to_save = trainer.model
        if lora_info and lora_args.merge_lora:
            model_to_save = model_to_save.merge_and_unload()
        model_to_save.save_pretrained(run.work)
        if lora_info and not lora_args.merge_lora:
            model.config.save_pretrained(run.work)
        tokenizer.save_pretrained(run.work)
        rows = [{"id": i, "lang": lang, "question": q, "prediction": p["text"], "answers": g, "exact_match": e, "f1": f,
                 **({"null_score_diff": p["null_score_diff"]} if v2 else {})}
                for i, lang, q, p, g, e, f in zip(test["id"], test["lang"], test["question"], preds, golds, em, f1)]
        (run.work / "predictions.json").write_text(json.dumps(rows, ensure_ascii=False, indent=1), encoding="utf-8")
        plot_loss_curves(trainer.state.log_history, run.work / "loss.png", "Finetuning loss (QA)")
    record = {
        "job": "finetune_qa", "task": "question-answering", "pipeline_tag": "question-answering",
        "languages": languages, "train_languages": source_langs, "selection_languages": select_langs,
        "eval_split": "test", "squad_version": "v2.0" if v2 else "v1.1", "config_file": config_path,
        "null_score_diff_threshold": {"used": threshold, "tuned_on_dev": bool(tune)} if v2 else None,
        "config": config_dict(model_args, data_args, args, lora_args, run_args, training_args),
        "init": init, "base_model": model_args.model_name_or_path,
        "tokenizer_source": tok_source or "trained on the training split", "parameters": params, "lora": lora_info,
        "data_sources": sources, "answer_spans": spans,
        "rows": {"train": len(train), "dev": len(dev), "test": len(test)},
        "windows": {"train": len(train_feats), "dev": len(dev_feats), "test": len(test_feats)}, "timing": timing,
        "metrics": {"train": dict(result.metrics), "dev": dev_metrics, "per_language": table, "transfer": transfer,
                    **loss_summary(trainer.state.log_history)},
        "world_size": training_args.world_size, "ranks": ranks.per_rank,
        "example_input": {"question": test[0]["question"], "context": test[0]["context"]} if len(test) else {},
        "summary": f"Extractive question answering (SQuAD {'v2.0' if v2 else 'v1.1'}) finetuned from {init}"
                   f"{' with LoRA' if lora_info else ''} on {', '.join(source_langs)}; evaluated on {', '.join(languages)}.",
    }
    finish_run(run, record, run_args.keep_checkpoints)
    return run.path


if __name__ == "__main__":
    main()
