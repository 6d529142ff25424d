"""Training-data augmentation: noise (random deletion, swap, masking) and back-translation.

Augmentation only ever adds rows to the training split: the dev and test sets stay what the
user gave, so scores stay comparable with and without it. Every method is seeded, and the
share of augmented rows is returned for the run record.

Noise works on words, or on characters for text written without spaces (Chinese, Japanese,
Thai), following EDA (Wei & Zou, 2019). Back-translation (Sennrich et al., 2016) sends each
text to a pivot language and back with two `transformers` seq2seq models (a Hub MT model such
as `Helsinki-NLP/opus-mt-de-en` + `opus-mt-en-de`, a local folder, or a lingbridge translation
run directory), so the copy keeps the meaning and label but changes the wording.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field

from ..errors import UserError

NOISE_METHODS = ("deletion", "swap", "mask")
METHODS = (*NOISE_METHODS, "backtranslation")


@dataclass
class AugmentationArguments:
    augment: str | None = field(
        default=None, metadata={"help": "Comma-separated augmentations of the training split: "
                                        f"{', '.join(METHODS)} (default: none)."})
    augment_rate: float = field(
        default=0.1, metadata={"help": "Noise: share of the words (characters for CJK) deleted, swapped or masked."})
    augment_fraction: float = field(
        default=1.0, metadata={"help": "Share of training rows that get one augmented copy per method."})
    augment_mask_token: str | None = field(
        default=None, metadata={"help": "Replacement for masked words (default: the tokenizer's mask token)."})
    backtranslation_model: str | None = field(
        default=None, metadata={"help": "Seq2seq model (Hub id, folder or translation run) translating the texts to the pivot."})
    backtranslation_back_model: str | None = field(
        default=None, metadata={"help": "Seq2seq model translating the pivot back (default: backtranslation_model)."})
    backtranslation_pivot: str | None = field(
        default=None, metadata={"help": "Pivot language code: rows are grouped by language and each direction (lang → "
                                        "pivot → lang) is told to a multilingual model or a translation run (prefix, "
                                        "language codes); rows in the pivot language are skipped. Default: the models' own direction."})
    backtranslation_languages: list[str] | None = field(
        default=None, metadata={"help": "Back-translate rows of these languages only, the ones the model reads "
                                        "(default: every training language)."})
    backtranslation_batch_size: int = field(default=16, metadata={"help": "Texts per generate() call."})
    backtranslation_max_length: int = field(default=128, metadata={"help": "Longest generated translation in tokens."})

    def __post_init__(self):
        if self.augment in (None, "", "none", "None"):
            self.augment = None
        for method in self.methods:
            if method not in METHODS:
                from ..config import did_you_mean

                raise UserError(f"augment: unknown method '{method}'{did_you_mean(method, METHODS)}; "
                                f"choose from {', '.join(METHODS)}")
        if not 0 <= self.augment_rate < 1:
            raise UserError(f"augment_rate must be in [0, 1), got {self.augment_rate}")
        if not 0 < self.augment_fraction <= 1:
            raise UserError(f"augment_fraction must be in (0, 1], got {self.augment_fraction}")
        if "backtranslation" in self.methods and not self.backtranslation_model:
            raise UserError("augment=backtranslation needs backtranslation_model (and backtranslation_back_model "
                            "unless one model translates both ways)")
        from ..languages import check_languages

        if self.backtranslation_languages:
            check_languages(self.backtranslation_languages, "backtranslation_languages")
        if self.backtranslation_pivot:
            check_languages([self.backtranslation_pivot], "backtranslation_pivot")
        if self.backtranslation_batch_size < 1 or self.backtranslation_max_length < 1:
            raise UserError("backtranslation_batch_size and backtranslation_max_length must be at least 1")

    @property
    def methods(self) -> list[str]:
        return [m.strip() for m in (self.augment or "").split(",") if m.strip()]


# ---- noise ------------------------------------------------------------------------------------------


_NO_SPACES = re.compile("[\u0e00-\u0e7f\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff]")  # Thai, kana, CJK


def _units(text: str) -> tuple[list[str], str]:
    """Words joined by spaces, or characters for a text in a script written without spaces."""
    words = text.split()
    return (list(text), "") if len(words) == 1 and _NO_SPACES.search(text) else (words, " ")


def noise_text(text: str, method: str, rate: float, rng: random.Random, mask_token: str = "<mask>") -> str:
    """Apply one noise method to a text.

    Args:
        text: the input text.
        method: `deletion` (drop each unit with probability `rate`, keeping at least one), `swap`
            (swap `rate × length` random pairs of units) or `mask` (replace each unit by `mask_token`
            with probability `rate`).
        rate: share of units affected.
        rng: the seeded random generator (shared across a split, so one seed gives one result).
        mask_token: replacement for masked units.
    """
    units, sep = _units(text)
    if len(units) < 2 or rate == 0:
        return text
    if method == "deletion":
        kept = [u for u in units if rng.random() >= rate]
        units = kept or [rng.choice(units)]
    elif method == "swap":
        units = list(units)
        for _ in range(max(1, round(rate * len(units)))):
            i, j = rng.sample(range(len(units)), 2)
            units[i], units[j] = units[j], units[i]
    elif method == "mask":
        units = [mask_token if rng.random() < rate else u for u in units]
        if not sep:  # CJK: spaces around the mask so that the tokenizer sees it as one token
            return "".join(f" {u} " if u == mask_token else u for u in units).strip()
    else:
        raise UserError(f"unknown noise method '{method}'; choose from {', '.join(NOISE_METHODS)}")
    return sep.join(units)


# ---- the training split --------------------------------------------------------------------------------


def augment_train(train, args: AugmentationArguments, seed: int, mask_token: str | None = None,
                  back_translate=None):
    """Add augmented copies of training rows (columns `text`, `label`, optional `lang`).

    Each method copies a seeded random `augment_fraction` of the original rows; a copy identical to
    its original (a one-word text) is dropped. Call this on the training split only.

    Args:
        back_translate: for `backtranslation`, a function `(texts, forward, backward, batch_size,
            max_length, lang, pivot) -> (back-translated texts, pivot texts)`; the translation task's
            `lingbridge.tasks.translation.back_translate` (data sits below the models it needs).

    Returns:
        (the augmented `Dataset`, a record: methods, rate, rows before/added, augmented share per
        method and per language, and a few examples).
    """
    from datasets import Dataset, concatenate_datasets

    methods = args.methods
    if not methods:
        return train, None
    rng = random.Random(seed)
    rows = train.to_list()
    mask = args.augment_mask_token or mask_token or "<mask>"
    added: list[dict] = []
    info: dict = {"methods": methods, "rate": args.augment_rate, "fraction": args.augment_fraction,
                  "rows_before": len(rows), "added": {}, "examples": []}
    for method in methods:
        picked = [r for r in rows if rng.random() < args.augment_fraction]
        if method == "backtranslation":
            if back_translate is None:
                raise UserError("augment=backtranslation needs a back-translation function (the recipe passes "
                                "lingbridge.tasks.translation.back_translate)")
            langs, pivot = args.backtranslation_languages, args.backtranslation_pivot
            picked = [r for r in picked if (not langs or r.get("lang") in langs) and (not pivot or r.get("lang") != pivot)]
            texts, pivots = [], []
            # one language at a time: a multilingual model is told each direction
            groups = sorted({r.get("lang") for r in picked}, key=str) if pivot else [None]
            picked = [r for g in groups for r in picked if g is None or r.get("lang") == g]
            for group in groups:
                rows_of = [r["text"] for r in picked if group is None or r.get("lang") == group]
                back, middle = back_translate(rows_of, args.backtranslation_model, args.backtranslation_back_model,
                                              args.backtranslation_batch_size, args.backtranslation_max_length,
                                              group, pivot) if rows_of else ([], [])
                texts += back
                pivots += middle
        else:
            texts = [noise_text(r["text"], method, args.augment_rate, rng, mask) for r in picked]
            pivots = [None] * len(texts)
        new = [{**r, "text": t} for r, t in zip(picked, texts) if t.strip() and t != r["text"]]
        added.extend(new)
        info["added"][method] = len(new)
        info["examples"] += [{"method": method, "original": r["text"], "augmented": t,
                              **({"pivot": p} if p is not None else {})}
                             for r, t, p in list(zip(picked, texts, pivots))[:2]]
    info["rows_added"] = len(added)
    info["rows_after"] = len(rows) + len(added)
    info["share"] = round(len(added) / info["rows_after"], 4)  # augmented rows / rows trained on
    if "lang" in train.column_names:
        per_lang: dict[str, dict] = {}
        for r in rows:
            per_lang.setdefault(r["lang"], {"rows": 0, "added": 0})["rows"] += 1
        for r in added:
            per_lang[r["lang"]]["added"] += 1
        info["per_language"] = {k: {**v, "share": round(v["added"] / (v["rows"] + v["added"]), 4)}
                                for k, v in sorted(per_lang.items())}
    if not added:
        return train, info
    extra = Dataset.from_list(added, features=train.features)
    return concatenate_datasets([train, extra]), info
