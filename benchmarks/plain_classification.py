"""The plain Hugging Face way of the classification job, at its best (the structure of
transformers' run_classification.py): batched fast tokenizer, dynamic padding, Trainer, the same
LoRA config, with the classifier and the pooler trainable (a careful user's fix: frozen, the
checkpoint's untrained pooler keeps LoRA at the majority class). Used by bench_classification.py as
the baseline; prints one JSON line."""

import json
import resource
import sys
import time

import numpy as np
from datasets import load_dataset
from peft import LoraConfig, get_peft_model
from sklearn.metrics import accuracy_score
from transformers import (AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding, Trainer,
                          TrainingArguments, set_seed)


def main(model_path, train_file, eval_file, out_dir, steps, batch, lr, seed=42):
    set_seed(seed)
    raw = load_dataset("csv", data_files={"train": train_file, "validation": eval_file}, delimiter="\t")
    labels = sorted(set(raw["train"]["label"]))
    tok = AutoTokenizer.from_pretrained(model_path)
    t0 = time.perf_counter()
    enc = raw.map(lambda b: tok(b["text"], truncation=True, max_length=128), batched=True, remove_columns=["text"])
    prep_rows_per_s = sum(len(d) for d in raw.values()) / (time.perf_counter() - t0)
    model = AutoModelForSequenceClassification.from_pretrained(model_path, num_labels=len(labels))
    model = get_peft_model(model, LoraConfig(task_type="SEQ_CLS", r=16, lora_alpha=32, lora_dropout=0.05,
                                             target_modules=["query", "value"],
                                             modules_to_save=["classifier", "pooler"]))
    args = TrainingArguments(output_dir=out_dir, max_steps=steps, per_device_train_batch_size=batch,
                             per_device_eval_batch_size=64, learning_rate=lr, warmup_steps=0.1, logging_steps=10,
                             save_strategy="no", eval_strategy="no", report_to="none", seed=seed,
                             dataloader_pin_memory=False, disable_tqdm=True)
    trainer = Trainer(model=model, args=args, train_dataset=enc["train"], data_collator=DataCollatorWithPadding(tok),
                      processing_class=tok)
    result = trainer.train()
    pred = trainer.predict(enc["validation"])
    acc = accuracy_score(pred.label_ids, np.argmax(pred.predictions, -1))
    print(json.dumps({"train_samples_per_second": result.metrics["train_samples_per_second"],
                      "train_runtime": result.metrics["train_runtime"], "accuracy": acc,
                      "preprocess_rows_per_second": prep_rows_per_s,
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


if __name__ == "__main__":
    a = sys.argv[1:]
    main(a[0], a[1], a[2], a[3], int(a[4]), int(a[5]), float(a[6]))
