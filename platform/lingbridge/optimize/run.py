"""`lingbridge optimize RUN_DIR --method ...`: a smaller or faster copy of a classification model.

Takes a text-classification run directory (or a Hub id with `--dataset_name`/`--train_file`),
applies one method, measures before vs after on the teacher run's own evaluation split and writes
a new run directory (job `optimize`) with the model, a report table, a plot and a card whose
usage snippet is the call that loads the optimised model.

    lingbridge optimize runs/finetune_classification-<time> --method dynamic_int8
    lingbridge optimize runs/finetune_classification-<time> --method onnx_int8
    lingbridge optimize runs/finetune_classification-<time> --method magnitude_prune --sparsity 0.5 --recovery_steps 100
    lingbridge optimize runs/finetune_classification-<time> --method head_prune --head_fraction 0.25 --recovery_steps 100
    lingbridge optimize runs/finetune_classification-<time> --method distill --student_layers 3 --num_train_epochs 3

Training options for the recovery finetune and the distillation are `TrainingArguments`
(`--learning_rate`, `--per_device_train_batch_size`, `--num_train_epochs`, `--max_steps`, ...).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field, fields
from pathlib import Path

from ..errors import UserError, exit_on_user_error

METHODS = {
    "dynamic_int8": "PyTorch dynamic int8 quantisation of every nn.Linear (CPU)",
    "onnx_int8": "ONNX export + ONNX Runtime dynamic int8 quantisation (CPU)",
    "magnitude_prune": "global magnitude pruning of nn.Linear weights to --sparsity",
    "head_prune": "structured pruning of the least important attention heads (--head_fraction)",
    "distill": "a student with fewer layers (--student_layers) trained on the teacher's logits",
}


@dataclass
class OptimizeArguments:
    model_name_or_path: str | None = field(
        default=None, metadata={"help": "The classification run directory (or Hub id) to optimise; also the first positional argument."})
    method: str | None = field(default=None, metadata={"help": f"One of: {', '.join(METHODS)}."})
    sparsity: float = field(default=0.5, metadata={"help": "magnitude_prune: share of nn.Linear weights set to zero, in (0, 1)."})
    head_fraction: float = field(default=0.25, metadata={"help": "head_prune: share of all attention heads removed, in (0, 1)."})
    importance_batches: int = field(default=8, metadata={"help": "head_prune: training batches used to score the heads."})
    recovery_steps: int = field(default=0, metadata={"help": "Pruning: steps of recovery finetuning afterwards (0: none)."})
    student_layers: int | None = field(default=None, metadata={"help": "distill: student layers (default: half the teacher's)."})
    student_hidden_size: int | None = field(
        default=None, metadata={"help": "distill: student hidden size (default: the teacher's, which lets it start from the teacher's layers)."})
    distill_temperature: float = field(default=2.0, metadata={"help": "distill: softmax temperature T of the soft targets (loss scaled by T²)."})
    distill_alpha: float = field(default=0.5, metadata={"help": "distill: weight of the soft-target KL; 1 - alpha goes to the gold-label CE."})
    latency_runs: int = field(default=20, metadata={"help": "Timed batches per batch size (after 3 warm-up batches)."})
    latency_batch_sizes: list[int] = field(default_factory=lambda: [1, 32], metadata={"help": "Batch sizes timed on the CPU."})
    latency_threads: int = field(
        default=1, metadata={"help": "CPU threads while evaluating and timing: 1 is one serving worker per core, and "
                                     "stays stable on a shared machine (measured: 2 threads on 2 busy cores ran 70x slower)."})

    def __post_init__(self):
        from ..config import did_you_mean

        if not self.model_name_or_path:
            raise UserError("give the run directory to optimise: lingbridge optimize RUN_DIR --method METHOD")
        if not self.method:
            raise UserError(f"--method is required; choose from {', '.join(METHODS)}")
        if self.method not in METHODS:
            raise UserError(f"unknown method '{self.method}'{did_you_mean(self.method, METHODS)}; "
                            f"choose from {', '.join(METHODS)}")
        if not 0 < self.sparsity < 1:
            raise UserError(f"sparsity must be between 0 and 1 (exclusive), got {self.sparsity}")
        if not 0 < self.head_fraction < 1:
            raise UserError(f"head_fraction must be between 0 and 1 (exclusive), got {self.head_fraction}")
        if self.recovery_steps < 0:
            raise UserError(f"recovery_steps must be 0 or more, got {self.recovery_steps}")
        if self.distill_temperature <= 0:
            raise UserError(f"distill_temperature must be positive, got {self.distill_temperature}")
        if not 0 <= self.distill_alpha <= 1:
            raise UserError(f"distill_alpha must be in [0, 1], got {self.distill_alpha}")
        if self.student_layers is not None and self.student_layers < 1:
            raise UserError(f"student_layers must be at least 1, got {self.student_layers}")
        if self.latency_runs < 1 or self.latency_threads < 1 or any(b < 1 for b in self.latency_batch_sizes):
            raise UserError("latency_runs, latency_threads and latency_batch_sizes must be at least 1")


def parse(argv=None):
    """Parse `RUN_DIR --method ... [options]` (the positional run directory becomes `model_name_or_path`)."""
    from transformers import TrainingArguments

    from ..config import CleaningArguments, DataArguments, RunArguments, parse_config

    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and not argv[0].startswith("-"):
        argv = ["--model_name_or_path", argv[0], *argv[1:]]
    return parse_config((OptimizeArguments, DataArguments, CleaningArguments, RunArguments, TrainingArguments), argv)


def _from_record(cls, cfg: dict, keep: dict):
    """Rebuild a dataclass from a run record's config; `keep` holds the user's overrides."""
    values = {f.name: cfg[f.name] for f in fields(cls) if f.init and f.name in cfg}
    values.update({k: v for k, v in keep.items() if v is not None})
    return cls(**values)


def check_source(source: str) -> tuple[dict | None, object]:
    """The teacher's run record (None for a plain folder or Hub id) and its config; refuse non-classifiers."""
    from transformers import AutoConfig

    from ..models import check_model_source
    from ..runs import RECORD_NAME, read_record

    check_model_source(source)
    record = read_record(source) if (Path(source) / RECORD_NAME).is_file() else None
    if record is not None:
        if record.get("pipeline_tag") != "text-classification":
            raise UserError(f"{source} is a '{record.get('job')}' run ({record.get('pipeline_tag')}); "
                            "optimize takes a text-classification run directory")
        if (record.get("lora") or {}).get("kept_unmerged"):
            raise UserError(f"{source} holds an unmerged LoRA adapter; finetune with --merge_lora true to optimise it")
        if record.get("job") == "optimize" and record.get("method") in ("dynamic_int8", "onnx_int8", "head_prune"):
            raise UserError(f"{source} is already optimised ({record['method']}); start from a plain classification run")
    try:
        config = AutoConfig.from_pretrained(source)
    except (OSError, ValueError) as err:
        raise UserError(f"could not load the config of '{source}': {str(err).splitlines()[0]}") from None
    if not any(a.endswith("ForSequenceClassification") for a in (config.architectures or [])):
        raise UserError(f"{source} is not a sequence-classification model (architectures: {config.architectures}); "
                        "optimize takes a text-classification run directory")
    return record, config


