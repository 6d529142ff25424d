"""lingbridge's side of bench_classification.py: the real recipe entry point, then its own numbers.

Preprocessing is timed on lingbridge's tokenisation stage (`tokenize_splits`) over the same rows the
plain side maps; the recipe itself also cleans and checks the data, which the plain script does not.
"""

import json
import resource
import sys
import time

from datasets import load_dataset
from transformers import AutoTokenizer

from lingbridge.recipes import finetune_classification
from lingbridge.tasks.classification import tokenize_splits

model, train, dev, out, steps, batch, lr = sys.argv[1:]
raw = load_dataset("csv", data_files={"train": train, "validation": dev}, delimiter="\t")
tok = AutoTokenizer.from_pretrained(model)
t0 = time.perf_counter()
tokenize_splits(raw, tok, 128, False)
prep = sum(len(d) for d in raw.values()) / (time.perf_counter() - t0)

finetune_classification.main([
    "--model_name_or_path", model, "--train_file", train, "--validation_file", dev, "--test_file", dev,
    "--output_dir", out, "--languages", "en", "--max_steps", steps, "--per_device_train_batch_size", batch,
    "--per_device_eval_batch_size", "64", "--learning_rate", lr, "--warmup_steps", "0.1", "--logging_steps", "10",
    "--lora_r", "16", "--lora_alpha", "32", "--lora_dropout", "0.05", "--save_strategy", "no", "--eval_strategy", "no",
    "--report_to", "none", "--seed", "42", "--disable_tqdm", "true", "--near_dedup", "false",
])
record = json.load(open(f"{out}/lingbridge_run.json"))
m = record["metrics"]["train"]
print(json.dumps({"train_samples_per_second": m["train_samples_per_second"], "train_runtime": m["train_runtime"],
                  "accuracy": record["metrics"]["per_language"]["all"]["accuracy"],
                  "preprocess_rows_per_second": prep, "rows_after_cleaning": record["cleaning"]["rows_after"],
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
