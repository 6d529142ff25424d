"""Machine translation with a seq2seq model, several directions in one run, evaluated with sacreBLEU
(BLEU and chrF per direction, with their signatures; test translations saved beside the metrics).

Tiny, on a CPU (a tiny M2M100-architecture model from scratch with a tokenizer trained on the bundled pairs):
    lingbridge train finetune_translation --config tiny
The same, warm-started from a cross-lingual pretraining run (its encoder, and decoder, initialise the model):
    lingbridge train finetune_translation --config tiny \
        --model_name_or_path runs/pretrain-<timestamp>
Two CPU processes (gloo DDP):
    lingbridge train finetune_translation --config tiny --num_processes 2 --max_steps 20
A Hub checkpoint with LoRA on a GPU (Marian, mBART-50, NLLB, M2M100, T5/mT5 all work):
    lingbridge train finetune_translation --config base
"""

from __future__ import annotations

from lingbridge.errors import UserError, exit_on_user_error
from lingbridge.tasks.translation import TranslationArguments


def parse(argv=None):
    from transformers import Seq2SeqTrainingArguments

    from lingbridge.config import (CleaningArguments, DataArguments, LoraArguments, ModelArguments, RunArguments,
                                   parse_config)

    return parse_config((ModelArguments, DataArguments, CleaningArguments, TranslationArguments, LoraArguments,
                         RunArguments, Seq2SeqTrainingArguments), argv)


def plan_data(configs) -> dict:
    """What `lingbridge plan` needs: training rows over all directions and sample source texts."""
    from lingbridge.data.parallel import load_translation_pairs
    from lingbridge.tasks.translation import parse_directions

    _, data_args, _, args = configs[:4]
    dsd, _ = load_translation_pairs(data_args, configs[-1].seed)
    train = dsd["train"]
    pairs = set(zip(train["src_lang"], train["tgt_lang"]))
    dirs = parse_directions(args.directions, pairs)
    rows = sum(sum(1 for p in zip(train["src_lang"], train["tgt_lang"]) if p in ((s, t), (t, s))) for s, t in dirs)
    return {"rows": rows, "texts": list(train["src"][:1000]) + list(train["tgt"][:1000]),
            "languages": sorted({x for d in dirs for x in d}), "task": "translation"}


def check(configs) -> None:
    """The checks that need no data (`lingbridge.runs.validate_recipe` runs them before launching)."""
    from lingbridge.models import check_model_source

    model_args, training_args = configs[0], configs[-1]
    check_model_source(model_args.model_name_or_path)
    check_model_source(model_args.tokenizer_name, "tokenizer_name")
    if not (model_args.config_name or model_args.model_name_or_path):
        raise UserError("give model_name_or_path (a seq2seq checkpoint or a pretrain run directory) or config_name")
    if training_args.metric_for_best_model not in (None, "loss", "eval_loss"):
        raise UserError("metric_for_best_model: model selection uses the dev loss (BLEU is computed once, on the "
                        f"test split); got '{training_args.metric_for_best_model}', expected loss")


