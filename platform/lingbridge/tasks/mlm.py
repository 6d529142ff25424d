"""Masked language modelling, XLM-R style: MLM on monolingual lines, TLM on parallel pairs.

TLM (Conneau & Lample, 2019) puts both sides of a translation pair in one sequence,
`<s> A </s></s> B </s>`, and masks them together, so the model can look across languages to fill
a mask. Each side may start with its `<lang_xx>` tag; the pair order alternates so that neither
language always comes first. Perplexity is reported per language.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ..errors import UserError
from ..tokenization import language_tag
from . import Task, register


@dataclass
class PretrainArguments:
    parallel_dataset: str | None = field(
        default="sample:parallel",
        metadata={"help": "Parallel pairs for TLM: 'sample:parallel', a tsv/jsonl file with src_lang, tgt_lang, src, tgt, or none."},
    )
    tlm: bool = field(default=True, metadata={"help": "Add translation language modelling on the parallel pairs."})
    sampling_alpha: float = field(default=0.3, metadata={"help": "XLM-R language sampling exponent: q_i ∝ p_i^α (1 = natural, 0 = uniform)."})
    sampled_rows: int | None = field(default=None, metadata={"help": "Monolingual rows per epoch after language sampling (default: corpus size)."})
    mlm_probability: float = field(default=0.15, metadata={"help": "Share of tokens masked, as in BERT/XLM-R."})
    language_tags: bool = field(default=True, metadata={"help": "Prefix each side of a TLM pair with its <lang_xx> token."})
    pack_sequences: bool = field(
        default=False,
        metadata={"help": "Concatenate monolingual lines into full max_seq_length blocks (run_mlm's group_texts): "
                          "no padding, far better GPU use; per-language evaluation stays line by line."})

    def __post_init__(self):
        if not 0 < self.mlm_probability < 1:
            raise UserError(f"mlm_probability must be in (0, 1), got {self.mlm_probability}")
        if not 0 <= self.sampling_alpha <= 1:
            raise UserError(f"sampling_alpha must be in [0, 1], got {self.sampling_alpha}")
        if self.parallel_dataset in ("none", "None", ""):
            self.parallel_dataset = None


def encode_lines(tokenizer, max_len: int):
    """`datasets.map` function (batched): tokenise monolingual lines, truncated to `max_len`."""

    def encode(batch):
        return tokenizer(batch["text"], truncation=True, max_length=max_len)

    return encode


def encode_pairs(tokenizer, max_len: int, language_tags: bool):
    """`datasets.map` function (batched, `with_indices=True`): TLM pairs as one sequence, `lang` = `src-tgt`."""

    def encode(batch, indices):
        a, b = batch["src"], batch["tgt"]
        if language_tags:
            a = [f"{language_tag(la)} {t}" for la, t in zip(batch["src_lang"], a)]
            b = [f"{language_tag(lb)} {t}" for lb, t in zip(batch["tgt_lang"], b)]
        # both orders, so that neither language always comes first
        first = [x if i % 2 == 0 else y for i, x, y in zip(indices, a, b)]
        second = [y if i % 2 == 0 else x for i, x, y in zip(indices, a, b)]
        enc = tokenizer(first, second, truncation=True, max_length=max_len)
        enc["lang"] = [f"{s}-{t}" for s, t in zip(batch["src_lang"], batch["tgt_lang"])]
        return enc

    return encode


def has_language_tags(tokenizer, languages: list[str]) -> bool:
    vocab = tokenizer.get_vocab()
    return all(language_tag(lang) in vocab for lang in languages)


def pack_blocks(ds, block: int, num_proc=None):
    """Concatenate tokenised lines and cut them into blocks of `block` tokens (run_mlm's `group_texts`;
    the remainder is dropped)."""

    def group(batch):
        ids = [t for seq in batch["input_ids"] for t in seq]
        n = len(ids) // block * block
        blocks = [ids[i : i + block] for i in range(0, n, block)]
        return {"input_ids": blocks, "attention_mask": [[1] * block for _ in blocks]}

    return ds.map(group, batched=True, batch_size=1000, num_proc=num_proc, remove_columns=ds.column_names,
                  desc=f"Packing into blocks of {block}")


def collator(tokenizer, mlm_probability: float = 0.15):
    """Dynamic masking (80% mask, 10% random, 10% kept) and padding; multiples of 8 on GPUs."""
    import torch
    from transformers import DataCollatorForLanguageModeling

    return DataCollatorForLanguageModeling(tokenizer, mlm_probability=mlm_probability,
                                           pad_to_multiple_of=8 if torch.cuda.is_available() else None)


def perplexity_per_language(trainer, evals: dict, languages: list[str], seed: int) -> dict[str, dict]:
    """Masked-LM loss and perplexity on each evaluation set (one per language, plus `tlm`), and an `all`
    row averaging the monolingual ones. The masking seed is fixed so that runs compare."""
    import torch

    table = {}
    for lang, ds in evals.items():
        torch.manual_seed(seed)
        loss = trainer.evaluate(eval_dataset=ds, metric_key_prefix="eval")["eval_loss"]
        table[lang] = {"loss": loss, "perplexity": math.exp(min(loss, 50)), "n": len(ds)}
    mono = [lang for lang in languages if lang in table]
    if mono:
        mean = sum(table[lang]["loss"] for lang in mono) / len(mono)
        table["all"] = {"loss": mean, "perplexity": math.exp(min(mean, 50)), "n": sum(table[lang]["n"] for lang in mono)}
    return table


def usage(model: str, example, adapter: bool = False) -> str:
    return ('from transformers import pipeline\n\n'
            f'fill = pipeline("fill-mask", model="{model}")\nprint(fill("Paris is the <mask> of France."))')


TASK = register(Task(
    name="mlm", pipeline_tag="fill-mask", recipes=("pretrain",), auto_class="AutoModelForMaskedLM",
    peft_class="AutoPeftModel", headline_metrics=("perplexity",), preprocess=encode_lines, collator=collator,
    metrics=perplexity_per_language, usage=usage,
))
