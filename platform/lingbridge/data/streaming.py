"""Streaming corpora for pretraining at scale: per-language streams, language sampling, packing, TLM.

Nothing here holds a corpus in memory. Each language is a `datasets.IterableDataset` (a Hub dataset
opened with `streaming=True`, a local folder or glob of text/jsonl/parquet/tsv shards, or the bundled
sample); the languages are mixed by `datasets.interleave_datasets` with XLM-R's probabilities
q_i ∝ p_i^α (sizes from metadata, or a counting pass); lines are tokenised and packed into full
blocks on the fly, per language as XLM-R does (run_mlm.py's `group_texts` on an iterable dataset);
TLM pairs are mixed in at a set ratio. `ResumableStream` remembers where the stream stood at each
batch boundary, so a checkpoint can store the position of the data and a resumed run continues
from the next unseen block instead of re-reading (or re-seeing) the stream.

Specs, as the config takes them (one language per spec; `sample:*` expands to every language):

    en=/data/cc100/en/                      a folder: its .txt/.jsonl/.json/.parquet/.tsv/.csv files (compressed too)
    de=/data/cc100/de/*.jsonl.gz            a glob pattern
    zh=hub:allenai/c4:zh                    a Hub dataset, `hub:<id>[:<config>][@<split>]` (streamed)
    sample:corpus                           the bundled sample (train split), every language
    /data/parallel/*.tsv                    parallel pairs (src_lang, src, tgt_lang, tgt) for TLM
"""

from __future__ import annotations

import copy
import csv
import glob
import json
import os
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import UserError
from ..languages import check_language

BUILDERS = {".txt": "text", ".jsonl": "json", ".json": "json", ".parquet": "parquet", ".tsv": "csv", ".csv": "csv"}
READ_CHUNK_BYTES = 1 << 20  # what each open local stream reads at a time (text, jsonl)
READ_CHUNK_ROWS = 5_000  # the same for tsv/csv and parquet, in rows
COMPRESSIONS = (".gz", ".bz2", ".xz", ".zst", ".lz4")
PAIR_COLUMNS = ("src_lang", "src", "tgt_lang", "tgt")
STOPPING_STRATEGIES = ("repeat", "first_exhausted", "all_exhausted", "all_exhausted_without_replacement")


# ---- sources ------------------------------------------------------------------------------------


@dataclass
class StreamSpec:
    """One source: a language's text (or a set of parallel pairs) in local files, on the Hub or bundled."""

    kind: str  # "local", "hub" or "bundled"
    lang: str | None = None  # None for parallel pairs and for bundled samples (every language)
    files: list[str] = field(default_factory=list)
    name: str | None = None  # Hub id or bundled sample name
    config: str | None = None
    split: str = "train"

    def describe(self) -> dict:
        """What the run record's `data_sources` shows for this source."""
        if self.kind == "local":
            return {"name": self.name, "lang": self.lang, "kind": "local files", "files": len(self.files),
                    "bytes": sum(os.path.getsize(f) for f in self.files)}
        out = {"name": self.name, "lang": self.lang, "kind": "hub (streamed)" if self.kind == "hub" else "bundled sample"}
        if self.config:
            out["config"] = self.config
        return out


def _suffix(path: str) -> str:
    """The format suffix of a file, past any compression suffix (`a.jsonl.gz` → `.jsonl`)."""
    p = Path(path.lower())
    if p.suffix in COMPRESSIONS:
        p = p.with_suffix("")
    return p.suffix


