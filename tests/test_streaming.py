"""Streaming pretraining data: language sampling over streams, packing, TLM ratio, resumable position."""

from __future__ import annotations

import json

import pytest

from lingbridge.data.sampling import language_sampling_probs
from lingbridge.data.streaming import (ResumableStream, build_pretraining_stream, interleave_languages,
                                       open_pair_streams, open_text_streams, pack_stream, sampled_texts,
                                       stream_sizes, text_sizes_from_pairs, text_streams_from_pairs)
from lingbridge.errors import UserError

BLOCK = 32


def _stream(lang: str, n: int):
    from datasets import Dataset

    return Dataset.from_dict({"text": [f"{lang} line {i}" for i in range(n)], "lang": [lang] * n}).to_iterable_dataset()


@pytest.fixture(scope="module")
def tokenizer():
    """A Unigram tokenizer trained from the language-sampled bundled stream, with a row budget."""
    from lingbridge.tokenization import train_unigram_tokenizer

    streams, sources = open_text_streams(["sample:corpus"])
    sizes, _ = stream_sizes(streams, sources)
    mixed, _ = interleave_languages(streams, sizes, alpha=0.3, seed=0)
    return train_unigram_tokenizer(sampled_texts(mixed, 3000), 2000, sorted(streams), model_max_length=BLOCK,
                                   show_progress=False)


@pytest.mark.parametrize("alpha", [0.3, 1.0])
def test_sampling_proportions_follow_q(alpha):
    sizes = {"en": 1000, "de": 100, "sw": 10}
    streams = {lang: _stream(lang, n) for lang, n in sizes.items()}
    mixed, report = interleave_languages(streams, sizes, alpha=alpha, seed=1)
    n = 20000
    langs = [row["lang"] for _, row in zip(range(n), mixed)]
    q = language_sampling_probs(sizes, alpha)
    for lang in sizes:
        assert report[lang]["q"] == pytest.approx(q[lang])
        assert langs.count(lang) / n == pytest.approx(q[lang], abs=0.015)
    if alpha < 1:  # smoothing lifts the small language far above its natural share
        assert langs.count("sw") / n > 3 * sizes["sw"] / sum(sizes.values())


def test_sizes_from_metadata_and_counting(tmp_path):
    for lang, n in (("en", 300), ("de", 30)):
        (tmp_path / lang).mkdir()
        for shard in range(2):
            with open(tmp_path / lang / f"part-{shard}.jsonl", "w") as f:
                for i in range(n):
                    f.write(json.dumps({"content": f"{lang} {shard} {i}", "id": i}) + "\n")
    streams, sources = open_text_streams([f"en={tmp_path}/en", f"de={tmp_path}/de/*.jsonl"], text_column="content")
    by_bytes, unit = stream_sizes(streams, sources)
    assert unit == "bytes" and by_bytes["en"] > 9 * by_bytes["de"]
    rows, unit = stream_sizes(streams, sources, how="count")
    assert unit == "rows" and rows == {"en": 600, "de": 60}
    assert next(iter(streams["de"])) == {"text": "de 0 0", "lang": "de"}


