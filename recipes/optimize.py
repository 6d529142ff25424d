"""A smaller or faster copy of a classification model: quantisation, pruning or distillation, measured.

Takes a text-classification run directory (or a Hub id with `--dataset_name`/`--train_file`), applies one
method of the registry in `lingbridge.optimize.methods`, measures before vs after on the teacher run's own
evaluation split (accuracy per language, size, CPU latency) and writes a new run directory (job `optimize`)
with the model, a report table, a plot and a card whose usage snippet is the call that loads the result.

    lingbridge optimize runs/finetune_classification-<time> --method dynamic_int8
    lingbridge optimize runs/finetune_classification-<time> --method onnx_int8
    lingbridge optimize runs/finetune_classification-<time> --method magnitude_prune --sparsity 0.5 --recovery_steps 100
    lingbridge optimize runs/finetune_classification-<time> --method head_prune --head_fraction 0.25 --recovery_steps 100
    lingbridge optimize runs/finetune_classification-<time> --method distill --student_layers 3 --num_train_epochs 3

Training options for the recovery finetune and the distillation are `TrainingArguments`
(`--learning_rate`, `--per_device_train_batch_size`, `--num_train_epochs`, `--max_steps`, ...), honoured as
Trainer honours them; a method that trains nothing refuses them, and a pruning method's recovery finetune
runs `--recovery_steps` (not `--max_steps` or `--num_train_epochs`). `--push_to_hub --hub_model_id ORG/NAME`
publishes the finished run as `lingbridge publish` does. Every run measures the model before and after, so
`--do_train`/`--do_eval`/`--do_predict` and `--resume_from_checkpoint` are refused.
"""

from __future__ import annotations

import sys
from pathlib import Path

from lingbridge.errors import UserError, exit_on_user_error


def parse(argv=None):
    """Parse `RUN_DIR --method ... [options]` (the positional run directory becomes `model_name_or_path`)."""
    from transformers import TrainingArguments

    from lingbridge.config import CleaningArguments, DataArguments, RunArguments, parse_config
    from lingbridge.optimize.methods import OptimizeArguments

    from lingbridge.optimize.methods import get_method

    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and not argv[0].startswith("-"):
        argv = ["--model_name_or_path", argv[0], *argv[1:]]
    types = (OptimizeArguments, DataArguments, CleaningArguments, RunArguments, TrainingArguments)
    configs = parse_config(types, argv)
    opt, training_args = configs[0], configs[4]
    method = get_method(opt.method)
    if not method.trains(opt):  # again, refusing the training options this method would not read
        configs = parse_config(types, argv, trainer_fields=RUN_FIELDS,
                               unread_reason=f"method {opt.method} trains nothing (with these options)")
    elif opt.method in ("magnitude_prune", "head_prune"):
        configs = parse_config(types, argv, trainer_fields=_training_fields() - {"max_steps", "num_train_epochs"},
                               unread_reason=f"{opt.method}'s recovery finetune runs --recovery_steps steps")
    training_args = configs[4]
    if not (training_args.do_train and training_args.do_eval and training_args.do_predict):
        raise UserError("--do_train/--do_eval/--do_predict do not apply: optimize always measures the model before and "
                        "after (an evaluation-only run of a classification model: lingbridge train "
                        "finetune_classification --model_name_or_path RUN --do_eval)")
    if training_args.resume_from_checkpoint not in (None, ""):
        raise UserError("--resume_from_checkpoint does not apply to optimize (its finetunes are short); run it again")
    return configs


# what every method reads of TrainingArguments (a run, not a training)
RUN_FIELDS = {"seed", "output_dir", "overwrite_output_dir", "disable_tqdm", "log_level", "report_to", "push_to_hub",
              "hub_model_id", "hub_private_repo", "hub_strategy", "hub_revision", "use_cpu"}


def _training_fields() -> set[str]:
    import dataclasses

    from transformers import TrainingArguments

    return {f.name for f in dataclasses.fields(TrainingArguments)}


