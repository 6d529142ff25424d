"""Make classification models smaller and faster: quantisation, pruning, distillation.

`lingbridge optimize RUN_DIR --method dynamic_int8|onnx_int8|magnitude_prune|head_prune|distill`
(the recipe `recipes/optimize.py`) writes a new run directory with the optimised model, a before/after
report and a card. The methods are a registry in `lingbridge.optimize.methods`; this module holds what
reads a teacher and loads the result. It stays light: heavy imports happen inside the functions.
"""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path

from ..errors import UserError


def load_head_pruned(path, auto_class=None):
    """Load a `head_prune` run (see `lingbridge.optimize.prune.load_head_pruned`)."""
    from .prune import load_head_pruned as _load

    return _load(path, auto_class)


def load_optimized(path: str | Path):
    """Load any `lingbridge optimize` output the way its card shows.

    Returns a PyTorch model (dynamic int8 re-applied, or pruned heads rebuilt, where the folder says
    so) or, for an ONNX run, a `lingbridge.optimize.measure.OnnxClassifier` (numpy batch → logits).
    """
    path = Path(path)
    if (path / "model_quantized.onnx").is_file():
        from .measure import OnnxClassifier

        return OnnxClassifier(path / "model_quantized.onnx")
    config = json.loads((path / "config.json").read_text(encoding="utf-8"))
    if config.get("lingbridge_pruned_heads"):
        return load_head_pruned(path)
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(path, use_safetensors=True).eval()
    if config.get("lingbridge_quantization") == "dynamic_int8":
        from .quantize import quantize_dynamic_int8

        model = quantize_dynamic_int8(model)
    return model


def from_record(cls, cfg: dict, keep: dict):
    """Rebuild a dataclass from a run record's config; `keep` holds the user's overrides."""
    values = {f.name: cfg[f.name] for f in fields(cls) if f.init and f.name in cfg}
    values.update({k: v for k, v in keep.items() if v is not None})
    return cls(**values)


def check_source(source: str) -> tuple[dict | None, object]:
    """The teacher's run record (None for a plain folder or Hub id) and its config; refuse non-classifiers."""
    from transformers import AutoConfig

    from ..models import check_model_source
    from ..record import RECORD_NAME, read_record

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


def load_teacher_data(source: str, record: dict | None, model_config, data_args, clean_args, seed: int,
                      training_method: str | None = None) -> dict:
    """The evaluation (and training) rows a teacher was scored on: its run's data config unless the user gave
    data. `training_method`: the method that needs training rows (an error when there are none).

    Returns a dict: train, test, eval_split, label_names, languages, train_languages, sources, cleaning,
    data_args, clean_args.
    """
    from ..config import CleaningArguments, DataArguments
    from ..data import clean_splits, load_splits
    from ..data.load import filter_languages, limit
    from ..tasks.classification import cast_labels

    if not (data_args.dataset_name or data_args.train_file):
        if record is None:
            raise UserError(f"{source} is not a lingbridge run directory: give the evaluation data "
                            "with --dataset_name or --train_file/--test_file")
        cfg = record.get("config", {})
        if cfg.get("text_pair_column"):
            raise UserError(f"{source} is a text-pair classifier; optimize supports single-text classification")
        keep = {"max_train_samples": data_args.max_train_samples, "max_eval_samples": data_args.max_eval_samples}
        data_args = from_record(DataArguments, cfg, keep)
        clean_args = from_record(CleaningArguments, cfg, {})
    label_names = (record or {}).get("label_names") or [model_config.id2label[i] for i in range(model_config.num_labels)]
    where = data_args.dataset_name or data_args.train_file
    needed = {"text": data_args.text_column, "label": data_args.label_column, "lang": data_args.lang_column}
    dsd, sources, languages = load_splits(data_args, needed, seed=seed)
    dsd, cleaning = clean_splits(dsd, clean_args, text_columns=("text",))
    dsd, label_names = cast_labels(dsd, label_names, where)
    eval_split = "test" if "test" in dsd else "validation"
    test = limit(dsd[eval_split], data_args.max_eval_samples)
    train_langs = (record or {}).get("train_languages") or languages
    train = limit(filter_languages({"t": dsd["train"]}, train_langs)["t"], data_args.max_train_samples)
    if len(test) == 0:
        raise UserError(f"no evaluation rows in the {eval_split} split of {where}")
    if training_method and len(train) == 0:
        raise UserError(f"method {training_method} needs training rows, and {where} has none in {train_langs}")

    return {"train": train, "test": test, "eval_split": eval_split, "label_names": label_names, "languages": languages,
            "train_languages": train_langs, "sources": sources, "cleaning": cleaning, "data_args": data_args,
            "clean_args": clean_args}
