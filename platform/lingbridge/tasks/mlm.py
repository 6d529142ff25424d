"""Masked language modelling, XLM-R style: MLM on monolingual lines, TLM on parallel pairs.

TLM (Conneau & Lample, 2019) puts both sides of a translation pair in one sequence,
`<s> A </s></s> B </s>`, and masks them together, so the model can look across languages to fill
a mask. Each side may start with its `<lang_xx>` tag; the pair order alternates so that neither
language always comes first. Perplexity is reported per language.
"""

from __future__ import annotations

import math
import os
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
    sparse_prediction: bool = field(
        default=True,
        metadata={"help": "In training, project only the masked positions onto the vocabulary (ModernBERT's sparse "
                          "prediction): the same loss and gradients without the ~85% of the MLM head's work that no "
                          "loss reads (BERT- and RoBERTa-style heads; others train as usual)."})
    head_warmup_steps: int = field(
        default=0,
        metadata={"help": "Train only the MLM head for the first N optimizer steps, then everything: for a checkpoint "
                          "whose MLM head is new (sentence-transformers and distilled checkpoints ship none), so a "
                          "random head does not rewrite the encoder it sits on."})
    head_warmup_learning_rate: float | None = field(
        default=None,
        metadata={"help": "Learning rate of the head alone during head_warmup_steps (default: the schedule's). A new "
                          "head is a probe on a still encoder: it takes a rate 10-100x the encoder's, which would "
                          "rewrite the encoder if it trained too. The logged learning_rate stays the schedule's."})
    language_tags: bool = field(default=True, metadata={"help": "Prefix each side of a TLM pair with its <lang_xx> token."})
    pack_sequences: bool | None = field(
        default=None,
        metadata={"help": "Concatenate monolingual lines into full max_seq_length blocks (run_mlm's group_texts): "
                          "no padding, far better GPU use; per-language evaluation stays line by line. "
                          "On by default, as in run_mlm.py; off (one example per line) with --line_by_line."})
    config_overrides: str | None = field(
        default=None, metadata={"help": "From-scratch models: config values to change, e.g. 'num_hidden_layers=4,hidden_size=256'."})
    # ---- streaming (corpora larger than memory) ----
    streaming: bool = field(
        default=False, metadata={"help": "Stream the corpus (Hub streaming, local shard folders) instead of loading it; needs max_steps."})
    stream_corpus: list[str] | None = field(
        default=None,
        metadata={"help": "Monolingual streams, one per language: 'en=/data/en/' (folder of txt/jsonl/parquet/tsv shards), "
                          "'de=/data/de/*.jsonl.gz' (pattern), 'zh=hub:allenai/c4:zh' (Hub, streamed), 'sample:corpus'."})
    mlm_on_parallel: bool = field(
        default=False, metadata={"help": "Streaming: both sides of every parallel pair are MLM text too."})
    tlm_ratio: float = field(default=0.3, metadata={"help": "Streaming: share of training sequences that are TLM pairs."})
    shuffle_buffer: int = field(
        default=10000, metadata={"help": "Streaming: rows in each stream's shuffle buffer (0 = file order; exact resume)."})
    stream_sizes: str = field(
        default="metadata", metadata={"help": "Streaming: sizes for q ∝ p^α from 'metadata' (file bytes, Hub split info) or a 'count' pass."})
    tokenizer_rows: int = field(
        default=200000, metadata={"help": "Streaming: language-sampled rows the tokenizer trains on (a row budget)."})
    eval_rows: int = field(
        default=200, metadata={"help": "Streaming: rows (pairs) held out at the head of each stream for per-language perplexity."})

    def __post_init__(self):
        if not 0 < self.mlm_probability < 1:
            raise UserError(f"mlm_probability must be in (0, 1), got {self.mlm_probability}")
        if not 0 <= self.sampling_alpha <= 1:
            raise UserError(f"sampling_alpha must be in [0, 1], got {self.sampling_alpha}")
        if self.parallel_dataset in ("none", "None", ""):
            self.parallel_dataset = None
        if self.pack_sequences is None:
            self.pack_sequences = True  # run_mlm's default: full blocks, no padding (--line_by_line turns it off)
        if not 0 <= self.tlm_ratio < 1:
            raise UserError(f"tlm_ratio must be in [0, 1), got {self.tlm_ratio}")
        if self.head_warmup_steps < 0:
            raise UserError(f"head_warmup_steps must be >= 0, got {self.head_warmup_steps}")
        if self.head_warmup_learning_rate is not None and not (self.head_warmup_learning_rate > 0 and self.head_warmup_steps):
            raise UserError(f"head_warmup_learning_rate ({self.head_warmup_learning_rate}) needs head_warmup_steps > 0 "
                            "and a rate > 0")
        if self.shuffle_buffer < 0 or self.eval_rows < 0 or self.tokenizer_rows < 1:
            raise UserError("shuffle_buffer and eval_rows must be >= 0 and tokenizer_rows >= 1, got "
                            f"{self.shuffle_buffer}, {self.eval_rows}, {self.tokenizer_rows}")
        if self.stream_sizes not in ("metadata", "count"):
            raise UserError(f"stream_sizes must be 'metadata' or 'count', got '{self.stream_sizes}'")
        if (self.stream_corpus or self.mlm_on_parallel) and not self.streaming:
            raise UserError("stream_corpus and mlm_on_parallel need --streaming true")
        if self.streaming and not self.stream_corpus and not (self.mlm_on_parallel and self.parallel_dataset):
            raise UserError("streaming needs stream_corpus (e.g. 'en=/data/en/') or mlm_on_parallel with a parallel_dataset")


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