def _local_files(path: str, where: str) -> list[str]:
    if any(ch in path for ch in "*?["):
        files = sorted(f for f in glob.glob(path, recursive=True) if os.path.isfile(f))
    elif os.path.isdir(path):
        files = sorted(str(f) for f in Path(path).rglob("*") if f.is_file() and _suffix(str(f)) in BUILDERS)
    elif os.path.isfile(path):
        files = [path]
    else:
        raise UserError(f"{where}: no such file, folder or pattern: {path}")
    files = [f for f in files if _suffix(f) in BUILDERS]
    if not files:
        raise UserError(f"{where}: {path} holds no {'/'.join(sorted(BUILDERS))} files")
    kinds = {BUILDERS[_suffix(f)] for f in files} | ({"tsv"} if any(_suffix(f) == ".tsv" for f in files) else set())
    if len(kinds - {"tsv"}) > 1 or {"tsv", "csv"} <= {_suffix(f).lstrip(".") for f in files}:
        raise UserError(f"{where}: {path} mixes formats ({', '.join(sorted({_suffix(f) for f in files}))}); "
                        "give one format per language")
    return files


def parse_stream_spec(spec: str, where: str = "stream_corpus", parallel: bool = False) -> StreamSpec:
    """Read one spec (see the module docstring). Raises `UserError` naming the spec when it is wrong."""
    spec = spec.strip()
    if spec.startswith("sample:"):
        return StreamSpec("bundled", name=spec)
    lang = None
    if not parallel:
        if "=" not in spec:
            raise UserError(f"{where}: '{spec}' needs a language code, e.g. 'en={spec}' (or 'sample:corpus')")
        lang, spec = spec.split("=", 1)
        lang = check_language(lang.strip(), where)
    if spec.startswith("hub:"):
        ref, _, split = spec[4:].partition("@")
        name, _, config = ref.partition(":")
        if name.count("/") > 1 or not name:
            raise UserError(f"{where}: '{spec}' is not 'hub:<org/name>[:<config>][@<split>]'")
        return StreamSpec("hub", lang=lang, name=name, config=config or None, split=split or "train")
    return StreamSpec("local", lang=lang, files=_local_files(spec, where), name=spec)


def _open_local(spec: StreamSpec):
    from datasets import load_dataset

    suffix = _suffix(spec.files[0])
    # Every open stream holds one read chunk (and its Arrow table) at a time: datasets' 10 MB default times
    # the open streams (one per language and language pair) was most of pretraining's memory, and grew with
    # the corpus until each language's files outgrew it. 1 MB a stream is as fast and keeps memory flat
    # (benchmarks/bench_streaming.py).
    kwargs = {"chunksize": READ_CHUNK_BYTES} if BUILDERS[suffix] in ("json", "text") else {}
    if suffix in (".tsv", ".csv"):
        # Corpus TSVs are often unquoted ("No quoting or escaping"): quotes are text, and "NA" is a word.
        kwargs = {"delimiter": "\t" if suffix == ".tsv" else ",", "quoting": csv.QUOTE_NONE, "na_filter": False,
                  "chunksize": READ_CHUNK_ROWS}
    elif suffix == ".parquet":
        kwargs = {"batch_size": READ_CHUNK_ROWS}  # not a whole row group (often 100k+ rows) per stream
    try:
        return load_dataset(BUILDERS[suffix], data_files=spec.files, split="train", streaming=True, **kwargs)
    except Exception as err:  # datasets raises many types for unreadable files
        raise UserError(f"could not open {spec.name}: {str(err).strip().splitlines()[0]}") from None


def _open_hub(spec: StreamSpec, trust_remote_code: bool = False):
    from datasets import load_dataset

    try:
        return load_dataset(spec.name, spec.config, split=spec.split, streaming=True)
    except Exception as err:
        msg = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UserError(f"could not stream '{spec.name}'{f' ({spec.config})' if spec.config else ''}: {msg}") from None


def _peek(ds):
    """The first row of a stream, read from a copy: iterating leaves state on the stream's examples
    iterables, which `interleave_datasets` would copy and resume from."""
    return next(iter(copy.deepcopy(ds)), None)


def _first_row(ds, where: str) -> dict:
    row = _peek(ds)
    if row is None:
        raise UserError(f"{where}: the stream is empty")
    return row


