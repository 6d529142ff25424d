"""Streaming pretraining at two corpus sizes: peak memory stays flat as the corpus grows.

Builds two corpora under /tmp from the real text in ../shared/datasets (both sides of the parallel
pairs, FLORES-200 devtest and the LASER Tatoeba sentences, per language, shuffled and repeated):
1 GB and 4 GB of jsonl shards, one folder per language (10 languages). Each is then streamed, in its
own process, through `lingbridge.data.streaming` exactly as pretraining uses it: sizes from file
metadata, q ∝ p^0.3 sampling, a Unigram tokenizer trained from the sampled stream with a row budget,
tokenisation and packing into 128-token blocks on the fly, TLM pairs from the parallel files at 0.3,
and a tiny XLM-R MLM trained for a fixed number of steps with Trainer. Reports per size: peak RSS,
training tokens/s, tokenizer seconds, time to the first batch, and the ratio of peak RSS 4 GB / 1 GB.
The corpora are deleted at the end.

    nice -n 10 python benchmarks/bench_streaming.py                     # 1 GB and 4 GB, 300 steps each
    nice -n 10 python benchmarks/bench_streaming.py --sizes_gb 0.1 0.4 --steps 50   # a quick look
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "datasets"
sys.path.insert(0, str(ROOT / "platform"))

FLORES = {"en": "eng_Latn", "de": "deu_Latn", "fr": "fra_Latn", "es": "spa_Latn", "ru": "rus_Cyrl", "zh": "zho_Hans",
          "ja": "jpn_Jpan", "ar": "arb_Arab", "vi": "vie_Latn", "ko": "kor_Hang"}
TATOEBA = {"de": "deu", "fr": "fra", "es": "spa", "ru": "rus", "zh": "cmn", "ja": "jpn", "ar": "ara", "vi": "vie", "ko": "kor"}
SHARD_BYTES = 64 * 2**20


def real_sentences() -> dict[str, list[str]]:
    """Every real sentence per language in ../shared/datasets (parallel pairs, FLORES-200, LASER Tatoeba)."""
    out: dict[str, list[str]] = {}
    for path in sorted((SHARED / "parallel").glob("*.tsv")):
        for line in path.read_text(encoding="utf-8").splitlines()[1:]:
            sl, s, tl, t = line.split("\t")
            out.setdefault(sl, []).append(s)
            out.setdefault(tl, []).append(t)
    for lang, code in FLORES.items():
        out.setdefault(lang, []).extend((SHARED / "flores200" / f"{code}.devtest").read_text(encoding="utf-8").splitlines())
    for lang, code in TATOEBA.items():
        out[lang].extend((SHARED / "tatoeba-laser" / f"tatoeba.{code}-eng.{code}").read_text(encoding="utf-8").splitlines())
        out["en"].extend((SHARED / "tatoeba-laser" / f"tatoeba.{code}-eng.eng").read_text(encoding="utf-8").splitlines())
    return {k: [s for s in v if s.strip()] for k, v in out.items()}


def build_corpus(folder: Path, total_bytes: int, seed: int = 0) -> dict[str, int]:
    """jsonl shards per language, each language's share of bytes as in the real data; returns bytes per language."""
    sentences = real_sentences()
    real = {lang: sum(len(s.encode()) for s in v) for lang, v in sentences.items()}
    scale = total_bytes / sum(real.values())
    rng = random.Random(seed)
    written = {}
    for lang, sents in sorted(sentences.items()):
        target, n, shard = int(real[lang] * scale), 0, 0
        (folder / lang).mkdir(parents=True)
        while n < target:
            with open(folder / lang / f"part-{shard:05d}.jsonl", "w", encoding="utf-8") as f:
                size = 0
                while size < SHARD_BYTES and n + size < target:
                    rng.shuffle(sents)  # each repetition in a new order: no two shards alike
                    chunk = "".join(json.dumps({"text": s}, ensure_ascii=False) + "\n" for s in sents)
                    f.write(chunk)
                    size += len(chunk.encode())
            n += size
            shard += 1
        written[lang] = n
    return written