def head_warmup(steps: int, learning_rate: float | None = None):
    """A callback that keeps the encoder (`model.base_model`, tied input embeddings included) still for the first
    `steps` optimizer steps while the head learns: it drops the encoder's gradients just before each of those
    steps (AdamW skips a parameter without one); in one process it freezes the encoder instead, which also
    spares the encoder's backward pass. With `learning_rate`, those steps run at that rate instead of
    the schedule's (the scheduler sets its own again right after each step, so the encoder's schedule is
    untouched). Gradients are dropped after DDP has averaged them, so every
    rank drops the same ones; nothing is re-wrapped or re-created. The parameters are the live model's at each
    step: FSDP2 replaces them with sharded ones when the Trainer prepares the model. A resumed run past `steps`
    trains everything. DeepSpeed and FSDP1 keep gradients outside the parameters: `head_warmup_engine` refuses
    them before the run starts."""
    from transformers import TrainerCallback

    class HeadWarmup(TrainerCallback):
        frozen = False

        def freeze(self, model, frozen: bool):
            if frozen != self.frozen:
                for p in model.base_model.parameters():
                    p.requires_grad_(not frozen)
                self.frozen = frozen

        def on_step_begin(self, args, state, control, model=None, **kwargs):
            # one process: freeze the encoder outright, so backward stops at the head (a head-only step costs a
            # fraction of a full one, and clipping sees the head's gradients only). DDP and FSDP expect every
            # parameter they wrapped to get a gradient, so there the gradients are dropped instead (below).
            if args.world_size == 1 and fsdp_version(args) is None:
                self.freeze(model, state.global_step < steps)

        def on_train_end(self, args, state, control, model=None, **kwargs):
            self.freeze(model, False)

        def on_pre_optimizer_step(self, args, state, control, model=None, optimizer=None, **kwargs):
            if state.global_step < steps:
                for p in model.base_model.parameters():
                    p.grad = None
                if learning_rate is not None:
                    for group in optimizer.param_groups:
                        group["lr"] = learning_rate

    return HeadWarmup()