@exit_on_user_error
def main(argv=None) -> Path:
    """Run `lingbridge optimize`; returns the new run directory."""
    opt, data_args, clean_args, run_args, training_args, config_path = parse(argv)
    from lingbridge.optimize import check_source, load_optimized, load_teacher_data, usage_snippet

    source = opt.model_name_or_path
    record, model_config = check_source(source)
    if opt.method == "onnx_int8":
        try:
            import onnxruntime  # noqa: F401
        except ImportError:
            raise UserError("method onnx_int8 needs onnxruntime and onnx: pip install 'lingbridge[onnx]'") from None

    import numpy as np
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, set_seed

    from lingbridge.cards import write_card
    from lingbridge.evaluation import per_language
    from lingbridge.models import fit_max_length
    from lingbridge.optimize import measure
    from lingbridge.optimize.methods import METHODS, MethodContext
    from lingbridge.optimize.quantize import bitsandbytes_snippet
    from lingbridge.record import config_dict
    from lingbridge.runs import finish_run, prepare_run, start_run
    from lingbridge.tasks.classification import TASK, classification_metrics
    from lingbridge.training import logger, loss_summary, plot_loss_curves, setup_logging

    method = METHODS[opt.method]
    setup_logging(training_args)
    set_seed(training_args.seed)
    run = start_run("optimize", run_args, training_args)

    # ---- the teacher's data: the same evaluation split it was scored on ----------------------------
    needs_training = method.trains(opt)
    data = load_teacher_data(source, record, model_config, data_args, clean_args, training_args.seed,
                             opt.method if needs_training else None)
    train, test, eval_split, label_names = data["train"], data["test"], data["eval_split"], data["label_names"]

    prepare_run(run)

    # ---- the teacher, measured; the method applied ----------------------------------------------------
    tokenizer = AutoTokenizer.from_pretrained(source)
    teacher = AutoModelForSequenceClassification.from_pretrained(source, use_safetensors=True).eval()
    max_len, texts = fit_max_length(data["data_args"].max_seq_length, tokenizer, teacher.config), list(test["text"])
    langs, gold = np.array(test["lang"]), np.array(test["label"])

    def evaluate(classifier):
        with measure.cpu_threads(opt.latency_threads):
            preds = measure.predict(classifier, tokenizer, texts, max_len)
        return per_language(classification_metrics, langs, preds, gold), preds

    fp32_mb = sum(t.numel() * t.element_size() for t in teacher.state_dict().values()) / 2**20
    before_params = measure.count_weights(teacher)
    logger.info("evaluating the teacher (%s)", source)
    before_table, before_preds = evaluate(measure.TorchClassifier(teacher))
    enc_train = None
    if needs_training:
        enc_train = TASK.preprocess({"train": train}, tokenizer, max_len, False)["train"].remove_columns("lang")
    ctx = MethodContext(opt, training_args, tokenizer, texts, run.work, enc_train, TASK.collator(tokenizer), fp32_mb)
    result = method.apply(teacher, ctx)
    tokenizer.save_pretrained(run.work)
    (run.work / "training_args.bin").unlink(missing_ok=True)

    # ---- before vs after: accuracy per language, size, latency; the saved folder reproduces it ------------
    logger.info("evaluating the %s model and timing both", opt.method)
    after_table, after_preds = evaluate(result.classifier)
    with measure.cpu_threads(opt.latency_threads):
        timings = measure.measure_latency({"before": measure.TorchClassifier(teacher), "after": result.classifier},
                                          tokenizer, texts, max_len, opt.latency_batch_sizes, opt.latency_runs)
    params = measure.count_weights(result.model) if opt.method != "onnx_int8" else before_params  # same weights, int8
    before = measure.summarize({"weights_mb": fp32_mb, "disk_mb": measure.weights_size_mb(source) if Path(source).is_dir()
                                else fp32_mb}, before_params, timings["before"], before_table)
    after = measure.summarize({"weights_mb": result.weights_mb, "disk_mb": measure.weights_size_mb(run.work)}, params,
                              timings["after"], after_table)
    same = measure.reproduces(load_optimized(run.work), result.classifier, tokenizer, texts[:64], max_len,
                              opt.latency_threads)
    report, langs_md = measure.write_report(run.work, opt.method, method.description, source, before, after,
                                            before_table, after_table)
    if result.log_history:
        plot_loss_curves(result.log_history, run.work / "loss.png", f"{opt.method}: training loss")
    logger.info("%s\n\n%s", report, langs_md)

    # ---- run directory ----------------------------------------------------------------------------------
    b1 = "b1_p50"
    teacher_record = record or {}
    new_record = {
        "job": "optimize", "method": opt.method, "method_description": method.description,
        "task": TASK.pipeline_tag, "pipeline_tag": TASK.pipeline_tag, "languages": data["languages"],
        "train_languages": data["train_languages"], "label_names": label_names, "eval_split": eval_split,
        "config_file": config_path,
        "config": config_dict(opt, data["data_args"], data["clean_args"], run_args, training_args),
        "source_run": str(source), "base_model": teacher_record.get("base_model") or str(source), "init": str(source),
        "data_sources": teacher_record.get("data_sources") or data["sources"],
        "cleaning": teacher_record.get("cleaning") or data["cleaning"],
        "rows": {eval_split: len(test), **({"train": len(train)} if needs_training else {})},
        "parameters": {"total": params["total"], "trainable": params["total"]},
        "optimization": {"method": opt.method, **result.details, "before": before, "after": after,
                         "latency_before": timings["before"], "latency_after": timings["after"],
                         "speedup_batch_1_p50": before[b1] / after[b1] if before.get(b1) and after.get(b1) else None,
                         "weights_ratio": after["weights_mb"] / before["weights_mb"],
                         "accuracy_drop": before["accuracy"] - after["accuracy"], "reload_check": same,
                         # share of test rows where the optimised model predicts what the original did
                         "agreement_with_before": float((before_preds == after_preds).mean()),
                         "threads": opt.latency_threads, "report": report},
        "metrics": {"per_language": after_table, "per_language_before": before_table, **loss_summary(result.log_history)},
        "example_input": texts[0], "usage": usage_snippet(opt.method, "{model}", label_names),
        "summary": (f"{method.description[0].upper()}{method.description[1:]}, applied to `{source}` "
                    f"({', '.join(label_names)}). Measured on the {eval_split} split ({len(test)} rows) on "
                    f"{opt.latency_threads} CPU thread(s); latency is the model alone, tokenisation excluded.\n\n"
                    f"{report}\n\n**Per language**\n\n{langs_md}"),
    }
    if method.gpu_snippet:  # a plain fp32 folder: on a CUDA GPU it also loads in 8 or 4 bits (not measured here)
        new_record["intended_use"] = ("CPU inference as measured below. On a CUDA GPU the same folder loads in 8 or "
                                      "4 bits with bitsandbytes:\n\n```python\n" + bitsandbytes_snippet(str(run.path))
                                      + "\n```")
    path = finish_run(run, new_record)
    write_card(path)  # finish_run renders the card in `<run>.partial`: name the final folder in its snippet
    from lingbridge.hub import push_finished_run

    return push_finished_run(run)  # --push_to_hub: the finished run, as `lingbridge publish` does


if __name__ == "__main__":
    main()
