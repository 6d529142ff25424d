"""Machine translation with a seq2seq model, several directions in one run, evaluated with sacreBLEU
(BLEU and chrF per direction, with their signatures; test translations saved beside the metrics).

Tiny, on a CPU (a tiny M2M100-architecture model from scratch with a tokenizer trained on the bundled pairs):
    accelerate launch recipes/finetune_translation.py --config recipes/configs/finetune_translation/tiny.yaml
The same, warm-started from a cross-lingual pretraining run (its encoder, and decoder, initialise the model):
    accelerate launch recipes/finetune_translation.py --config recipes/configs/finetune_translation/tiny.yaml \
        --model_name_or_path runs/pretrain-<timestamp>
Two CPU processes (gloo DDP):
    accelerate launch --config_file recipes/accelerate/cpu_ddp.yaml recipes/finetune_translation.py \
        --config recipes/configs/finetune_translation/tiny.yaml --max_steps 20
A Hub checkpoint with LoRA on a GPU (Marian, mBART-50, NLLB, M2M100, T5/mT5 all work):
    accelerate launch recipes/finetune_translation.py --config recipes/configs/finetune_translation/base.yaml
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lingbridge.errors import UserError, exit_on_user_error
from lingbridge.recipes.finetune_classification import LoraArguments


@dataclass
class TranslationArguments:
    directions: list[str] | None = field(
        default=None, metadata={"help": "Directions as src-tgt (en-de de-en ...); default: both ways of every pair in the data."})
    max_target_length: int = field(default=128, metadata={"help": "Truncate tokenised targets to this length (sources: max_seq_length)."})
    source_prefix: str | None = field(
        default=None, metadata={"help": "Text before every source, e.g. 'translate {src} to {tgt}: ' (default: the model family's)."})
    model_language_codes: list[str] | None = field(
        default=None, metadata={"help": "ISO code → model code where the built-in tables lack one, e.g. zh=zho_Hant."})
    warm_start_decoder: bool = field(
        default=True, metadata={"help": "From an encoder-only checkpoint (a pretrain run): initialise the decoder from it too."})

    def __post_init__(self):
        if self.max_target_length < 4:
            raise UserError(f"max_target_length must be at least 4, got {self.max_target_length}")
        for item in self.model_language_codes or []:
            if "=" not in item:
                raise UserError(f"model_language_codes: '{item}' is not of the form iso=code (e.g. zh=zho_Hant)")

    def code_overrides(self) -> dict[str, str]:
        return dict(item.split("=", 1) for item in self.model_language_codes or [])


def parse(argv=None):
    from transformers import Seq2SeqTrainingArguments

    from lingbridge.config import CleaningArguments, DataArguments, ModelArguments, RunArguments, parse_config

    return parse_config((ModelArguments, DataArguments, CleaningArguments, TranslationArguments, LoraArguments,
                         RunArguments, Seq2SeqTrainingArguments), argv)


def load_pairs(data_args, seed: int):
    """Parallel pairs (train, validation, test when present) from files, a Hub id or the bundled sample."""
    from lingbridge.data.parallel import load_parallel

    if data_args.train_file:
        files = {s: f for s, f in (("train", data_args.train_file), ("validation", data_args.validation_file),
                                   ("test", data_args.test_file)) if f}
        source = files
    else:
        source = data_args.dataset_name or "sample:parallel"
    return load_parallel(source, data_args.languages, seed=seed, keep_test=True, role="parallel (translation)",
                         validation_share=data_args.validation_split_percentage / 100 or 0.1,
                         config_name=data_args.dataset_config_name)


def plan_data(configs) -> dict:
    """What `lingbridge plan` needs: training rows over all directions and sample source texts."""
    from lingbridge.tasks.translation import parse_directions

    _, data_args, _, args = configs[:4]
    dsd, _ = load_pairs(data_args, configs[-1].seed)
    train = dsd["train"]
    pairs = set(zip(train["src_lang"], train["tgt_lang"]))
    dirs = parse_directions(args.directions, pairs)
    rows = sum(sum(1 for p in zip(train["src_lang"], train["tgt_lang"]) if p in ((s, t), (t, s))) for s, t in dirs)
    return {"rows": rows, "texts": list(train["src"][:1000]) + list(train["tgt"][:1000]),
            "languages": sorted({x for d in dirs for x in d}), "task": "translation"}


@exit_on_user_error
def main(argv=None):
    model_args, data_args, clean_args, args, lora_args, run_args, training_args, config_path = parse(argv)

    import torch
    from datasets import concatenate_datasets
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer, Seq2SeqTrainer, set_seed

    from lingbridge.data import clean_splits
    from lingbridge.data.load import limit
    from lingbridge.evaluation import format_table
    from lingbridge.models import apply_lora, build_config, check_model_source, count_parameters, load_pretrained
    from lingbridge.runs import config_dict
    from lingbridge.tasks.translation import (decode, is_encoder_only, make_directions, metrics_table, orient,
                                              parse_directions, seq2seq_collator, tiny_seq2seq_config,
                                              tokenize_direction, warm_start_from_encoder, write_translations)
    from lingbridge.training import (RankParticipation, finish_run, logger, loss_summary, plot_loss_curves,
                                     prepare_run, setup_logging, start_run, skip_unit_loss_division, use_mean_loss)

    setup_logging(training_args)
    set_seed(training_args.seed)  # before any model is built
    check_model_source(model_args.model_name_or_path)
    check_model_source(model_args.tokenizer_name, "tokenizer_name")
    if not (model_args.config_name or model_args.model_name_or_path):
        raise UserError("give model_name_or_path (a seq2seq checkpoint or a pretrain run directory) or config_name")
    if training_args.metric_for_best_model not in (None, "loss", "eval_loss"):
        raise UserError("metric_for_best_model: model selection uses the dev loss (BLEU is computed once, on the "
                        f"test split); got '{training_args.metric_for_best_model}', expected loss")
    run = start_run("finetune_translation", run_args, training_args)

    # ---- data: load → clean → directions -----------------------------------------------------------
    with training_args.main_process_first(desc="load and clean"):
        dsd, source = load_pairs(data_args, training_args.seed)
        dsd, cleaning = clean_splits(dsd, clean_args, text_columns=("src", "tgt"))
    pairs = set(zip(dsd["train"]["src_lang"], dsd["train"]["tgt_lang"]))
    dir_pairs = parse_directions(args.directions, pairs)
    eval_split = "test" if "test" in dsd else "validation"
    splits = {"train": {}, "dev": {}, "test": {}}
    for src, tgt in dir_pairs:
        splits["train"][(src, tgt)] = orient(dsd["train"], src, tgt)
        splits["dev"][(src, tgt)] = limit(orient(dsd["validation"], src, tgt), data_args.max_eval_samples)
        splits["test"][(src, tgt)] = limit(orient(dsd[eval_split], src, tgt), data_args.max_eval_samples)
    empty = [f"{s}-{t}" for (s, t), d in splits["test"].items() if len(d) == 0]
    if empty:
        raise UserError(f"no {eval_split} rows for directions {empty}; give more data or drop them from directions")
    languages = sorted({x for d in dir_pairs for x in d})
    logger.info("directions %s; train %d rows, dev %d, %s %d", ", ".join(f"{s}-{t}" for s, t in dir_pairs),
                sum(map(len, splits["train"].values())), sum(map(len, splits["dev"].values())), eval_split,
                sum(map(len, splits["test"].values())))

    # ---- tokenizer and model ------------------------------------------------------------------------------
    tok_source = model_args.tokenizer_name or model_args.model_name_or_path
    if tok_source:
        tokenizer = AutoTokenizer.from_pretrained(tok_source, trust_remote_code=model_args.trust_remote_code)
    else:
        # from scratch: a Unigram tokenizer on both sides of the training pairs, with <lang_xx> tags
        from lingbridge.tokenization import train_unigram_tokenizer

        texts = [t for d in splits["train"].values() for col in ("src", "tgt") for t in d[col]]
        tokenizer = train_unigram_tokenizer(texts, model_args.vocab_size, languages,
                                            model_max_length=data_args.max_seq_length, show_progress=False)
    lora_info, missing_keys = None, []
    if model_args.model_name_or_path and is_encoder_only(model_args.model_name_or_path):
        model, missing_keys = warm_start_from_encoder(model_args.model_name_or_path, tokenizer, args.warm_start_decoder)
        init = (f"encoder{' and decoder' if args.warm_start_decoder else ''} from {model_args.model_name_or_path} "
                "(cross-attention new)")
    elif model_args.model_name_or_path:
        model, missing_keys = load_pretrained(AutoModelForSeq2SeqLM, model_args)
        init = model_args.model_name_or_path
    else:
        config = (tiny_seq2seq_config(tokenizer, max_position_embeddings=max(data_args.max_seq_length, args.max_target_length))
                  if model_args.config_name == "tiny" else build_config(model_args, tokenizer))
        model = AutoModelForSeq2SeqLM.from_config(config)
        init = f"random ({model_args.config_name} config)"
    if lora_args.use_lora and init == model_args.model_name_or_path:
        model, lora_info = apply_lora(model, lora_args, "SEQ_2_SEQ_LM", missing_keys)
        lora_info["kept_unmerged"] = not lora_args.merge_lora
    elif lora_args.use_lora:
        # random weights (a new model, or a new cross-attention) must all learn: LoRA would freeze them
        logger.warning("LoRA skipped: %s has weights with nothing pretrained to freeze; training all of them", init)
    params = count_parameters(model)
    logger.info("model: %s; %s of %s parameters trainable", init, f"{params['trainable']:,}", f"{params['total']:,}")
    base = model.get_base_model() if lora_info else model
    directions = make_directions(dir_pairs, base.config, tokenizer, args.source_prefix, args.code_overrides())
    start_id = base.config.decoder_start_token_id

    with training_args.main_process_first(desc="tokenise"):
        enc = {split: {d.name: tokenize_direction(parts[(d.src, d.tgt)], d, tokenizer, data_args.max_seq_length,
                                                  args.max_target_length, start_id, data_args.preprocessing_num_workers)
                       for d in directions} for split, parts in splits.items()}
    train_set = concatenate_datasets(list(enc["train"].values())).shuffle(seed=training_args.seed)
    dev_set = concatenate_datasets(list(enc["dev"].values()))
    train_set = limit(train_set, data_args.max_train_samples)

    prepare_run(run)  # the data is valid: now the run folder may exist

    # ---- train (dev loss for model selection; generation once, at the end) ---------------------------------
    collator = seq2seq_collator(tokenizer, base, pad_to_multiple_of=8 if torch.cuda.is_available() else None)
    training_args.predict_with_generate = False
    ranks = RankParticipation()
    trainer = Seq2SeqTrainer(model=use_mean_loss(model), args=training_args, train_dataset=train_set,
                             eval_dataset=dev_set if len(dev_set) else None, data_collator=collator,
                             processing_class=tokenizer, callbacks=[ranks])
    skip_unit_loss_division(trainer)
    result = trainer.train(resume_from_checkpoint=run.last_checkpoint())
    dev_metrics = trainer.evaluate() if len(dev_set) else {}

    # ---- evaluate: generate per direction (each has its own target code), sacreBLEU ------------------------
    import time

    training_args.predict_with_generate = True
    rows, started = [], time.perf_counter()
    for d in directions:
        out = trainer.predict(enc["test"][d.name], metric_key_prefix=eval_split, **d.gen_kwargs())
        test = splits["test"][(d.src, d.tgt)]
        rows += [{"direction": d.name, "src_lang": d.src, "tgt_lang": d.tgt, "src": s, "ref": r, "hyp": h}
                 for s, r, h in zip(test["src"], test["tgt"], decode(tokenizer, out.predictions))]
    generation_s = round(time.perf_counter() - started, 2)
    table = metrics_table(rows)
    logger.info("%s per direction:\n%s", eval_split, format_table(table, ["bleu", "chrf", "bleu_tokenize", "n"], "direction"))

    # ---- run directory --------------------------------------------------------------------------------------
    if trainer.is_world_process_zero():
        model_to_save = trainer.model
        if lora_info and lora_args.merge_lora:
            model_to_save = model_to_save.merge_and_unload()
        model_to_save.save_pretrained(run.work)
        if lora_info and not lora_args.merge_lora:
            base.config.save_pretrained(run.work)
        tokenizer.save_pretrained(run.work)
        write_translations(rows, run.work / "translations.jsonl")
        plot_loss_curves(trainer.state.log_history, run.work / "loss.png", "Translation finetuning loss")
    gen = {"num_beams": training_args.generation_num_beams or base.generation_config.num_beams or 1,
           "max_length": training_args.generation_max_length or base.generation_config.max_length}
    record = {
        "job": "finetune_translation", "task": "translation", "pipeline_tag": "translation",
        "languages": languages, "directions": [vars(d) | {"name": d.name} for d in directions],
        "model_family": directions[0].family, "eval_split": eval_split, "config_file": config_path,
        "config": config_dict(model_args, data_args, clean_args, args, lora_args, run_args, training_args),
        "init": init, "base_model": model_args.model_name_or_path,
        "tokenizer_source": tok_source or "trained on the training pairs", "parameters": params, "lora": lora_info,
        "data_sources": [source], "cleaning": cleaning, "generation": gen,
        "rows": {"train": len(train_set), "dev": len(dev_set), eval_split: len(rows)},
        "metrics": {"train": dict(result.metrics), "dev": dev_metrics, "per_language": table, "generation_time_s": generation_s,
                    "metric_notes": sorted({r["note"] for r in table.values() if r.get("note")}),
                    **loss_summary(trainer.state.log_history)},
        "translations_file": "translations.jsonl",
        "world_size": training_args.world_size, "ranks": ranks.per_rank,
        "example_input": directions[0].prefix + rows[0]["src"] if rows else "",  # what the model expects
        "summary": f"Translation ({', '.join(d.name for d in directions)}) finetuned from {init}"
                   f"{' with LoRA' if lora_info else ''}; BLEU/chrF per direction with sacreBLEU on the {eval_split} split.",
    }
    finish_run(run, record, run_args.keep_checkpoints)
    return run.path


if __name__ == "__main__":
    main()