def test_local_shard_formats(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    (tmp_path / "fr.txt").write_text("une ligne\ndeux lignes\n")
    pq.write_table(pa.table({"text": ["eins", "zwei", "drei"]}), tmp_path / "de.parquet")
    streams, _ = open_text_streams([f"fr={tmp_path}/fr.txt", f"de={tmp_path}/de.parquet"])
    assert [r["text"] for r in streams["fr"]] == ["une ligne", "deux lignes"]
    assert [r["lang"] for r in streams["de"]] == ["de"] * 3


def test_each_open_stream_reads_a_bounded_chunk(tmp_path):
    """Memory flat in the corpus size: every local stream reads 1 MB (or 5,000 rows) at a time, not datasets'
    10 MB, which held per open stream grew pretraining's memory with the corpus (benchmarks/bench_streaming.py)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from lingbridge.data.streaming import READ_CHUNK_BYTES, READ_CHUNK_ROWS

    (tmp_path / "en.jsonl").write_text('{"text": "a line"}\n')
    (tmp_path / "fr.txt").write_text("une ligne\n")
    (tmp_path / "es.tsv").write_text("text\nuna línea\n")
    pq.write_table(pa.table({"text": ["eins"]}), tmp_path / "de.parquet")
    streams, _ = open_text_streams([f"{lang}={tmp_path}/{lang}.{ext}" for lang, ext in
                                    (("en", "jsonl"), ("fr", "txt"), ("es", "tsv"), ("de", "parquet"))])

    def reader_config(ds):
        it = ds._ex_iterable
        while not hasattr(it, "generate_tables_fn"):
            it = it.ex_iterable
        return it.generate_tables_fn.__self__.config

    assert reader_config(streams["en"]).chunksize == reader_config(streams["fr"]).chunksize == READ_CHUNK_BYTES == 1 << 20
    assert reader_config(streams["es"]).chunksize == reader_config(streams["de"]).batch_size == READ_CHUNK_ROWS
    assert [r["text"] for r in streams["es"]] == ["una línea"]


@pytest.mark.parametrize("spec,match", [
    ("xx=/tmp", "unknown language code 'xx'"),
    ("en=/nonexistent/folder", "no such file, folder or pattern"),
    ("/tmp/corpus", "needs a language code"),
    ("en=hub:a/b/c", "is not 'hub:"),
])
def test_bad_specs_are_user_errors(spec, match):
    with pytest.raises(UserError, match=match):
        open_text_streams([spec])


def test_packing_gives_full_blocks_of_the_token_stream(tokenizer):
    streams, _ = open_text_streams(["sample:corpus"], languages=["de"])
    lines = [r["text"] for r in streams["de"]]
    blocks = [b["input_ids"] for b in pack_stream(streams["de"], tokenizer, BLOCK, batch_size=100)]
    assert blocks and all(len(b) == BLOCK for b in blocks)
    # the blocks are the concatenated lines (each with <s> ... </s>), cut every BLOCK tokens; only each
    # batch's remainder (< BLOCK tokens) is dropped
    first_batch = [t for ids in tokenizer(lines[:100])["input_ids"] for t in ids]
    per_batch = len(first_batch) // BLOCK
    assert [t for b in blocks[:per_batch] for t in b] == first_batch[: per_batch * BLOCK]
    total = sum(len(ids) for ids in tokenizer(lines)["input_ids"])
    assert total - len(blocks) * BLOCK < BLOCK * (len(lines) // 100 + 1)


def test_tlm_pairs_interleaved_at_the_ratio(tokenizer):
    pairs, psources = open_pair_streams(["sample:parallel"])
    psizes, _ = stream_sizes(pairs, psources)
    texts = text_streams_from_pairs(pairs, psizes)
    stream, report = build_pretraining_stream(texts, tokenizer, BLOCK, text_sizes=text_sizes_from_pairs(psizes),
                                              pair_streams=pairs, pair_sizes=psizes, tlm_ratio=0.25, seed=3)
    eos = tokenizer.eos_token_id
    n, tlm = 3000, 0
    for _, ex in zip(range(n), stream):
        ids = ex["input_ids"]
        is_pair = any(a == eos and b == eos for a, b in zip(ids, ids[1:]))  # "</s></s>" joins a pair's sides
        assert is_pair or len(ids) == BLOCK  # MLM sequences are full packed blocks
        tlm += is_pair
    assert tlm / n == pytest.approx(0.25, abs=0.03)
    assert report["tlm_ratio"] == 0.25 and set(report["per_pair"]) == set(pairs)


def _pipeline(tokenizer):
    streams, sources = open_text_streams(["sample:corpus"], languages=["en", "de", "zh"])
    sizes, _ = stream_sizes(streams, sources)
    pairs, psources = open_pair_streams(["sample:parallel"], languages=["en", "de", "zh"])
    psizes, _ = stream_sizes(pairs, psources)
    stream, _ = build_pretraining_stream(streams, tokenizer, BLOCK, text_sizes=sizes, pair_streams=pairs,
                                         pair_sizes=psizes, tlm_ratio=0.2, seed=7)
    return ResumableStream(stream, every=4)


def test_saved_state_resumes_at_the_same_position(tokenizer, tmp_path):
    from torch.utils.data import DataLoader

    def batches(ds, n):
        loader = DataLoader(ds, batch_size=4, collate_fn=lambda rows: [r["input_ids"] for r in rows])
        return [b for _, b in zip(range(n), loader)]

    first = _pipeline(tokenizer)
    seen = batches(first, 30)  # the loader may read ahead; the state is taken at what was consumed
    first.save(tmp_path, consumed=5 * 4)
    reference = batches(_pipeline(tokenizer), 10)  # an uninterrupted run: batches 0..9
    assert reference[:5] == seen[:5]

    resumed = _pipeline(tokenizer)  # a new process would build the same pipeline, then load the state
    assert resumed.load(tmp_path)
    assert batches(resumed, 5) == reference[5:10]
    assert resumed.examples_yielded == 40


def test_tokenizer_from_stream_respects_the_row_budget():
    from lingbridge.tokenization import fertility, train_unigram_tokenizer

    read = []
    streams, sources = open_text_streams(["sample:corpus"])
    sizes, _ = stream_sizes(streams, sources)
    mixed, _ = interleave_languages(streams, sizes, seed=0)

    def counted():
        for text in sampled_texts(mixed, 500):
            read.append(text)
            yield text

    tok = train_unigram_tokenizer(counted(), 2000, sorted(streams), show_progress=False)
    assert len(read) == 500
    fert = fertility(tok, {"en": ["a short sentence"], "zh": ["一个短句子"]})
    assert fert["zh"]["primary"] == "tokens_per_char" and fert["en"]["tokens_per_word"] > 0
    with pytest.raises(UserError, match="cannot hold the corpus's"):
        train_unigram_tokenizer(sampled_texts(mixed, 500), 100, sorted(streams), show_progress=False)


def test_trainer_checkpoint_holds_the_stream_position(tokenizer, tmp_path):
    """Trainer saves the stream state with each checkpoint; a resumed Trainer sees the batches an
    uninterrupted run saw after that step, without re-reading the stream."""
    import torch
    from transformers import (DataCollatorForLanguageModeling, Trainer, TrainingArguments, XLMRobertaConfig,
                              XLMRobertaForMaskedLM)

    from lingbridge.data.streaming import stream_state_callback

    def run(out, steps, resume=None):
        seen = []
        collate = DataCollatorForLanguageModeling(tokenizer, mlm_probability=0.15)

        def record(rows):
            seen.append([list(r["input_ids"]) for r in rows])  # a copy: the collator pads rows in place
            return collate(rows)

        stream = _pipeline(tokenizer)
        args = TrainingArguments(output_dir=str(out), max_steps=steps, per_device_train_batch_size=4, save_steps=3,
                                 save_strategy="steps", report_to="none", use_cpu=True, disable_tqdm=True,
                                 dataloader_num_workers=0, logging_steps=1)
        if resume and stream.load(resume):
            args.ignore_data_skip = True  # the stream is already at the checkpoint's position
        torch.manual_seed(0)
        config = XLMRobertaConfig(vocab_size=len(tokenizer), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                  intermediate_size=32, max_position_embeddings=BLOCK + 3, type_vocab_size=1,
                                  pad_token_id=tokenizer.pad_token_id)
        trainer = Trainer(model=XLMRobertaForMaskedLM(config), args=args, train_dataset=stream, data_collator=record,
                          callbacks=[stream_state_callback(stream)])
        trainer.train(resume_from_checkpoint=resume)
        return seen

    full = run(tmp_path / "full", 6)
    assert (tmp_path / "full" / "checkpoint-3" / "data_state.json").is_file()
    state = json.loads((tmp_path / "full" / "checkpoint-3" / "data_state.json").read_text())
    assert state["examples"] == 3 * 4
    resumed = run(tmp_path / "full", 6, resume=str(tmp_path / "full" / "checkpoint-3"))
    assert resumed[:3] == full[3:6]  # steps 4..6 saw the same blocks (the loader may read one batch ahead)
    # (losses differ slightly: the loader masked the prefetched batch before Trainer saved the RNG state)