class RssSampler:
    """Resident memory (VmRSS) every `every` seconds, from a thread, tagged with the phase the run is in."""

    def __init__(self, every: float = 0.25):
        import threading

        self.phase, self.samples, self._stop = "start", [], threading.Event()
        self._t0 = time.perf_counter()
        self._thread = threading.Thread(target=self._run, args=(every,), daemon=True)
        self._thread.start()

    @staticmethod
    def rss_mb() -> float:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmRSS")) / 1024

    def _run(self, every: float) -> None:
        while not self._stop.wait(every):
            self.samples.append((round(time.perf_counter() - self._t0, 2), self.phase, round(self.rss_mb())))

    def stop(self) -> list:
        self._stop.set()
        self._thread.join()
        return self.samples

    def peak_by_phase(self) -> dict:
        out: dict = {}
        for _, phase, mb in self.samples:
            out[phase] = max(out.get(phase, 0), mb)
        return out


def run_size(corpus: Path, steps: int, tokenizer_rows: int, out: Path) -> None:
    import torch
    from transformers import (DataCollatorForLanguageModeling, Trainer, TrainerCallback, TrainingArguments,
                              XLMRobertaConfig, XLMRobertaForMaskedLM)

    from lingbridge.data.streaming import (ResumableStream, build_pretraining_stream, interleave_languages,
                                           open_pair_streams, open_text_streams, sampled_texts, stream_sizes)
    from lingbridge.tokenization import train_unigram_tokenizer

    block, batch = 128, 32
    start = time.perf_counter()
    sampler = RssSampler()
    sampler.phase = "open streams"
    langs = sorted(p.name for p in corpus.iterdir())
    streams, sources = open_text_streams([f"{lang}={corpus / lang}" for lang in langs])
    sizes, unit = stream_sizes(streams, sources)
    pairs, psources = open_pair_streams([str(SHARED / "parallel")])
    psizes, _ = stream_sizes(pairs, psources)
    mixed, _ = interleave_languages(streams, sizes, alpha=0.3, seed=0)
    t0 = time.perf_counter()
    sampler.phase = "tokenizer"
    tokenizer = train_unigram_tokenizer(sampled_texts(mixed, tokenizer_rows), 8000, langs, model_max_length=block,
                                        show_progress=False)
    tok_s = time.perf_counter() - t0
    rss_after_tokenizer = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    sampler.phase = "build stream"
    stream, report = build_pretraining_stream(streams, tokenizer, block, text_sizes=sizes, pair_streams=pairs,
                                              pair_sizes=psizes, alpha=0.3, tlm_ratio=0.3, shuffle_buffer=10000)
    data = ResumableStream(stream, every=batch)
    config = XLMRobertaConfig(vocab_size=len(tokenizer), hidden_size=128, num_hidden_layers=2, num_attention_heads=2,
                              intermediate_size=512, max_position_embeddings=block + 3, type_vocab_size=1,
                              pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
                              eos_token_id=tokenizer.eos_token_id)
    torch.manual_seed(0)
    model = XLMRobertaForMaskedLM(config)
    args = TrainingArguments(output_dir=str(out.parent / f"trainer-{out.stem}"), max_steps=steps,
                             per_device_train_batch_size=batch, learning_rate=1e-3, logging_steps=max(1, steps // 5),
                             save_strategy="no", report_to="none", dataloader_num_workers=0, disable_tqdm=True,
                             include_num_input_tokens_seen="non_padding", use_cpu=True)

    class Phase(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            sampler.phase = f"steps {state.global_step // 50 * 50:04d}+"

    trainer = Trainer(model=model, args=args, train_dataset=data, callbacks=[Phase()],
                      data_collator=DataCollatorForLanguageModeling(tokenizer, mlm_probability=0.15))
    sampler.phase = "first step"
    t0 = time.perf_counter()
    result = trainer.train()
    train_s = time.perf_counter() - t0
    tokens = trainer.state.num_input_tokens_seen
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    out.write_text(json.dumps({
        "corpus_bytes": sum(sizes.values()), "unit": unit, "languages": len(langs), "steps": steps,
        "tokenizer_rows": tokenizer_rows, "tokenizer_s": tok_s, "train_s": train_s,
        "tokens_per_s": tokens / train_s, "tokens": tokens, "samples_per_s": result.metrics["train_samples_per_second"],
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "rss_after_tokenizer_mb": rss_after_tokenizer, "total_s": time.perf_counter() - start,
        "loss_first_last": [losses[0], losses[-1]] if losses else None,
        "q": {k: round(v["q"], 4) for k, v in report["per_language"].items()},
        "rss_peak_by_phase_mb": sampler.peak_by_phase(), "rss_samples": sampler.stop(),
    }))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes_gb", type=float, nargs="+", default=[1.0, 4.0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--tokenizer_rows", type=int, default=20000)
    parser.add_argument("--tmp", default="/tmp/lingbridge-bench-streaming")
    parser.add_argument("--_corpus", help=argparse.SUPPRESS)
    parser.add_argument("--_out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args._corpus:
        run_size(Path(args._corpus), args.steps, args.tokenizer_rows, Path(args._out))
        return
    if not (SHARED / "parallel").is_dir():
        sys.exit(f"{SHARED / 'parallel'} is absent")
    tmp = Path(args.tmp)
    results = []
    try:
        for gb in args.sizes_gb:
            corpus = tmp / f"corpus-{gb:g}GB"
            shutil.rmtree(corpus, ignore_errors=True)
            t0 = time.perf_counter()
            written = build_corpus(corpus, int(gb * 1e9))
            print(f"built {corpus}: {sum(written.values()) / 1e9:.2f} GB in {len(list(corpus.rglob('*.jsonl')))} shards "
                  f"({time.perf_counter() - t0:.0f} s)", flush=True)
            out = tmp / f"result-{gb:g}GB.json"
            subprocess.run([sys.executable, __file__, "--_corpus", str(corpus), "--_out", str(out), "--steps", str(args.steps),
                            "--tokenizer_rows", str(args.tokenizer_rows)], check=True,
                           env={"PATH": "/usr/bin:/bin", "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1",
                                "HF_DATASETS_DISABLE_PROGRESS_BARS": "1", "TOKENIZERS_PARALLELISM": "false",
                                "OMP_NUM_THREADS": "2", "HF_HOME": str(tmp / "hf_home")})
            r = json.loads(out.read_text())
            r["size_gb"] = gb
            results.append(r)
            print(f"{gb:g} GB: peak RSS {r['peak_rss_mb']:.0f} MB, {r['tokens_per_s']:.0f} tokens/s, tokenizer "
                  f"{r['tokenizer_s']:.1f} s, loss {r['loss_first_last']}", flush=True)
            print("  peak RSS by phase (MB): " + ", ".join(f"{k} {v:.0f}" for k, v in r["rss_peak_by_phase_mb"].items()),
                  flush=True)
            shutil.rmtree(corpus)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("\n| corpus | shards' bytes | peak RSS MB | RSS after tokenizer MB | train tokens/s | tokenizer s (rows) | loss first → last |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['size_gb']:g} GB | {r['corpus_bytes'] / 1e9:.2f} GB | {r['peak_rss_mb']:.0f} | {r['rss_after_tokenizer_mb']:.0f} | "
              f"{r['tokens_per_s']:.0f} | {r['tokenizer_s']:.1f} ({r['tokenizer_rows']}) | "
              f"{r['loss_first_last'][0]:.2f} → {r['loss_first_last'][1]:.2f} |")
    if len(results) > 1:
        print(f"\npeak RSS ratio {results[-1]['size_gb']:g} GB / {results[0]['size_gb']:g} GB: "
              f"{results[-1]['peak_rss_mb'] / results[0]['peak_rss_mb']:.3f}")
    results_dir = ROOT / "benchmarks" / "results"
    results_dir.mkdir(exist_ok=True)
    (results_dir / "streaming.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