def head_warmup_engine(training_args) -> str | None:
    """The distributed engine that `--head_warmup_steps` cannot hold the encoder still under, or None.

    DeepSpeed's optimizer steps on its own flat copies of the gradients and FSDP1 flattens the parameters, so
    dropping a parameter's gradient changes nothing there; DDP, FSDP2 and one process are fine. Read from
    accelerate launch's environment (the recipes' way) and from `--deepspeed` / `--fsdp` (Trainer's own).
    """
    if training_args.deepspeed or os.environ.get("ACCELERATE_USE_DEEPSPEED", "").lower() == "true":
        return "DeepSpeed"
    return "FSDP version 1" if fsdp_version(training_args) == 1 else None


def fsdp_version(training_args) -> int | None:
    """The FSDP version a run uses (1 or 2), or None without FSDP: from accelerate launch's environment (its
    default is 1) or from the Trainer's own `--fsdp` (whose config defaults to 2 here)."""
    env = os.environ
    if env.get("ACCELERATE_USE_FSDP", "").lower() == "true":
        return int(env.get("FSDP_VERSION", "1"))
    if training_args.fsdp:
        return int((training_args.fsdp_config or {}).get("version", 2))
    return None


def predict_masked_only(model) -> bool:
    """In training, compute the MLM head on the masked positions only (what ModernBERT calls sparse prediction).

    The loss is a mean over masked positions (labels != -100), so the logits of every other position are
    computed and thrown away: with a small model that is most of a step (the vocabulary projection of all
    batch × length positions). Two forward pre-hooks keep the model's own forward and loss: one takes the mask
    from `labels` and passes on the masked labels only, the other hands the head just those positions'
    hidden states. Same loss and gradients; evaluation is untouched. Returns False (nothing changed) for a
    head it does not know: BERT's `cls` and the RoBERTa family's `lm_head` are known.
    """
    head = getattr(model, "lm_head", None) or getattr(model, "cls", None)
    if head is None or not hasattr(model, "base_model"):
        return False
    keep = {}

    def take_labels(module, args, kwargs):
        labels = kwargs.get("labels")
        keep["mask"] = labels != -100 if labels is not None and module.training else None
        return None if keep["mask"] is None else (args, {**kwargs, "labels": labels[keep["mask"]]})

    def select_positions(module, args):
        return None if keep.get("mask") is None else (args[0][keep["mask"]], *args[1:])

    model.register_forward_pre_hook(take_labels, with_kwargs=True)
    head.register_forward_pre_hook(select_positions)
    return True


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


# ---- the pretraining data: in memory (load → clean → sample) or streamed --------------------------------


def check_streaming(args, training_args) -> None:
    """Streaming needs a step budget and the stream in the main process (its position is saved there)."""
    if not args.streaming:
        return
    if training_args.max_steps is None or training_args.max_steps <= 0:
        raise UserError("streaming: set max_steps (a stream has no length, so epochs are undefined)")
    if training_args.dataloader_num_workers:
        raise UserError("streaming: dataloader_num_workers must be 0 (the stream's position, saved with each "
                        "checkpoint for resume, lives in the main process)")


