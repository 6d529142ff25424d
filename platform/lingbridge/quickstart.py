"""`lingbridge quickstart`: the whole pipeline on the embedded default, offline, on a CPU.

tokenizer → tiny MLM+TLM pretraining → LoRA sentiment finetune from it → evaluation per language
→ model card; then the same finetune from random initialisation, to show what pretraining bought.
"""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

from .cli import config_path
from .evaluation import format_table
from .runs import read_record


def _step(title: str) -> None:
    print(f"\n=== {title} ===", flush=True)


# Extra quickstart steps, one per task module: `quickstart_step(root, pretrain_dir, epochs) -> str`
# runs the task's tiny recipe under `root` and returns the lines to print in the results.
TASK_STEPS = {
    "translation": "lingbridge.tasks.translation",
    "qa": "lingbridge.tasks.qa",
}
TASKS = ("sentiment", *TASK_STEPS)


def quickstart(output_root: str | None = None, pretrain_epochs: float | None = None,
               finetune_epochs: float | None = None, tasks: tuple[str, ...] = ("sentiment",)) -> dict:
    from .recipes import finetune_classification, pretrain

    root = Path(output_root or f"runs/quickstart-{datetime.now().strftime('%Y%m%d-%H%M%S')}")
    started = time.time()
    pre_dir, lora_dir, rand_dir = root / "pretrain", root / "sentiment-pretrained", root / "sentiment-random-init"

    _step("1/3 tokenizer + cross-lingual pretraining (MLM + TLM), tiny XLM-R")
    args = ["--config", config_path("pretrain"), "--output_dir", str(pre_dir)]
    if pretrain_epochs is not None:
        args += ["--num_train_epochs", str(pretrain_epochs)]
    pretrain.main(args)

    ft_extra = ["--num_train_epochs", str(finetune_epochs)] if finetune_epochs is not None else []
    _step("2/3 LoRA sentiment finetune from the pretrained model (train en/de/zh, zero-shot on the rest)")
    finetune_classification.main(["--config", config_path("finetune_sentiment"), "--model_name_or_path", str(pre_dir),
                                  "--output_dir", str(lora_dir), *ft_extra])

    _step("3/3 the same finetune from random initialisation (what did pretraining buy?)")
    finetune_classification.main(["--config", config_path("finetune_sentiment"), "--config_name", "tiny",
                                  "--tokenizer_name", str(pre_dir), "--output_dir", str(rand_dir), *ft_extra])

    import importlib

    extra = {}
    for i, task in enumerate(t for t in tasks if t in TASK_STEPS):
        _step(f"extra {i + 1}: {task}")
        extra[task] = importlib.import_module(TASK_STEPS[task]).quickstart_step(root, pre_dir, finetune_epochs)

    pre, lora, rand = read_record(pre_dir), read_record(lora_dir), read_record(rand_dir)
    table = {}
    for lang, row in lora["metrics"]["per_language"].items():
        r = rand["metrics"]["per_language"][lang]
        role = "" if lang == "all" else ("source" if lang in lora["train_languages"] else "zero-shot")
        table[lang] = {"role": role, "acc pretrained": row["accuracy"], "acc random init": r["accuracy"],
                       "F1 pretrained": row["f1"], "F1 random init": r["f1"],
                       "Δ F1": row["f1"] - r["f1"], "n": row["n"]}
    ppl = pre["metrics"]["per_language"]
    fert = pre["tokenizer"]["fertility"]
    pre_table = {lang: {"perplexity": ppl[lang]["perplexity"],
                        "tokens/word" if fert[lang]["primary"] == "tokens_per_word" else "tokens/char":
                        fert[lang][fert[lang]["primary"]]}
                 for lang in pre["languages"] if lang in ppl and lang in fert}
    for row in pre_table.values():
        row["fertility"] = row.pop("tokens/word", row.pop("tokens/char", None))
    _step("results")
    print("Pretraining (validation MLM perplexity; tokenizer fertility: tokens per word, per character for zh/ja):")
    print(format_table(pre_table, ["perplexity", "fertility"]))
    print("\nSentiment (test split, 3 classes: chance accuracy ≈ 0.33):")
    print(format_table(table, ["role", "acc pretrained", "acc random init", "F1 pretrained", "F1 random init", "Δ F1", "n"]))
    gap = lora["metrics"]["transfer"].get("gap", {}).get("accuracy")
    if gap:
        print(f"\nZero-shot transfer gap (accuracy, source − mean of targets): {gap['gap']:+.3f}")
    for task, lines in extra.items():
        print(f"\n{task}:\n{lines}")
    print(f"\nRun directories (each with weights, tokenizer, lingbridge_run.json, README.md model card, plots):")
    for d in (pre_dir, lora_dir, rand_dir, *[p for p in sorted(root.iterdir()) if p.name not in
                                                (pre_dir.name, lora_dir.name, rand_dir.name) and p.is_dir()]):
        print(f"  {d}")
    print(f"\nTotal time: {time.time() - started:.0f} s")
    return {"pretrain": pre, "finetune": lora, "random_init": rand, "table": table}