def open_text_streams(specs: list[str], text_column: str = "text", languages: list[str] | None = None,
                      where: str = "stream_corpus") -> tuple[dict, dict]:
    """Open each spec as a stream of `{"text", "lang"}` rows.

    Args:
        specs: `lang=path`, `lang=hub:id[:config][@split]` or `sample:corpus` (see the module docstring).
        text_column: the column holding the text in jsonl/parquet/tsv files and Hub datasets (txt files: each line).
        languages: keep only these languages (default: all the specs name).

    Returns:
        `({lang: IterableDataset}, {lang: [StreamSpec, ...]})`; several specs for one language are
        concatenated in the order given.
    """
    from datasets import concatenate_datasets

    parts: dict[str, list] = {}
    sources: dict[str, list[StreamSpec]] = {}
    for raw in specs:
        spec = parse_stream_spec(raw, where)
        if spec.kind == "bundled":
            for lang, ds in _bundled_text_streams(spec.name).items():
                parts.setdefault(lang, []).append(ds)
                sources.setdefault(lang, []).append(StreamSpec("bundled", lang=lang, name=spec.name))
            continue
        ds = _open_local(spec) if spec.kind == "local" else _open_hub(spec)
        col = "text" if spec.kind == "local" and _suffix(spec.files[0]) == ".txt" else text_column
        row = _first_row(ds, f"{where} {spec.name}")
        if col not in row:
            raise UserError(f"{where} {spec.name}: no column '{col}' (columns: {', '.join(row)}); set --text_column")
        lang = spec.lang
        ds = ds.select_columns([col]).map(lambda b, lang=lang, col=col: {"text": b[col], "lang": [lang] * len(b[col])},
                                          batched=True, remove_columns=[col] if col != "text" else None)
        parts.setdefault(lang, []).append(ds)
        sources.setdefault(lang, []).append(spec)
    if languages:
        missing = [lang for lang in languages if lang not in parts]
        if missing:
            raise UserError(f"{where}: no stream for languages {missing} (streams: {', '.join(sorted(parts))})")
        parts = {lang: parts[lang] for lang in languages}
    streams = {lang: ds[0] if len(ds) == 1 else concatenate_datasets(ds) for lang, ds in sorted(parts.items())}
    return streams, {lang: sources[lang] for lang in streams}


def _bundled_text_streams(name: str) -> dict:
    from . import load_sample  # the bundled sample is small: it is in memory anyway

    if name == "sample:parallel":
        return text_streams_from_pairs(open_pair_streams([name])[0])
    if name != "sample:corpus":
        raise UserError(f"stream_corpus: '{name}' is not a text corpus; use sample:corpus or sample:parallel")
    train = load_sample("corpus")["train"]
    langs = sorted(set(train["lang"]))
    return {lang: train.filter(lambda b, lang=lang: [x == lang for x in b["lang"]], batched=True)
            .select_columns(["text", "lang"]).to_iterable_dataset() for lang in langs}