@exit_on_user_error
def main(argv=None):
    model_args, data_args, clean_args, args, lora_args, run_args, training_args, config_path = parse(argv)

    import time

    import torch
    from datasets import concatenate_datasets
    from transformers import Seq2SeqTrainer, set_seed

    from lingbridge.data import clean_splits
    from lingbridge.data.load import limit
    from lingbridge.data.parallel import load_translation_pairs
    from lingbridge.evaluation import format_table
    from lingbridge.hub import push_finished_run
    from lingbridge.models import build_model, fit_max_length
    from lingbridge.record import RunRecord, config_dict
    from lingbridge.runs import finish_run, prepare_run, save_model, start_run
    from lingbridge.tasks.translation import (TASK, direction_splits, make_directions, parse_directions,
                                              translate_test_sets, write_translations)
    from lingbridge.tokenization import load_or_train_tokenizer
    from lingbridge.training import build_trainer, logger, plot_loss_curves, setup_logging

    setup_logging(training_args)
    set_seed(training_args.seed)  # before any model is built
    check((model_args, data_args, clean_args, args, lora_args, run_args, training_args))
    run = start_run("finetune_translation", run_args, training_args)

    # ---- data: load → clean → directions -----------------------------------------------------------
    with training_args.main_process_first(desc="load and clean"):
        dsd, source = load_translation_pairs(data_args, training_args.seed)
        dsd, cleaning = clean_splits(dsd, clean_args, text_columns=("src", "tgt"))
    dir_pairs = parse_directions(args.directions, set(zip(dsd["train"]["src_lang"], dsd["train"]["tgt_lang"])))
    eval_split = "test" if "test" in dsd else "validation"
    splits = direction_splits(dsd, dir_pairs, eval_split, data_args.max_eval_samples)
    languages = sorted({x for d in dir_pairs for x in d})
    logger.info("directions %s; train %d rows, dev %d, %s %d", ", ".join(f"{s}-{t}" for s, t in dir_pairs),
                *(sum(map(len, splits[s].values())) for s in ("train", "dev")), eval_split,
                sum(map(len, splits["test"].values())))

    # ---- tokenizer (trained on both sides of the training pairs when none is given), model (+ LoRA) -------
    tokenizer, tok_source = load_or_train_tokenizer(
        model_args, lambda: [t for d in splits["train"].values() for col in ("src", "tgt") for t in d[col]],
        languages, data_args.max_seq_length)
    model, init, lora, params = build_model(TASK, model_args, tokenizer, lora_args,
                                            max(data_args.max_seq_length, args.max_target_length),
                                            warm_start_decoder=args.warm_start_decoder)
    base = model.get_base_model() if lora else model
    data_args.max_seq_length = fit_max_length(data_args.max_seq_length, tokenizer, base.config)
    args.max_target_length = fit_max_length(args.max_target_length, tokenizer, base.config, "max_target_length")
    directions = make_directions(dir_pairs, base.config, tokenizer, args.source_prefix, args.code_overrides())
    with training_args.main_process_first(desc="tokenise"):
        enc = {split: {d.name: TASK.preprocess(parts[(d.src, d.tgt)], d, tokenizer, data_args.max_seq_length,
                                               args.max_target_length, base.config.decoder_start_token_id,
                                               data_args.preprocessing_num_workers) for d in directions}
               for split, parts in splits.items()}
    train_set = limit(concatenate_datasets(list(enc["train"].values())).shuffle(seed=training_args.seed),
                      data_args.max_train_samples)
    dev_set = concatenate_datasets(list(enc["dev"].values()))

    prepare_run(run)  # the data is valid: now the run folder may exist

    # ---- train (dev loss for model selection), then generate every direction once, sacreBLEU -------------
    training_args.predict_with_generate = False
    trainer = build_trainer(model, training_args, Seq2SeqTrainer, train_dataset=train_set,
                            eval_dataset=dev_set if len(dev_set) else None, processing_class=tokenizer,
                            data_collator=TASK.collator(tokenizer, base, 8 if torch.cuda.is_available() else None))
    result, dev_metrics = run.train(trainer), run.evaluate(trainer)  # as --do_train / --do_eval say
    training_args.predict_with_generate = True
    started = time.perf_counter()
    rows = translate_test_sets(trainer, directions, enc["test"], splits["test"], tokenizer, eval_split)
    generation_s = round(time.perf_counter() - started, 2)
    table = TASK.metrics(rows)
    logger.info("%s per direction:\n%s", eval_split, format_table(table, ["bleu", "chrf", "bleu_tokenize", "n"], "direction"))

    # ---- run directory --------------------------------------------------------------------------------------
    save_model(run, trainer.model, tokenizer, lora_args.merge_lora)
    if trainer.is_world_process_zero():
        write_translations(rows, run.work / "translations.jsonl")
        plot_loss_curves(trainer.state.log_history, run.work / "loss.png", "Translation finetuning loss")
    gen = {"num_beams": training_args.generation_num_beams or base.generation_config.num_beams or 1,
           "max_length": training_args.generation_max_length or base.generation_config.max_length}
    record = RunRecord(
        job="finetune_translation", task=TASK.pipeline_tag, pipeline_tag=TASK.pipeline_tag, languages=languages,
        config=config_dict(model_args, data_args, clean_args, args, lora_args, run_args, training_args),
        config_file=config_path, eval_split=eval_split, init=init, base_model=model_args.model_name_or_path,
        parameters=params, data_sources=[source], cleaning=cleaning, lora=lora,
        metrics={"dev": dev_metrics, "per_language": table, "generation_time_s": generation_s,
                 "metric_notes": sorted({r["note"] for r in table.values() if r.get("note")})},
        example_input=directions[0].prefix + rows[0]["src"] if rows else "",  # what the model expects
        summary=f"Translation ({', '.join(d.name for d in directions)}) finetuned from {init}"
                f"{' with LoRA' if lora else ''}; BLEU/chrF per direction with sacreBLEU on the {eval_split} split.",
        extra={"directions": [vars(d) | {"name": d.name} for d in directions], "model_family": directions[0].family,
               "tokenizer_source": tok_source or "trained on the training pairs", "generation": gen,
               "rows": {"train": len(train_set), "dev": len(dev_set), eval_split: len(rows)},
               "translations_file": "translations.jsonl"},
    )
    finish_run(run, record, run_args.keep_checkpoints, trainer, result)
    return push_finished_run(run)  # --push_to_hub: the finished run, as `lingbridge publish` does


if __name__ == "__main__":
    main()
