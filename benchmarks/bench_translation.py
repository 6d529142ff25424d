"""The translation recipe against the plain Hugging Face way (the structure of `run_translation.py`), in one run.

Both start from the same tiny seq2seq checkpoint (the recipe's built-in M2M100-architecture model: random
weights + a tokenizer trained on the bundled pairs, saved once), train on the same pairs (the bundled sample, the same directions), for the same steps with the
same seed, and generate the same test translations. The plain side: `datasets.map` with the batched fast
tokenizer (`text_target=`), `DataCollatorForSeq2Seq`, `Seq2SeqTrainer`, `predict_with_generate`,
sacreBLEU in `compute_metrics`. Each side runs in its own process (peak RSS is per process).

    python benchmarks/bench_translation.py --max_steps 60 --max_eval_samples 40

Prints train samples/s, generation time, peak RSS and BLEU/chrF per direction for both, and the speed ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DIRECTIONS = ["en-de", "de-en", "en-zh", "en-ja"]
COMMON = dict(per_device_train_batch_size=32, per_device_eval_batch_size=64, learning_rate=1e-3, warmup_steps=0.05,
              label_smoothing_factor=0.0, generation_max_length=48, generation_num_beams=1, seed=42)
# No label smoothing on either side: with it, Trainer takes the labels out of the model call, and the stock
# DataCollatorForSeq2Seq gives M2M100/NLLB no decoder inputs (the plain side would crash; the recipe's collator
# adds them). Without it both sides run the model's own loss.


def make_checkpoint(folder: Path) -> None:
    """The shared starting point: the tiny seq2seq model with a tokenizer trained on the training pairs."""
    from transformers import AutoModelForSeq2SeqLM, set_seed

    from lingbridge.data.parallel import load_parallel
    from lingbridge.models import tiny_seq2seq_config
    from lingbridge.tasks.translation import orient
    from lingbridge.tokenization import train_unigram_tokenizer

    dsd, _ = load_parallel("sample:parallel", keep_test=True)
    texts = []
    for spec in DIRECTIONS:
        d = orient(dsd["train"], *spec.split("-"))
        texts += list(d["src"]) + list(d["tgt"])
    langs = sorted({x for s in DIRECTIONS for x in s.split("-")})
    tok = train_unigram_tokenizer(texts, 4000, langs, model_max_length=48, show_progress=False)
    set_seed(42)
    model = AutoModelForSeq2SeqLM.from_config(tiny_seq2seq_config(tok))
    model.save_pretrained(folder)
    tok.save_pretrained(folder)


def run_recipe(ckpt: Path, out: Path, max_steps: int, max_eval: int) -> dict:
    from lingbridge.recipes import finetune_translation

    args = ["--config", str(ROOT / "recipes/configs/finetune_translation/tiny.yaml"), "--model_name_or_path", str(ckpt),
            "--use_lora", "false", "--output_dir", str(out), "--max_steps", str(max_steps),
            "--max_eval_samples", str(max_eval), "--save_strategy", "no", "--eval_strategy", "no",
            "--disable_tqdm", "true", "--logging_steps", "1000", "--directions", *DIRECTIONS]
    for k, v in COMMON.items():
        args += [f"--{k}", str(v)]
    t0 = time.perf_counter()
    finetune_translation.main(args)
    wall = time.perf_counter() - t0
    record = json.loads((out / "lingbridge_run.json").read_text())
    table = record["metrics"]["per_language"]
    return {"train_samples_per_second": record["metrics"]["train"]["train_samples_per_second"],
            "train_runtime": record["metrics"]["train"]["train_runtime"],
            "generation_s": record["metrics"]["generation_time_s"], "wall_s": wall,
            "train_loss": record["metrics"]["train"]["train_loss"],
            "hyps": [json.loads(x)["hyp"] for x in (out / "translations.jsonl").read_text().splitlines()],
            "metrics": {d: {"bleu": r["bleu"], "chrf": r["chrf"]} for d, r in table.items() if d != "all"}}


def run_plain(ckpt: Path, out: Path, max_steps: int, max_eval: int) -> dict:
    """run_translation.py's structure, one dataset with every direction (the target tag leads the source)."""
    import numpy as np
    import sacrebleu
    from datasets import concatenate_datasets
    from transformers import (AutoModelForSeq2SeqLM, AutoTokenizer, DataCollatorForSeq2Seq, Seq2SeqTrainer,
                              Seq2SeqTrainingArguments, set_seed)

    from lingbridge.config import CleaningArguments
    from lingbridge.data import clean_splits
    from lingbridge.data.parallel import load_parallel
    from lingbridge.tasks.translation import bleu_tokenizer, orient

    t0 = time.perf_counter()
    # same rows as the recipe: the same loading and cleaning stage (what is compared is everything after it)
    dsd, _ = load_parallel("sample:parallel", keep_test=True, role="parallel (translation)")
    dsd, _ = clean_splits(dsd, CleaningArguments(near_dedup=False), text_columns=("src", "tgt"))
    tokenizer = AutoTokenizer.from_pretrained(ckpt)
    set_seed(42)
    model = AutoModelForSeq2SeqLM.from_pretrained(ckpt)

    def preprocess(batch):
        inputs = [f"<lang_{t}> {s}" for s, t in zip(batch["src"], batch["tgt_lang"])]
        enc = tokenizer(inputs, text_target=batch["tgt"], max_length=48, truncation=True)
        start = model.config.decoder_start_token_id
        enc["labels"] = [ids[1:] if ids[0] == start else ids for ids in enc["labels"]]
        return enc

    def oriented(split, limit=None):
        parts = []
        for spec in DIRECTIONS:
            d = orient(dsd[split], *spec.split("-"))
            parts.append(d.select(range(min(limit, len(d)))) if limit else d)
        return concatenate_datasets(parts)

    train_raw, test_raw = oriented("train"), oriented("test", max_eval)
    train = train_raw.map(preprocess, batched=True, remove_columns=train_raw.column_names).shuffle(seed=42)
    test = test_raw.map(preprocess, batched=True, remove_columns=test_raw.column_names)
    args = Seq2SeqTrainingArguments(output_dir=str(out), max_steps=max_steps, predict_with_generate=True,
                                    report_to="none", save_strategy="no", eval_strategy="no", disable_tqdm=True,
                                    logging_steps=1000, dataloader_pin_memory=False, **COMMON)
    trainer = Seq2SeqTrainer(model=model, args=args, train_dataset=train, data_collator=DataCollatorForSeq2Seq(tokenizer, model=model),
                             processing_class=tokenizer)
    result = trainer.train()
    g0 = time.perf_counter()
    pred = trainer.predict(test)
    gen_s = time.perf_counter() - g0
    ids = np.where(pred.predictions < 0, tokenizer.pad_token_id, pred.predictions)
    hyps = [s.strip() for s in tokenizer.batch_decode(ids, skip_special_tokens=True)]
    metrics = {}
    for spec in DIRECTIONS:
        rows = [i for i, (s, t) in enumerate(zip(test_raw["src_lang"], test_raw["tgt_lang"])) if f"{s}-{t}" == spec]
        tgt = spec.split("-")[1]
        tok = bleu_tokenizer(tgt)[0]  # zh, ja-mecab (char without MeCab), 13a
        h, r = [hyps[i] for i in rows], [test_raw["tgt"][i] for i in rows]
        metrics[spec] = {"bleu": round(sacrebleu.corpus_bleu(h, [r], tokenize=tok).score, 4),
                         "chrf": round(sacrebleu.corpus_chrf(h, [r]).score, 4)}
    return {"train_samples_per_second": result.metrics["train_samples_per_second"],
            "train_runtime": result.metrics["train_runtime"], "generation_s": gen_s,
            "wall_s": time.perf_counter() - t0, "metrics": metrics, "train_loss": result.metrics["train_loss"],
            "hyps": hyps}