def open_pair_streams(specs: list[str], languages: list[str] | None = None,
                      where: str = "parallel_dataset") -> tuple[dict, dict]:
    """Open parallel pairs as streams of `{"src_lang", "src", "tgt_lang", "tgt"}` rows, one per language pair.

    Args:
        specs: files, folders or globs of tsv/csv (header `src_lang, src, tgt_lang, tgt`, unquoted),
            jsonl/parquet with those columns or a Hub-style `translation` dict; `hub:<id>:<config>`;
            `sample:parallel`. A file holds one language pair (its first row names it).
        languages: keep only pairs whose both languages are in this list.

    Returns:
        `({"en-de": IterableDataset, ...}, {"en-de": [StreamSpec, ...]})`.
    """
    from datasets import concatenate_datasets

    parts: dict[str, list] = {}
    sources: dict[str, list[StreamSpec]] = {}
    for raw in specs:
        spec = parse_stream_spec(raw, where, parallel=True)
        if spec.kind == "bundled":
            if spec.name != "sample:parallel":
                raise UserError(f"{where}: '{spec.name}' holds no pairs; use sample:parallel")
            from . import load_sample

            train = load_sample("parallel")["train"].select_columns(list(PAIR_COLUMNS))
            for pair in sorted({f"{s}-{t}" for s, t in zip(train["src_lang"], train["tgt_lang"])}):
                s, t = pair.split("-")
                ds = train.filter(lambda b, s=s, t=t: [a == s and c == t for a, c in zip(b["src_lang"], b["tgt_lang"])],
                                  batched=True)
                parts.setdefault(pair, []).append(ds.to_iterable_dataset())
                sources.setdefault(pair, []).append(StreamSpec("bundled", lang=pair, name=spec.name))
            continue
        # one stream per file for local sources: each file is one language pair
        units = [StreamSpec("local", files=[f], name=f) for f in spec.files] if spec.kind == "local" else [spec]
        for unit in units:
            ds = _open_local(unit) if unit.kind == "local" else _open_hub(unit)
            row = _first_row(ds, f"{where} {unit.name}")
            if "translation" in row and "src" not in row:
                ds = ds.map(_from_translation, batched=True, remove_columns=list(row))
                row = _first_row(ds, f"{where} {unit.name}")
            missing = [c for c in PAIR_COLUMNS if c not in row]
            if missing:
                raise UserError(f"{where} {unit.name}: missing columns {missing}; expected src_lang, src, tgt_lang, tgt "
                                "or a 'translation' dict per row")
            s, t = check_language(row["src_lang"], f"{where} {unit.name}"), check_language(row["tgt_lang"], f"{where} {unit.name}")
            pair = f"{s}-{t}"
            parts.setdefault(pair, []).append(ds.select_columns(list(PAIR_COLUMNS)))
            sources.setdefault(pair, []).append(StreamSpec(unit.kind, lang=pair, files=unit.files, name=unit.name,
                                                           config=unit.config, split=unit.split))
    if languages:
        keep = set(languages)
        parts = {p: v for p, v in parts.items() if set(p.split("-")) <= keep}
        if not parts:
            raise UserError(f"{where}: no pairs between the languages {sorted(keep)}")
    streams = {p: v[0] if len(v) == 1 else concatenate_datasets(v) for p, v in sorted(parts.items())}
    return streams, {p: sources[p] for p in streams}


def _from_translation(batch):
    out = {c: [] for c in PAIR_COLUMNS}
    for row in batch["translation"]:
        a, b = sorted((k for k, v in row.items() if v is not None), key=lambda k: (k != "en", k))  # English first
        out["src_lang"].append(a)
        out["src"].append(row[a])
        out["tgt_lang"].append(b)
        out["tgt"].append(row[b])
    return out


def text_streams_from_pairs(pair_streams: dict, sizes: dict | None = None, seed: int = 0) -> dict:
    """Both sides of parallel pairs as monolingual streams (`{"text", "lang"}`), one per language.

    A language on several pair streams (English on every en-xx file) gets them interleaved, each
    row once (`all_exhausted_without_replacement`), in proportion to `sizes` when given.
    """
    from datasets import interleave_datasets

    by_lang: dict[str, list] = {}
    weights: dict[str, list] = {}
    for pair, ds in pair_streams.items():
        for side in ("src", "tgt"):
            one = ds.map(lambda b, side=side: {"text": b[side], "lang": b[f"{side}_lang"]}, batched=True,
                         remove_columns=list(PAIR_COLUMNS))
            lang = pair.split("-")[0 if side == "src" else 1]
            by_lang.setdefault(lang, []).append(one)
            weights.setdefault(lang, []).append((sizes or {}).get(pair, 1))
    out = {}
    for lang, parts in sorted(by_lang.items()):
        if len(parts) == 1:
            out[lang] = parts[0]
            continue
        total = sum(weights[lang])
        out[lang] = interleave_datasets(parts, probabilities=[w / total for w in weights[lang]], seed=seed,
                                        stopping_strategy="all_exhausted_without_replacement")
    return out