def usage_snippet(method: str, path: str, label_names: list[str]) -> str:
    """The call that loads the optimised model, shown in its card."""
    if method == "dynamic_int8":
        return ("import torch\nfrom transformers import AutoModelForSequenceClassification, AutoTokenizer\n\n"
                "# the folder holds fp32 safetensors; dynamic int8 is re-applied at load (deterministic)\n"
                f'model = AutoModelForSequenceClassification.from_pretrained("{path}")\n'
                "model = torch.ao.quantization.quantize_dynamic(model.eval(), {torch.nn.Linear}, dtype=torch.qint8)\n"
                f'tokenizer = AutoTokenizer.from_pretrained("{path}")\n'
                'with torch.inference_mode():\n    logits = model(**tokenizer(["This works really well."], return_tensors="pt")).logits\n'
                "print(model.config.id2label[int(logits.argmax(-1))])")
    if method == "onnx_int8":
        return ("import onnxruntime as ort\nfrom transformers import AutoConfig, AutoTokenizer\n\n"
                f'session = ort.InferenceSession("{path}/model_quantized.onnx", providers=["CPUExecutionProvider"])\n'
                f'tokenizer = AutoTokenizer.from_pretrained("{path}")\n'
                'batch = tokenizer(["This works really well."], return_tensors="np")\n'
                "feeds = {i.name: batch[i.name].astype('int64') for i in session.get_inputs()}\n"
                "logits = session.run(None, feeds)[0]\n"
                f'print(AutoConfig.from_pretrained("{path}").id2label[int(logits.argmax(-1)[0])])')
    if method == "head_prune":
        return ("from transformers import AutoTokenizer, pipeline\n\n"
                "from lingbridge.optimize import load_head_pruned\n\n"
                "# v5 has no prune_heads: the pruned shapes are rebuilt from config.lingbridge_pruned_heads\n"
                f'model = load_head_pruned("{path}")\n'
                f'classify = pipeline("text-classification", model=model, tokenizer=AutoTokenizer.from_pretrained("{path}"))\n'
                'print(classify("This works really well."))')
    return (f'from transformers import pipeline\n\nclassify = pipeline("text-classification", model="{path}")\n'
            'print(classify("This works really well."))')