def child(which: str, ckpt: str, out: str, max_steps: int, max_eval: int) -> None:
    fn = run_recipe if which == "recipe" else run_plain
    res = fn(Path(ckpt), Path(out), max_steps, max_eval)
    res["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("RESULT " + json.dumps(res))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--max_steps", type=int, default=60)
    parser.add_argument("--max_eval_samples", type=int, default=40, help="test rows per direction")
    parser.add_argument("--repeats", type=int, default=1, help="alternate the two sides this many times")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--ckpt", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--out", default=None, help=argparse.SUPPRESS)
    a = parser.parse_args()
    if a.child:
        return child(a.child, a.ckpt, a.out, a.max_steps, a.max_eval_samples)

    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
           "HF_DATASETS_DISABLE_PROGRESS_BARS": "1"}
    results: dict[str, list[dict]] = {"recipe": [], "plain": []}
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = Path(tmp) / "ckpt"
        make_checkpoint(ckpt)
        for r in range(a.repeats):
            for which in ("plain", "recipe") if r % 2 else ("recipe", "plain"):
                cmd = [sys.executable, __file__, "--child", which, "--ckpt", str(ckpt), "--out",
                       str(Path(tmp) / f"{which}{r}"), "--max_steps", str(a.max_steps),
                       "--max_eval_samples", str(a.max_eval_samples)]
                proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
                line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULT ")), None)
                if line is None:
                    sys.exit(f"{which} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
                results[which].append(json.loads(line[7:]))
    import statistics as st

    def med(which, key):
        vals = [x[key] for x in results[which] if x.get(key) is not None]
        return st.median(vals) if vals else float("nan")

    print(f"tiny seq2seq (M2M100 architecture), directions {', '.join(DIRECTIONS)}, {a.max_steps} steps × batch {COMMON['per_device_train_batch_size']}, "
          f"{a.max_eval_samples} test rows per direction, greedy, {a.repeats} repeat(s) (medians)")
    print("| | train samples/s | train s | generation s | wall s | peak RSS MB |")
    print("|---|---|---|---|---|---|")
    for which in ("plain", "recipe"):
        print(f"| {which} | {med(which, 'train_samples_per_second'):.1f} | {med(which, 'train_runtime'):.1f} | "
              f"{med(which, 'generation_s'):.1f} | {med(which, 'wall_s'):.1f} | {med(which, 'peak_rss_mb'):.0f} |")
    ratio = med("recipe", "train_samples_per_second") / med("plain", "train_samples_per_second")
    print(f"\ntrain speed ratio recipe/plain: {ratio:.3f} (target ≥ 0.95)")
    print("\n| direction | BLEU plain | BLEU recipe | chrF plain | chrF recipe |\n|---|---|---|---|---|")
    same = True
    for d in DIRECTIONS:
        p, q = results["plain"][0]["metrics"][d], results["recipe"][0]["metrics"][d]
        same &= p == q
        print(f"| {d} | {p['bleu']:.2f} | {q['bleu']:.2f} | {p['chrf']:.2f} | {q['chrf']:.2f} |")
    p, q = results["plain"][0], results["recipe"][0]
    print(f"\nidentical metrics: {same}; train loss plain {p['train_loss']:.6f} recipe {q['train_loss']:.6f}; "
          f"identical translations: {p['hyps'] == q['hyps']} ({sum(map(bool, q['hyps']))} of {len(q['hyps'])} non-empty)")


if __name__ == "__main__":
    main()