class InMemoryCorpus:
    """The corpus loaded whole: load → clean → language sampling by index (`sample_by_language`).

    Cleaning runs in this process (`clean_splits`) or, with `cleaning_engine: datatrove`, as the datatrove
    pipeline (`clean_splits_datatrove`: same rules and counts; local processes, Slurm or Ray), whose
    cleaned shards go into the run folder: call `clean_on_engine(folder)` once the run folder exists.
    """

    def __init__(self, data_args, clean_args, args, training_args, engine=None):
        from ..data import clean_splits, load_splits
        from ..data.parallel import load_parallel

        self.data_args, self.clean_args, self.args, self.training_args = data_args, clean_args, args, training_args
        self.engine = engine if engine is not None and engine.cleaning_engine == "datatrove" else None
        data_args.dataset_name = data_args.dataset_name or (None if data_args.train_file else "sample:corpus")
        with training_args.main_process_first(desc="load and clean the corpus"):
            self.corpus, self.sources, self.languages = load_splits(data_args, {"text": data_args.text_column,
                                                                                "lang": data_args.lang_column})
            self.pairs, self.cleaning, self.pair_cleaning = None, None, None
            if args.tlm and args.parallel_dataset:
                self.pairs, pair_source = load_parallel(args.parallel_dataset, self.languages)
                self.sources.append(pair_source)
            if self.engine is None:
                self.corpus, self.cleaning = clean_splits(self.corpus, clean_args)
                if self.pairs is not None:
                    self.pairs, self.pair_cleaning = clean_splits(self.pairs, clean_args, text_columns=("src", "tgt"))
                self._sample()
        self.stream = None

    def clean_on_engine(self, folder) -> None:
        """With the datatrove engine: clean into `folder` (cleaned shards, stage files, logs); else nothing."""
        if self.engine is None:
            return
        from pathlib import Path

        from ..data.clean_distributed import clean_splits_datatrove

        # the main process runs the pipeline; the others find every task completed and read its output
        with self.training_args.main_process_first(desc="clean (datatrove)"):
            self.corpus, self.cleaning = clean_splits_datatrove(self.corpus, self.clean_args, Path(folder) / "corpus",
                                                                self.engine)
            if self.pairs is not None:
                self.pairs, self.pair_cleaning = clean_splits_datatrove(
                    self.pairs, self.clean_args, Path(folder) / "parallel", self.engine, text_columns=("src", "tgt"))
        self.cleaning["engine"] = self.engine.cleaning_executor  # how it ran; the counts are clean_splits's
        self._sample()

    def _sample(self) -> None:
        from ..data import sample_by_language
        from ..data.load import filter_languages, limit

        a, seed = self.args, self.training_args.seed
        train, self.sampling = sample_by_language(self.corpus["train"], a.sampling_alpha, num_rows=a.sampled_rows, seed=seed)
        self.train_mono = limit(train, self.data_args.max_train_samples)
        self.by_lang = {lang: filter_languages({"v": self.corpus["validation"]}, [lang])["v"] for lang in self.languages}

    def tokenizer_texts(self):
        return self.train_mono["text"]

    def held_out_pairs(self):
        """The parallel validation split (None without parallel data): the alignment report's pairs."""
        return self.pairs["validation"] if self.pairs is not None and "validation" in self.pairs else None

    def fertility_texts(self) -> dict[str, list[str]]:
        return {lang: ds["text"] for lang, ds in self.by_lang.items()}

    def datasets(self, tokenizer, max_len: int, has_tags: bool):
        """(train dataset, {eval name: dataset}, train rows {"mlm", "tlm"})."""
        from datasets import concatenate_datasets

        from ..data.load import limit

        d, num_proc = self.data_args, self.data_args.preprocessing_num_workers
        encode_mono = encode_lines(tokenizer, max_len)
        with self.training_args.main_process_first(desc="tokenise"):
            parts = [self.train_mono.map(encode_mono, batched=True, num_proc=num_proc,
                                         remove_columns=self.train_mono.column_names, desc="Tokenising MLM")]
            evals = {lang: limit(ds, d.max_eval_samples) for lang, ds in self.by_lang.items()}
            evals = {lang: ds.map(encode_mono, batched=True, remove_columns=ds.column_names) for lang, ds in evals.items() if len(ds)}
            if self.pairs is not None:
                encode = encode_pairs(tokenizer, max_len, has_tags)
                cols = self.pairs["train"].column_names
                parts.append(limit(self.pairs["train"], d.max_train_samples).map(
                    encode, batched=True, with_indices=True, num_proc=num_proc, remove_columns=cols,
                    desc="Tokenising TLM").remove_columns("lang"))
                evals["tlm"] = limit(self.pairs["validation"], d.max_eval_samples).map(
                    encode, batched=True, with_indices=True, remove_columns=cols).remove_columns("lang")
            if self.args.pack_sequences:
                parts[0] = pack_blocks(parts[0], max_len, num_proc)
        rows = {"mlm": len(parts[0]), "tlm": len(parts[1]) if len(parts) > 1 else 0}
        return concatenate_datasets(parts), evals, rows