def text_sizes_from_pairs(pair_sizes: dict) -> dict:
    """Per-language sizes for `text_streams_from_pairs`: each side of a pair counts half the pair's size."""
    out: dict[str, float] = {}
    for pair, n in pair_sizes.items():
        for lang in pair.split("-"):
            out[lang] = out.get(lang, 0) + n / 2
    return out


# ---- sizes and language sampling ----------------------------------------------------------------


def _metadata_size(spec: StreamSpec) -> tuple[int, str] | None:
    """(size, unit) from metadata without reading the data: bytes of local files, rows of a Hub split."""
    if spec.kind == "local":
        return sum(os.path.getsize(f) for f in spec.files), "bytes"
    if spec.kind == "hub":
        try:
            from datasets import load_dataset_builder

            info = load_dataset_builder(spec.name, spec.config).info
            split = (info.splits or {}).get(spec.split)
        except Exception:  # no metadata (or offline): the caller counts instead
            return None
        if split is not None and split.num_bytes:
            return int(split.num_bytes), "bytes"
        return None
    return None


def stream_sizes(streams: dict, sources: dict, how: str = "metadata", max_rows: int | None = None) -> tuple[dict, str]:
    """Size of each stream, for the sampling probabilities.

    Args:
        streams: `{key: IterableDataset}` as `open_text_streams` / `open_pair_streams` return.
        sources: their `StreamSpec`s.
        how: `metadata` (bytes of local files, `num_bytes` of a Hub split; falls back to counting when a
            source has none) or `count` (a pass over every stream, counting rows).
        max_rows: stop counting a stream here (a cap for very large streams; the share is then a lower bound).

    Returns:
        `({key: size}, unit)` with unit `bytes` or `rows`.
    """
    if how not in ("metadata", "count"):
        raise UserError(f"stream_sizes must be 'metadata' or 'count', got '{how}'")
    if how == "metadata":
        sizes, units = {}, set()
        for key, specs in sources.items():
            got = [_metadata_size(s) for s in specs]
            if any(g is None for g in got):
                break
            sizes[key] = sum(g[0] for g in got)
            units |= {g[1] for g in got}
        else:
            if len(units) == 1:
                return sizes, units.pop()
    counts = {}
    for key, ds in streams.items():
        n = 0
        for _ in copy.deepcopy(ds).select_columns([next(iter(_first_row(ds, key)))]):
            n += 1
            if max_rows and n >= max_rows:
                break
        counts[key] = n
    return counts, "rows"


def interleave_languages(streams: dict, sizes: dict, alpha: float = 0.3, seed: int = 0,
                         stopping_strategy: str = "repeat"):
    """Mix per-language streams with XLM-R's probabilities q_i ∝ p_i^α (`datasets.interleave_datasets`).

    Args:
        streams: `{lang: IterableDataset}` (or `{pair: ...}` for TLM pairs).
        sizes: `{lang: size}` in one unit (see `stream_sizes`).
        alpha: 1 keeps the natural distribution, 0 is uniform; XLM-R uses 0.3.
        stopping_strategy: `repeat` (default) repeats every stream forever, so that the mix stays at q
            for as many steps as the run asks (`max_steps`); or one of `interleave_datasets`'s strategies.

    Returns:
        `(IterableDataset, {lang: {"size", "p", "q"}})`.
    """
    from datasets import interleave_datasets

    from .sampling import language_sampling_probs

    if stopping_strategy not in STOPPING_STRATEGIES:
        raise UserError(f"stopping_strategy must be one of {', '.join(STOPPING_STRATEGIES)}, got '{stopping_strategy}'")
    missing = [k for k in streams if sizes.get(k, 0) <= 0]
    if missing:
        raise UserError(f"no size (or an empty stream) for {missing}; every stream needs rows")
    q = language_sampling_probs({k: sizes[k] for k in streams}, alpha)
    total = sum(sizes[k] for k in streams)
    report = {k: {"size": int(sizes[k]), "p": sizes[k] / total, "q": q[k]} for k in streams}
    keys = list(streams)
    parts = [streams[k] for k in keys]
    strategy = stopping_strategy
    if stopping_strategy == "repeat":
        parts = [ds.repeat(None) for ds in parts]  # infinite: the sampler never sees a stream run dry
        strategy = "first_exhausted"
    if len(parts) == 1:
        return parts[0], report
    return interleave_datasets(parts, probabilities=[q[k] for k in keys], seed=seed, stopping_strategy=strategy), report