@exit_on_user_error
def main(argv=None) -> Path:
    """Run `lingbridge optimize`; returns the new run directory."""
    opt, data_args, clean_args, run_args, training_args, config_path = parse(argv)
    source = opt.model_name_or_path
    record, model_config = check_source(source)
    if opt.method == "onnx_int8":
        try:
            import onnxruntime  # noqa: F401
        except ImportError:
            raise UserError("method onnx_int8 needs onnxruntime and onnx: pip install 'lingbridge[onnx]'") from None

    import copy

    import numpy as np
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding, set_seed

    from ..config import CleaningArguments, DataArguments
    from ..data import clean_splits, load_splits
    from ..data.load import filter_languages, limit
    from ..evaluation import per_language
    from ..runs import config_dict
    from ..tasks.classification import cast_labels, classification_metrics, tokenize_splits
    from ..training import finish_run, logger, prepare_run, setup_logging, start_run
    from . import measure

    setup_logging(training_args)
    set_seed(training_args.seed)
    run = start_run("optimize", run_args, training_args)

    # ---- the teacher's data: the same evaluation split it was scored on ----------------------------
    if not (data_args.dataset_name or data_args.train_file):
        if record is None:
            raise UserError(f"{source} is not a lingbridge run directory: give the evaluation data "
                            "with --dataset_name or --train_file/--test_file")
        cfg = record.get("config", {})
        if cfg.get("text_pair_column"):
            raise UserError(f"{source} is a text-pair classifier; optimize supports single-text classification")
        keep = {"max_train_samples": data_args.max_train_samples, "max_eval_samples": data_args.max_eval_samples}
        data_args = _from_record(DataArguments, cfg, keep)
        clean_args = _from_record(CleaningArguments, cfg, {})
    label_names = (record or {}).get("label_names") or [model_config.id2label[i] for i in range(model_config.num_labels)]
    where = data_args.dataset_name or data_args.train_file
    needed = {"text": data_args.text_column, "label": data_args.label_column, "lang": data_args.lang_column}
    dsd, sources, languages = load_splits(data_args, needed, seed=training_args.seed)
    dsd, cleaning = clean_splits(dsd, clean_args, text_columns=("text",))
    dsd, label_names = cast_labels(dsd, label_names, where)
    eval_split = "test" if "test" in dsd else "validation"
    test = limit(dsd[eval_split], data_args.max_eval_samples)
    train_langs = (record or {}).get("train_languages") or languages
    train = limit(filter_languages({"t": dsd["train"]}, train_langs)["t"], data_args.max_train_samples)
    if len(test) == 0:
        raise UserError(f"no evaluation rows in the {eval_split} split of {where}")
    needs_training = opt.method == "distill" or opt.recovery_steps > 0 or opt.method == "head_prune"
    if needs_training and len(train) == 0:
        raise UserError(f"method {opt.method} needs training rows, and {where} has none in {train_langs}")

    prepare_run(run)

    # ---- the teacher, measured -------------------------------------------------------------------
    tokenizer = AutoTokenizer.from_pretrained(source)
    teacher = AutoModelForSequenceClassification.from_pretrained(source, use_safetensors=True).eval()
    max_len = data_args.max_seq_length
    texts, langs, gold = list(test["text"]), np.array(test["lang"]), np.array(test["label"])

    def evaluate(classifier):
        with measure.cpu_threads(opt.latency_threads):
            preds = measure.predict(classifier, tokenizer, texts, max_len)
        return per_language(classification_metrics, langs, preds, gold), preds

    fp32_mb = sum(t.numel() * t.element_size() for t in teacher.state_dict().values()) / 2**20
    source_disk = measure.weights_size_mb(source) if Path(source).is_dir() else fp32_mb
    before_params = measure.count_weights(teacher)
    logger.info("evaluating the teacher (%s)", source)
    before_table, before_preds = evaluate(measure.TorchClassifier(teacher))

    enc_train = None
    collator = DataCollatorWithPadding(tokenizer)
    if needs_training:
        enc_train = tokenize_splits(type(dsd)({"train": train}), tokenizer, max_len, False)["train"].remove_columns("lang")

    def recover(model) -> list:
        """A short finetune of the whole model (pruning masks stay applied while it trains)."""
        if not opt.recovery_steps:
            return []
        from transformers import Trainer

        from ..training import use_mean_loss

        training_args.max_steps = opt.recovery_steps
        trainer = Trainer(model=use_mean_loss(model), args=training_args, train_dataset=enc_train,
                          data_collator=collator, processing_class=tokenizer)
        trainer.train()
        return trainer.state.log_history

    # ---- the method --------------------------------------------------------------------------------
    details: dict = {}
    log_history: list = []
    work = run.work
    if opt.method == "dynamic_int8":
        from .quantize import quantize_dynamic_int8

        model = quantize_dynamic_int8(copy.deepcopy(teacher))
        teacher.config.lingbridge_quantization = "dynamic_int8"  # marks the folder; weights stay fp32
        teacher.save_pretrained(work)
        classifier, weights_mb = measure.TorchClassifier(model), measure.serialized_size_mb(model)
        details = {"stored_as": "fp32 safetensors, int8 re-applied at load", "quantized_modules": "torch.nn.Linear"}
    elif opt.method == "onnx_int8":
        from .quantize import ONNX_FILE, ONNX_INT8_FILE, check_onnx, export_onnx, quantize_onnx_int8

        export_onnx(teacher, tokenizer, work / ONNX_FILE)
        export_diff = check_onnx(teacher, tokenizer, work / ONNX_FILE, texts)
        quantize_onnx_int8(work / ONNX_FILE, work / ONNX_INT8_FILE)
        (work / ONNX_FILE).unlink()  # the run holds what is deployed: the int8 graph
        teacher.config.save_pretrained(work)  # label names for whoever reads the outputs
        classifier = model = measure.OnnxClassifier(work / ONNX_INT8_FILE, threads=opt.latency_threads)
        weights_mb = measure.weights_size_mb(work, [ONNX_INT8_FILE])
        details = {"file": ONNX_INT8_FILE, "fp32_export_max_abs_diff": export_diff, "exporter": "torch.onnx (TorchScript)", "quantizer": "onnxruntime quantize_dynamic QInt8"}
    elif opt.method == "magnitude_prune":
        from .prune import linear_sparsity, magnitude_prune, make_permanent

        model = magnitude_prune(copy.deepcopy(teacher), opt.sparsity)
        log_history = recover(model)
        model = make_permanent(model).cpu().eval()  # measured on the CPU even if the recovery ran on a GPU
        model.save_pretrained(work)
        classifier, weights_mb = measure.TorchClassifier(model), fp32_mb
        details = {"target_sparsity": opt.sparsity, "linear_sparsity": linear_sparsity(model),
                   "recovery_steps": opt.recovery_steps}
    elif opt.method == "head_prune":
        from .prune import choose_heads, count_heads, head_importance, prune_heads

        model = copy.deepcopy(teacher)
        loader = [collator([enc_train[j] for j in range(i, min(i + 16, len(enc_train)))])
                  for i in range(0, min(len(enc_train), 16 * opt.importance_batches), 16)]
        importance = head_importance(model, loader)
        chosen = choose_heads(importance, opt.head_fraction)
        heads_before = count_heads(model)
        prune_heads(model, chosen)
        log_history = recover(model)
        model = model.cpu().eval()
        model.save_pretrained(work)
        classifier = measure.TorchClassifier(model)
        weights_mb = sum(t.numel() * t.element_size() for t in model.state_dict().values()) / 2**20
        details = {"head_fraction": opt.head_fraction, "pruned_heads": {str(k): v for k, v in chosen.items()},
                   "heads_before": heads_before, "heads_after": count_heads(model),
                   "importance": importance.tolist(), "recovery_steps": opt.recovery_steps}
    else:  # distill
        from .distill import DistillationTrainer, make_student, teacher_logits

        from ..training import use_mean_loss

        model, init = make_student(teacher, opt.student_layers, opt.student_hidden_size)
        enc_train = enc_train.add_column("teacher_logits", teacher_logits(teacher, enc_train, collator))
        training_args.remove_unused_columns = False  # keep teacher_logits for compute_loss
        trainer = DistillationTrainer(model=use_mean_loss(model), args=training_args, train_dataset=enc_train,
                                      data_collator=collator, processing_class=tokenizer,
                                      temperature=opt.distill_temperature, alpha=opt.distill_alpha)
        trainer.train()
        log_history = trainer.state.log_history
        model = model.cpu().eval()
        model.save_pretrained(work)
        classifier = measure.TorchClassifier(model)
        weights_mb = sum(t.numel() * t.element_size() for t in model.state_dict().values()) / 2**20
        details = {"student_init": init, "teacher_layers": teacher.config.num_hidden_layers,
                   "student_layers": model.config.num_hidden_layers, "student_hidden_size": model.config.hidden_size,
                   "temperature": opt.distill_temperature, "alpha": opt.distill_alpha, "train_rows": len(enc_train)}
    tokenizer.save_pretrained(work)
    (work / "training_args.bin").unlink(missing_ok=True)

    params = measure.count_weights(model) if opt.method != "onnx_int8" else before_params  # same weights, int8
    logger.info("evaluating the %s model and timing both", opt.method)
    after_table, after_preds = evaluate(classifier)
    with measure.cpu_threads(opt.latency_threads):
        timings = measure.measure_latency({"before": measure.TorchClassifier(teacher), "after": classifier}, tokenizer,
                                          texts, max_len, opt.latency_batch_sizes, opt.latency_runs)
    before_latency, after_latency = timings["before"], timings["after"]
    before = measure.summarize({"weights_mb": fp32_mb, "disk_mb": source_disk}, before_params, before_latency, before_table)
    after = measure.summarize({"weights_mb": weights_mb, "disk_mb": measure.weights_size_mb(work)}, params,
                              after_latency, after_table)

    # ---- the saved folder loads with the card's call and gives the same predictions -------------
    from . import load_optimized

    reloaded = load_optimized(work)
    reloaded = reloaded if isinstance(reloaded, measure.OnnxClassifier) else measure.TorchClassifier(reloaded)
    sample = texts[:64]
    with measure.cpu_threads(opt.latency_threads):
        same = bool((measure.predict(reloaded, tokenizer, sample, max_len)
                     == measure.predict(classifier, tokenizer, sample, max_len)).all())
    if not same:
        raise RuntimeError("the saved model does not reproduce the measured predictions")

    # ---- report: one table, one plot, the record ---------------------------------------------------
    report = measure.report_table(before, after, opt.method)
    langs_md = measure.language_table(before_table, after_table)
    measure.plot_report(before, after, before_table, after_table, opt.method, work / "optimization_report.png")
    (work / "optimization_report.md").write_text(
        f"# {opt.method}: {METHODS[opt.method]}\n\nSource: `{source}`\n\n{report}\n\n## Per language\n\n{langs_md}\n",
        encoding="utf-8")
    if log_history:
        from ..training import plot_loss_curves

        plot_loss_curves(log_history, work / "loss.png", f"{opt.method}: training loss")
    b1 = "b1_p50"
    speedup = before[b1] / after[b1] if before.get(b1) and after.get(b1) else None
    logger.info("%s\n\n%s", report, langs_md)
    teacher_record = record or {}
    new_record = {
        "job": "optimize", "method": opt.method, "method_description": METHODS[opt.method],
        "task": "text-classification", "pipeline_tag": "text-classification",
        "languages": languages, "train_languages": train_langs, "label_names": label_names, "eval_split": eval_split,
        "config_file": config_path,
        "config": config_dict(opt, data_args, clean_args, run_args, training_args),
        "source_run": str(source), "base_model": teacher_record.get("base_model") or str(source),
        "init": str(source), "data_sources": teacher_record.get("data_sources") or sources,
        "cleaning": teacher_record.get("cleaning") or cleaning,
        "rows": {eval_split: len(test), **({"train": len(train)} if needs_training else {})},
        "parameters": {"total": params["total"], "trainable": params["total"]},
        "optimization": {"method": opt.method, **details, "before": before, "after": after,
                         "latency_before": before_latency, "latency_after": after_latency,
                         "speedup_batch_1_p50": speedup, "weights_ratio": after["weights_mb"] / before["weights_mb"],
                         "accuracy_drop": before["accuracy"] - after["accuracy"], "reload_check": same,
                         # share of test rows where the optimised model predicts what the original did
                         "agreement_with_before": float((before_preds == after_preds).mean()),
                         "threads": opt.latency_threads, "report": report},
        "metrics": {"per_language": after_table, "per_language_before": before_table},
        "example_input": texts[0],
        "usage": usage_snippet(opt.method, "{model}", label_names),
        "summary": (f"{METHODS[opt.method][0].upper()}{METHODS[opt.method][1:]}, applied to `{source}` "
                    f"({', '.join(label_names)}). Measured on the {eval_split} split ({len(test)} rows) on "
                    f"{opt.latency_threads} CPU thread(s); latency is the model alone, tokenisation excluded.\n\n"
                    f"{report}\n\n**Per language**\n\n{langs_md}"),
    }
    if opt.method in ("dynamic_int8", "magnitude_prune", "distill"):
        from .quantize import bitsandbytes_snippet

        # a plain fp32 folder: on a CUDA GPU it also loads in 8 or 4 bits (not measured here)
        new_record["intended_use"] = ("CPU inference as measured below. On a CUDA GPU the same folder loads in 8 or "
                                      "4 bits with bitsandbytes:\n\n```python\n" + bitsandbytes_snippet(str(run.path))
                                      + "\n```")
    if log_history:
        from ..training import loss_summary

        new_record["metrics"].update(loss_summary(log_history))
    path = finish_run(run, new_record)
    from ..cards import write_card

    write_card(path)  # finish_run renders the card in `<run>.partial`: name the final folder in its snippet
    return path