class StreamedCorpus:
    """The corpus as streams (`lingbridge.data.streaming`): nothing is loaded whole.

    The first `eval_rows` rows (pairs) of each stream are held out for per-language perplexity; the rest
    is shuffled through a buffer and trains: language-sampled (q ∝ p^α), packed on the fly, TLM pairs
    at `tlm_ratio`. The training stream is a `ResumableStream`, whose position each checkpoint keeps.
    Cleaning happens before, on the shards (`lingbridge.data.clean_distributed`), not here.
    """

    def __init__(self, data_args, args, training_args):
        from ..data import streaming as S

        self.args, self.seed, self.batch = args, training_args.seed, training_args.per_device_train_batch_size

        def split(ds):
            # the head of each stream is held out (read once, no shuffle buffer to fill); the rest trains
            head = list(ds.take(args.eval_rows)) if args.eval_rows else []
            return head, ds.skip(args.eval_rows)

        specs, self.pair_streams, self.pair_sizes, self.eval_pairs = [], None, None, []
        text_unit = pair_unit = None
        if args.parallel_dataset and (args.tlm or args.mlm_on_parallel):
            raw, psrc = S.open_pair_streams([args.parallel_dataset], data_args.languages)
            self.pair_sizes, pair_unit = S.stream_sizes(raw, psrc, args.stream_sizes)
            specs += [s for v in psrc.values() for s in v]
            self.pair_streams = {}
            for pair, ds in raw.items():
                head, self.pair_streams[pair] = split(ds)
                self.eval_pairs += head
        self.text_streams, self.text_sizes, self.eval_texts = {}, {}, {}
        if args.stream_corpus:
            raw, src = S.open_text_streams(args.stream_corpus, data_args.text_column, data_args.languages)
            sizes, text_unit = S.stream_sizes(raw, src, args.stream_sizes)
            specs += [s for v in src.values() for s in v]
            for lang, ds in raw.items():
                head, self.text_streams[lang] = split(ds)
                self.eval_texts[lang] = [r["text"] for r in head]
                self.text_sizes[lang] = sizes[lang]
        if args.mlm_on_parallel:
            from datasets import concatenate_datasets

            if text_unit and text_unit != pair_unit:  # one sampling over both: one unit
                raise UserError("streaming: stream_corpus and parallel_dataset report sizes in different units "
                                f"({text_unit}, {pair_unit}); set --stream_sizes count")
            text_unit = pair_unit

            sides = S.text_sizes_from_pairs(self.pair_sizes)
            for lang, ds in S.text_streams_from_pairs(self.pair_streams, self.pair_sizes, self.seed).items():
                have = self.text_streams.get(lang)
                self.text_streams[lang] = ds if have is None else concatenate_datasets([have, ds])
                self.text_sizes[lang] = self.text_sizes.get(lang, 0) + sides[lang]
            for row in self.eval_pairs:
                for side in ("src", "tgt"):
                    self.eval_texts.setdefault(row[f"{side}_lang"], []).append(row[side])
        if not args.tlm:
            self.pair_streams = None
        self.size_unit = {"languages": text_unit, "pairs": pair_unit if self.pair_streams else None}
        self.languages = sorted(self.text_streams)
        self.sources = [s.describe() for s in specs]
        self.cleaning = self.pair_cleaning = None
        self.stream = None

    def clean_on_engine(self, folder) -> None:
        """Streams are cleaned before they are streamed (on their shards): nothing to do here."""

    def held_out_pairs(self):
        """The pairs held out at the head of each pair stream (`eval_rows` each): the alignment report's pairs."""
        return self.eval_pairs or None

    def tokenizer_texts(self):
        from ..data.streaming import interleave_languages, sampled_texts

        buffer = self.args.shuffle_buffer
        streams = {k: ds.shuffle(seed=self.seed, buffer_size=buffer) if buffer else ds for k, ds in self.text_streams.items()}
        mixed, _ = interleave_languages(streams, self.text_sizes, self.args.sampling_alpha, self.seed)
        return sampled_texts(mixed, self.args.tokenizer_rows)

    def fertility_texts(self) -> dict[str, list[str]]:
        return self.eval_texts

    def datasets(self, tokenizer, max_len: int, has_tags: bool):
        """(the training `ResumableStream`, {eval name: dataset}, the sampling report)."""
        from datasets import Dataset

        from ..data.streaming import ResumableStream, build_pretraining_stream

        a = self.args
        stream, self.sampling = build_pretraining_stream(
            self.text_streams, tokenizer, max_len, text_sizes=self.text_sizes, pair_streams=self.pair_streams,
            pair_sizes=self.pair_sizes, alpha=a.sampling_alpha, tlm_ratio=a.tlm_ratio if self.pair_streams else 0.0,
            pack=a.pack_sequences, language_tags=has_tags, shuffle_buffer=a.shuffle_buffer, seed=self.seed)
        self.sampling["size_unit"] = self.size_unit
        self.stream = ResumableStream(stream, every=self.batch)
        encode = encode_lines(tokenizer, max_len)
        evals = {lang: Dataset.from_dict({"text": t}).map(encode, batched=True, remove_columns=["text"])
                 for lang, t in self.eval_texts.items() if t}
        if self.pair_streams and self.eval_pairs:
            pairs = Dataset.from_list(self.eval_pairs)
            evals["tlm"] = pairs.map(encode_pairs(tokenizer, max_len, has_tags), batched=True, with_indices=True,
                                     remove_columns=pairs.column_names).remove_columns("lang")
        return self.stream, evals, {"tlm_ratio": self.sampling["tlm_ratio"]}