# ---- tokenisation, packing, TLM -------------------------------------------------------------------


def _model_features():
    from datasets import Features, Sequence, Value

    return Features({"input_ids": Sequence(Value("int32")), "attention_mask": Sequence(Value("int8"))})


def pack_stream(ds, tokenizer, block_size: int, batch_size: int = 1000):
    """Tokenise `{"text"}` rows and cut the token stream into blocks of exactly `block_size` tokens.

    As run_mlm.py's `group_texts`: each line keeps its `<s> ... </s>`, lines are concatenated, and
    the remainder of each `batch_size` lines is dropped (at most one block's worth per batch).
    """
    def group(batch):
        # lines longer than a block are fine here (they are cut into blocks): no length warning
        ids = tokenizer(batch["text"], add_special_tokens=True, verbose=False)["input_ids"]
        flat = [t for seq in ids for t in seq]
        n = len(flat) // block_size * block_size
        blocks = [flat[i : i + block_size] for i in range(0, n, block_size)]
        return {"input_ids": blocks, "attention_mask": [[1] * block_size for _ in blocks]}

    return ds.map(group, batched=True, batch_size=batch_size, remove_columns=["text", "lang"], features=_model_features())


def tokenize_lines(ds, tokenizer, max_length: int):
    """Tokenise `{"text"}` rows one sequence a line, truncated to `max_length` (no packing)."""
    def encode(batch):
        enc = tokenizer(batch["text"], truncation=True, max_length=max_length)
        return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}

    return ds.map(encode, batched=True, remove_columns=["text", "lang"], features=_model_features())


def encode_pair_stream(ds, tokenizer, max_length: int, language_tags: bool = True):
    """TLM sequences `<s> A </s></s> B </s>` from `{"src_lang", "src", "tgt_lang", "tgt"}` rows.

    The two sides swap on every other row, so that neither language always comes first; with
    `language_tags` each side starts with its `<lang_xx>` token (when the tokenizer has it).
    """
    vocab = tokenizer.get_vocab()

    def tag(lang, text):
        t = f"<lang_{lang}>"
        return f"{t} {text}" if language_tags and t in vocab else text

    def encode(batch, indices):
        a = [tag(la, x) for la, x in zip(batch["src_lang"], batch["src"])]
        b = [tag(lb, x) for lb, x in zip(batch["tgt_lang"], batch["tgt"])]
        first = [x if i % 2 == 0 else y for i, x, y in zip(indices, a, b)]
        second = [y if i % 2 == 0 else x for i, x, y in zip(indices, a, b)]
        enc = tokenizer(first, second, truncation=True, max_length=max_length)
        return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}

    return ds.map(encode, batched=True, with_indices=True, remove_columns=list(PAIR_COLUMNS), features=_model_features())


