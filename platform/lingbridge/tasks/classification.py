"""Sequence classification (sentiment is a config of it): labels, tokenisation, metrics, plots."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import UserError
from . import Task, register


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
        from ..languages import check_languages

        if self.train_languages:
            check_languages(self.train_languages, "train_languages")
        if self.selection_languages not in ("source", "all"):
            raise UserError(f"selection_languages must be 'source' or 'all', got '{self.selection_languages}'")
        if self.label_list is not None:
            names = [str(n).strip() for n in self.label_list]
            if any(not n for n in names):
                raise UserError(f"label_list has an empty name: {self.label_list}")
            dup = next((n for n in names if names.count(n) > 1), None)
            if dup is not None:
                raise UserError(f"label_list names {dup!r} twice; give each label once, in id order")
            if len(names) < 2:
                raise UserError(f"label_list needs at least 2 labels, got {self.label_list}")
            self.label_list = names


MAX_LABELS = 1000  # more distinct values than this in a label column is almost always the wrong column


def _label_text(value, where):
    """One label as text: integer-valued floats as integers (an empty CSV cell turns a column of 0/1 into
    0.0/1.0), surrounding spaces dropped; None for a missing label; lists and records are a `UserError`."""
    from ..data.clean import is_missing

    if is_missing(value):
        return None
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (list, dict, tuple)):
        raise UserError(f"{where()}: the label is a {type(value).__name__}, expected one value (a class name "
                        "or number)")
    return str(value).strip()


def _is_integer(text: str) -> bool:
    return text.lstrip("-").isdigit()


def cast_labels(dsd, label_names: list[str] | None, where: str | dict[str, str]):
    """Cast the `label` column to `ClassLabel`.

    Label names come from the config, else from the data (a ClassLabel column, else the sorted
    strings of the training split). A label outside the list is an error naming the row (its line in
    the file when `load_splits` recorded it). Integer labels index the names only when the names are
    known in id order (`label_list`, a ClassLabel column): labels inferred from the data that mix
    numbers and names (`0`, `1`, `2`, `negative`, ...) are an error, not six classes. Rows must have a
    label (`clean_splits` drops and counts the unlabelled ones first). Removes the row-position column.

    Args:
        dsd: the splits, with a `label` column.
        label_names: names in id order, or None to take them from the data.
        where: the data's name, or `{split: file}` (see `lingbridge.data.load.split_sources`).
    """
    from datasets import ClassLabel

    from ..data.load import column_list, drop_positions, row_position

    def name_of(split: str) -> str:
        return where.get(split, next(iter(where.values()), "data")) if isinstance(where, dict) else where

    train_feature = dsd["train"].features["label"]
    ordered = label_names is not None or isinstance(train_feature, ClassLabel)  # names known in id order
    texts: dict[str, list] = {}
    for split, ds in dsd.items():
        feature = ds.features["label"]
        if isinstance(feature, ClassLabel):
            texts[split] = [feature.int2str(v) if v is not None and v >= 0 else None for v in ds["label"]]
        else:
            texts[split] = [_label_text(v, lambda: f"{name_of(split)} ({split} split, {row_position(ds, i)})")
                            for i, v in enumerate(ds["label"])]
        missing = next((i for i, v in enumerate(texts[split]) if v is None), None)
        if missing is not None:
            raise UserError(f"{name_of(split)} ({split} split, {row_position(ds, missing)}): the row has no label; "
                            "fill it in or remove the row")
    if label_names is None:
        if isinstance(train_feature, ClassLabel):
            label_names = list(train_feature.names)
        else:
            values = sorted(set(texts["train"]))
            numbers = [v for v in values if _is_integer(v)]
            if numbers and len(numbers) < len(values):
                names = [v for v in values if not _is_integer(v)]
                raise UserError(
                    f"{name_of('train')}: the labels mix numbers ({', '.join(numbers[:5])}) and names "
                    f"({column_list(names[:5])}); use one vocabulary, or give label_list with the names in id order "
                    "(then 0 means the first name)")
            if numbers:
                values = [str(v) for v in sorted(int(v) for v in values)]
            label_names = values
    label_names = [str(n) for n in label_names]
    if len(set(label_names)) != len(label_names):
        dup = next(n for n in label_names if label_names.count(n) > 1)
        raise UserError(f"label_list names {dup!r} twice; each label once, in id order")
    if len(label_names) < 2:
        raise UserError(f"{name_of('train')}: need at least 2 labels, found {label_names}; set label_list")
    if len(label_names) > MAX_LABELS:
        raise UserError(f"{name_of('train')}: {len(label_names)} distinct labels (more than {MAX_LABELS}); is "
                        "label_column the right column? Give label_list to allow this many classes")
    index = {name: i for i, name in enumerate(label_names)}
    numbered = ordered and not any(_is_integer(n) for n in label_names)
    for split in list(dsd):
        ds = dsd[split]
        feature = ds.features["label"]
        if isinstance(feature, ClassLabel) and list(feature.names) == label_names:
            continue
        ids = []
        for row, v in enumerate(texts[split]):
            if v not in index:
                # integer labels index the names when these are known in id order (0 → first name)
                if numbered and v.isdigit() and int(v) < len(label_names):
                    ids.append(int(v))
                    continue
                raise UserError(
                    f"{name_of(split)} ({split} split, {row_position(ds, row)}): label {v!r} is not one of "
                    f"{_shorten(label_names)}; fix the row, or list every label in label_list (in id order)"
                )
            ids.append(index[v])
        features = ds.features.copy()
        features["label"] = ClassLabel(names=label_names)
        dsd[split] = ds.map(lambda b, idx: {"label": [ids[i] for i in idx]}, batched=True, with_indices=True,
                            features=features, desc=f"Casting {split} labels")
    return drop_positions(dsd), label_names


def _shorten(names: list[str], n: int = 20) -> str:
    return str(names) if len(names) <= n else f"{names[:n]} and {len(names) - n} more"


def tokenize_splits(dsd, tokenizer, max_seq_length: int, pad_to_max_length: bool, num_proc=None,
                    text_pair_column: str | None = None, sort_by_length: tuple[str, ...] = ("dev", "dev_all")):
    """Batched fast-tokenizer map; keeps `label` and `lang`, drops the raw text.

    The splits named in `sort_by_length` (the dev sets, evaluated again and again) are ordered by token
    length: their batches then pad to similar lengths. Their rows keep `label` and `lang`, so the scores
    are unchanged; the test split keeps the data's order (per-row outputs line up with the raw rows).
    """

    def encode(batch):
        pair = batch[text_pair_column] if text_pair_column else None
        return tokenizer(batch["text"], pair, truncation=True, max_length=max_seq_length,
                         padding="max_length" if pad_to_max_length else False)

    keep = {"label", "lang"}
    out = {}
    for split, ds in dsd.items():
        drop = [c for c in ds.column_names if c not in keep]
        enc = ds.map(encode, batched=True, num_proc=num_proc, remove_columns=drop, desc=f"Tokenising {split}")
        if split in sort_by_length and not pad_to_max_length and len(enc):
            lengths = np.fromiter((len(x) for x in enc["input_ids"]), dtype=np.int64, count=len(enc))
            enc = enc.select(np.argsort(lengths, kind="stable"))
        out[split] = enc
    return type(dsd)(out)


def classification_metrics(preds: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Accuracy and macro precision/recall/F1 (scikit-learn; `evaluate.load` needs the network)."""
    from sklearn.metrics import accuracy_score, precision_recall_fscore_support

    p, r, f1, _ = precision_recall_fscore_support(labels, preds, average="macro", zero_division=0)
    return {"accuracy": float(accuracy_score(labels, preds)), "precision": float(p), "recall": float(r),
            "f1": float(f1)}