def load_pretraining_corpus(data_args, clean_args, args, training_args, engine=None):
    """`StreamedCorpus` with `--streaming`, else `InMemoryCorpus`: the same methods either way.

    `engine` (`CleaningEngineArguments`) picks where an in-memory corpus is cleaned; streams are
    cleaned before (`lingbridge.data.clean_distributed.clean_shards` on their shards).
    """
    check_streaming(args, training_args)
    if args.streaming:
        if engine is not None and engine.cleaning_engine == "datatrove":
            raise UserError("cleaning_engine datatrove cleans an in-memory corpus; clean streamed shards beforehand "
                            "with lingbridge.data.clean_distributed.clean_shards and stream its output/ folders")
        return StreamedCorpus(data_args, args, training_args)
    return InMemoryCorpus(data_args, clean_args, args, training_args, engine)


def stream_position(stream, training_args, global_step: int, folder) -> dict | None:
    """Save the stream's final position into the run folder; the record keeps where it stood and its digest."""
    if stream is None:
        return None
    import hashlib

    consumed = (global_step * training_args.gradient_accumulation_steps * training_args.per_device_train_batch_size
                * training_args.world_size)
    path = stream.save(folder, consumed)
    return {"examples_consumed": consumed, "resumed_from_examples": stream._resumed_from,
            "state_sha256": hashlib.sha256(path.read_bytes()).hexdigest()}


def usage(model: str, example, adapter: bool = False) -> str:
    return ('from transformers import pipeline\n\n'
            f'fill = pipeline("fill-mask", model="{model}")\nprint(fill("Paris is the <mask> of France."))')


TASK = register(Task(
    name="mlm", pipeline_tag="fill-mask", recipes=("pretrain",), auto_class="AutoModelForMaskedLM",
    peft_class="AutoPeftModel", headline_metrics=("perplexity",), preprocess=encode_lines, collator=collator,
    metrics=perplexity_per_language, usage=usage,
))
