"""`lingbridge quickstart`: the whole pipeline on the embedded default, offline, on a CPU.

tokenizer → tiny MLM+TLM pretraining → LoRA sentiment finetune from it → evaluation per language
→ model card; then the same finetune from random initialisation, to show what pretraining bought.
`--tasks` adds the quickstart step of any registry task that has one (translation, qa).
"""

from __future__ import annotations

import importlib
import time
from datetime import datetime
from pathlib import Path

from .config import shipped_config
from .evaluation import format_table
from .record import read_record
from .tasks import all_tasks, get_task, recipe_module


def _step(title: str) -> None:
    print(f"\n=== {title} ===", flush=True)


def quickstart_tasks() -> list[str]:
    """`--tasks` choices: sentiment (always run) and every registry task with a quickstart step."""
    return ["sentiment", *(t.name for t in all_tasks() if t.quickstart)]


def _run_recipe(recipe: str, args: list[str]) -> None:
    importlib.import_module(recipe_module(recipe)).main(args)


def run_task_step(task_name: str, root: Path, pretrain_dir: Path, epochs: float | None) -> str:
    """Run a registry task's quickstart step into `root/<task>`; returns the table to print."""
    task = get_task(task_name)
    step = task.quickstart
    recipe, name = step.config.split("/")
    out = Path(root) / task.name
    args = ["--config", shipped_config(recipe, name), "--output_dir", str(out), *step.args]
    if step.from_pretrain:
        args += ["--model_name_or_path", str(pretrain_dir)]
    if epochs is not None:
        args += ["--num_train_epochs", str(epochs)]
    _run_recipe(task.recipe, args)
    summary = step.summarize(read_record(out))
    text = summary["heading"] + "\n" + format_table(summary["table"], summary["columns"], summary.get("first", "lang"))
    return text + "".join(f"\nnote: {n}" for n in summary.get("notes", []))


def quickstart(output_root: str | None = None, pretrain_epochs: float | None = None,
               finetune_epochs: float | None = None, tasks: tuple[str, ...] = ("sentiment",)) -> dict:
    root = Path(output_root or f"runs/quickstart-{datetime.now().strftime('%Y%m%d-%H%M%S')}")
    started = time.time()
    pre_dir, lora_dir, rand_dir = root / "pretrain", root / "sentiment-pretrained", root / "sentiment-random-init"
    pretrain, classification = get_task("mlm").recipe, get_task("classification").recipe

    _step("1/3 tokenizer + cross-lingual pretraining (MLM + TLM), tiny XLM-R")
    args = ["--config", shipped_config("pretrain"), "--output_dir", str(pre_dir)]
    if pretrain_epochs is not None:
        args += ["--num_train_epochs", str(pretrain_epochs)]
    _run_recipe(pretrain, args)

    sentiment = ["--config", shipped_config("finetune_classification", "sentiment_tiny")]
    ft_extra = ["--num_train_epochs", str(finetune_epochs)] if finetune_epochs is not None else []
    _step("2/3 LoRA sentiment finetune from the pretrained model (train en/de/zh, zero-shot on the rest)")
    _run_recipe(classification, [*sentiment, "--model_name_or_path", str(pre_dir), "--output_dir", str(lora_dir), *ft_extra])

    _step("3/3 the same finetune from random initialisation (what did pretraining buy?)")
    _run_recipe(classification, [*sentiment, "--config_name", "tiny", "--tokenizer_name", str(pre_dir),
                                 "--output_dir", str(rand_dir), *ft_extra])

    extra = {}
    for i, name in enumerate(t for t in tasks if t != "sentiment"):
        _step(f"extra {i + 1}: {get_task(name).quickstart.title}")
        extra[name] = run_task_step(name, root, pre_dir, finetune_epochs)

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
    pre_table = {lang: {"perplexity": ppl[lang]["perplexity"], "fertility": fert[lang][fert[lang]["primary"]]}
                 for lang in pre["languages"] if lang in ppl and lang in fert}
    _step("results")
    print("Pretraining (validation MLM perplexity; tokenizer fertility: tokens per word, per character for zh/ja):")
    print(format_table(pre_table, ["perplexity", "fertility"]))
    print("\nSentiment (test split, 3 classes: chance accuracy ≈ 0.33):")
    print(format_table(table, ["role", "acc pretrained", "acc random init", "F1 pretrained", "F1 random init", "Δ F1", "n"]))
    gap = lora["metrics"]["transfer"].get("gap", {}).get("accuracy")
    if gap:
        print(f"\nZero-shot transfer gap (accuracy, source − mean of targets): {gap['gap']:+.3f}")
    for name, lines in extra.items():
        print(f"\n{name}:\n{lines}")
    print("\nRun directories (each with weights, tokenizer, lingbridge_run.json, README.md model card, plots):")
    for d in (pre_dir, lora_dir, rand_dir, *[p for p in sorted(root.iterdir()) if p.name not in
                                                (pre_dir.name, lora_dir.name, rand_dir.name) and p.is_dir()]):
        print(f"  {d}")
    print(f"\nTotal time: {time.time() - started:.0f} s")
    print(f"\nShow the results (the app is part of lingbridge's install): lingbridge app --roots {root}")
    print(f"Training curves (loss, learning rate, evaluations): tensorboard --logdir {root}")
    return {"pretrain": pre, "finetune": lora, "random_init": rand, "table": table}