def mix_tlm(mlm, tlm, tlm_ratio: float, seed: int = 0):
    """Interleave MLM blocks and TLM pairs so that `tlm_ratio` of the sequences are TLM pairs."""
    from datasets import interleave_datasets

    if not 0 <= tlm_ratio < 1:
        raise UserError(f"tlm_ratio must be in [0, 1), got {tlm_ratio}")
    if tlm is None or tlm_ratio == 0:
        return mlm
    return interleave_datasets([mlm, tlm], probabilities=[1 - tlm_ratio, tlm_ratio], seed=seed,
                               stopping_strategy="first_exhausted")


def build_pretraining_stream(text_streams: dict, tokenizer, block_size: int, *, text_sizes: dict,
                             pair_streams: dict | None = None, pair_sizes: dict | None = None,
                             alpha: float = 0.3, tlm_ratio: float = 0.0, pack: bool = True,
                             language_tags: bool = True, shuffle_buffer: int = 0, seed: int = 0,
                             stopping_strategy: str = "repeat"):
    """The training stream: language-sampled MLM blocks, with TLM pairs at `tlm_ratio`.

    Each language is shuffled (a buffer of `shuffle_buffer` rows; 0 = file order) and packed into
    blocks of `block_size` on its own, so a block holds one language, as in XLM-R; the languages are
    then sampled by q ∝ p^α. TLM pairs are sampled across language pairs with the same α.

    Returns:
        `(IterableDataset of {"input_ids", "attention_mask"}, report)` where the report holds the
        sampling probabilities per language (and per language pair).
    """
    def prep(ds):
        return ds.shuffle(seed=seed, buffer_size=shuffle_buffer) if shuffle_buffer else ds

    # `interleave_datasets` reads its sources from threads (also between training steps), and a fast
    # tokenizer's call switches truncation on or off on the shared Rust object: packing (no
    # truncation), TLM (truncation) and the caller (evaluation) must each have their own, or a thread
    # sees another's setting (truncated lines, overlong pairs).
    mlm_tokenizer, tlm_tokenizer = copy.deepcopy(tokenizer), copy.deepcopy(tokenizer)

    encode = (lambda ds: pack_stream(ds, mlm_tokenizer, block_size)) if pack else (lambda ds: tokenize_lines(ds, mlm_tokenizer, block_size))
    if stopping_strategy == "repeat":
        # A stream that yields nothing would make `repeat` spin forever: fail now, naming it (checked
        # before the shuffle buffer, which a peek would otherwise fill for nothing).
        for lang, ds in text_streams.items():
            if _peek(encode(ds)) is None:
                raise UserError(f"the {lang} stream yields no {'full block' if pack else 'sequence'} of {block_size} "
                                "tokens; give it more text or lower max_seq_length")
    mlm_streams = {lang: encode(prep(ds)) for lang, ds in text_streams.items()}
    mlm, report = interleave_languages(mlm_streams, text_sizes, alpha, seed, stopping_strategy)
    out = {"alpha": alpha, "per_language": report, "block_size": block_size, "packed": pack,
           "tlm_ratio": tlm_ratio if pair_streams else 0.0, "shuffle_buffer": shuffle_buffer}
    tlm = None
    if pair_streams and tlm_ratio > 0:
        encoded = {p: encode_pair_stream(prep(ds), tlm_tokenizer, block_size, language_tags) for p, ds in pair_streams.items()}
        tlm, out["per_pair"] = interleave_languages(encoded, pair_sizes or {}, alpha, seed + 1, stopping_strategy)
    return mix_tlm(mlm, tlm, tlm_ratio, seed + 2), out


def sampled_texts(stream, row_budget: int, column: str = "text"):
    """The first `row_budget` texts of a (language-sampled) stream: what a tokenizer trains on.

    A generator, so the tokenizer trainer reads the stream without a list in memory.
    """
    if row_budget < 1:
        raise UserError(f"tokenizer_rows must be at least 1, got {row_budget}")
    for i, row in enumerate(copy.deepcopy(stream).select_columns([column])):  # a copy: `stream` stays at its start
        if i >= row_budget:
            return
        yield row[column]