def compute_metrics(eval_pred) -> dict[str, float]:
    """Trainer's `compute_metrics`: accuracy and macro P/R/F1 of the argmax."""
    return classification_metrics(predictions(eval_pred.predictions), eval_pred.label_ids)


def plot_confusion_matrix(preds, labels, label_names: list[str], path: Path, title: str = "") -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import ConfusionMatrixDisplay, confusion_matrix

    cm = confusion_matrix(labels, preds, labels=list(range(len(label_names))))
    fig, ax = plt.subplots(figsize=(1.2 * len(label_names) + 3, 1.2 * len(label_names) + 2.5))
    ConfusionMatrixDisplay(cm, display_labels=label_names).plot(ax=ax, cmap="Blues", colorbar=False)
    ax.set_title(title or "Confusion matrix (test)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_language_bars(table: dict[str, dict], metric: str, sources: list[str], path: Path) -> Path:
    """Per-language scores as bars, source languages highlighted: the transfer at a glance."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    langs = [lang for lang in table if lang != "all"]
    values = [table[lang][metric] for lang in langs]
    colors = ["#1f77b4" if lang in sources else "#ff7f0e" for lang in langs]
    fig, ax = plt.subplots(figsize=(max(4, 0.7 * len(langs) + 2), 3.5))
    ax.bar(langs, values, color=colors)
    ax.set_ylabel(metric)
    ax.set_ylim(0, 1)
    ax.set_title(f"{metric} per language (blue: trained on, orange: zero-shot)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def predictions(logits) -> np.ndarray:
    """Post-processing: the predicted label id of each row (logits may come as a tuple)."""
    logits = logits[0] if isinstance(logits, tuple) else logits
    return np.argmax(logits, axis=-1)


def collator(tokenizer, pad_to_max_length: bool = False):
    """Dynamic padding (None when every row is already padded to max_seq_length); multiples of 8 on GPUs."""
    import torch
    from transformers import DataCollatorWithPadding

    if pad_to_max_length:
        return None
    return DataCollatorWithPadding(tokenizer, pad_to_multiple_of=8 if torch.cuda.is_available() else None)


def usage(model: str, example, adapter: bool = False) -> str:
    """The model card's snippet: a `pipeline`, or peft's merge first for an unmerged adapter."""
    text = example if isinstance(example, str) and example else "This works really well."
    if adapter:
        return ('from peft import AutoPeftModelForSequenceClassification\n'
                'from transformers import AutoConfig, AutoTokenizer, pipeline\n\n'
                f'labels = AutoConfig.from_pretrained("{model}").id2label\n'
                f'model = AutoPeftModelForSequenceClassification.from_pretrained(\n'
                f'    "{model}", num_labels=len(labels), id2label=labels).merge_and_unload()\n'
                f'classify = pipeline("text-classification", model=model, '
                f'tokenizer=AutoTokenizer.from_pretrained("{model}"), top_k=None)\n'
                f'print(classify({text!r}))')
    return ('from transformers import pipeline\n\n'
            f'classify = pipeline("text-classification", model="{model}", top_k=None)\n'
            f'print(classify({text!r}))')


TASK = register(Task(
    name="classification", pipeline_tag="text-classification", recipes=("finetune_classification",),
    auto_class="AutoModelForSequenceClassification", peft_class="AutoPeftModelForSequenceClassification",
    peft_task_type="SEQ_CLS", headline_metrics=("accuracy", "f1"),
    preprocess=tokenize_splits, collator=collator, metrics=compute_metrics, postprocess=predictions, usage=usage,
))