# ---- position of the stream, for checkpoints ------------------------------------------------------

STATE_FILE = "data_state.json"


def _torch_iterable():
    from torch.utils.data import IterableDataset

    return IterableDataset


class ResumableStream(_torch_iterable()):
    """A torch `IterableDataset` over a `datasets.IterableDataset` that knows where it stood.

    The DataLoader reads ahead of the training step (accelerate prefetches a batch), so the stream's
    own `state_dict()` at checkpoint time is past what the model has seen. This wrapper keeps the
    stream's state at every `every` examples it yields; `state_at(n)` returns the state after exactly
    `n` examples — with n = steps × batch × accumulation × processes, the first block the next step
    would have seen.

    Exact with `dataloader_num_workers=0` (workers hold their own copy of the stream, out of reach);
    with a shuffle buffer, the rows in the buffer at checkpoint time are not replayed (datasets' rule).
    """

    def __init__(self, dataset, every: int = 1, history: int = 64):
        super().__init__()
        self.dataset = dataset
        self.every = max(1, every)
        self._states: deque = deque(maxlen=history)
        self._yielded = 0
        self._resumed_from = 0

    def __iter__(self):
        # every new iteration starts where the stream was loaded (or at its beginning)
        self._yielded = self._resumed_from
        self._states.append((self._yielded, self.dataset.state_dict()))
        for example in self.dataset:
            self._yielded += 1
            if self._yielded % self.every == 0:
                self._states.append((self._yielded, self.dataset.state_dict()))
            yield example

    def set_epoch(self, epoch: int) -> None:
        self.dataset.set_epoch(epoch)

    @property
    def examples_yielded(self) -> int:
        return self._yielded

    def state_at(self, consumed: int) -> dict:
        """The state after `consumed` examples since the start of the run (resumes included)."""
        for n, state in reversed(self._states):
            if n == consumed:
                return {"examples": consumed, "datasets_state": state}
        have = [n for n, _ in self._states]
        raise RuntimeError(f"no stream state at example {consumed} (kept: {have[:3]}...{have[-3:]}); "
                           "`every` must divide the examples per optimizer step")

    def load_state(self, state: dict) -> None:
        """Continue after `state["examples"]` examples (a dict from `state_at`)."""
        self.dataset.load_state_dict(state["datasets_state"])
        self._yielded = self._resumed_from = int(state["examples"])
        self._states.clear()

    def save(self, folder, consumed: int) -> Path:
        path = Path(folder) / STATE_FILE
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.state_at(consumed)))
        tmp.replace(path)  # a kill mid-write never leaves half a state next to a complete checkpoint
        return path

    def load(self, folder) -> bool:
        """Load the state saved in a checkpoint folder; False when it holds none."""
        path = Path(folder) / STATE_FILE
        if not path.is_file():
            return False
        self.load_state(json.loads(path.read_text()))
        return True


def stream_state_callback(stream: ResumableStream):
    """A `TrainerCallback` that saves the stream's position into every checkpoint Trainer writes.

    Examples consumed at step s = s × gradient_accumulation_steps × per_device_train_batch_size ×
    world_size: with an iterable dataset, accelerate's dispatcher has the main process read every
    process's batch, so the position lives on rank 0 only. On resume, `stream.load(checkpoint)`
    then `ignore_data_skip=True` continues at the next block without re-reading the stream; a
    checkpoint killed before its `data_state.json` was written has none, and Trainer's own skipping
    (which re-reads the stream up to the step) takes over.
    """
    from transformers import TrainerCallback

    class StreamStateCallback(TrainerCallback):
        def on_save(self, args, state, control, **kwargs):
            if state.is_world_process_zero:
                consumed = (state.global_step * args.gradient_accumulation_steps * args.per_device_train_batch_size
                            * args.world_size)
                stream.save(Path(args.output_dir) / f"checkpoint-{state.global_step}", consumed)
            return control

    return StreamStateCallback()
