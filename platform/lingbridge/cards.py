"""Model cards rendered from a run's `lingbridge_run.json` by the template in `cards/`."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

from .evaluation import format_table
from .languages import LANGUAGE_NAMES
from .runs import read_record

PIPELINE_TAGS = {"text-classification": "text-classification", "fill-mask": "fill-mask"}


def _template_path() -> Path:
    return Path(str(resources.files("lingbridge.card_templates") / "model_card.md"))


def _usage(record: dict, repo_or_path: str) -> str:
    task = record.get("pipeline_tag")
    if task == "fill-mask":
        return (f'from transformers import pipeline\n\nfill = pipeline("fill-mask", model="{repo_or_path}")\n'
                f'print(fill("Paris is the <mask> of France."))')
    return (f'from transformers import pipeline\n\nclassify = pipeline("text-classification", model="{repo_or_path}")\n'
            f'print(classify("{record.get("example_input", "This works really well.")}"))')


def _eval_results(record: dict):
    from huggingface_hub import EvalResult

    results = []
    dataset = (record.get("data_sources") or [{}])[0].get("name", "custom")
    task = record.get("pipeline_tag", "text-classification")
    for lang, row in (record.get("metrics", {}).get("per_language") or {}).items():
        for metric, value in row.items():
            if metric == "n" or not isinstance(value, (int, float)):
                continue
            results.append(EvalResult(
                task_type=task, dataset_type=dataset, dataset_name=f"{dataset} ({lang})",
                dataset_split=record.get("eval_split", "test"), dataset_config=lang if lang != "all" else None,
                metric_type=metric, metric_name=f"{metric} ({lang})", metric_value=float(value),
            ))
    return results


def render_card(run_dir: str | Path, repo_id: str | None = None):
    """Render the model card of a run directory (a `huggingface_hub.ModelCard`).

    Args:
        run_dir: a finished run (or its working folder).
        repo_id: the Hub id the card will live under; the usage snippet names it (default: the folder).
    """
    from huggingface_hub import ModelCard, ModelCardData

    record = read_record(run_dir)
    langs = [lang for lang in record.get("languages", []) if lang in LANGUAGE_NAMES]
    base = record.get("base_model")
    if base and Path(base).exists():
        base = None  # a local folder is no Hub id; it is named in the body instead
    datasets = [s["name"] for s in record.get("data_sources", []) if s.get("kind") == "hub"]
    evals = _eval_results(record)
    data = ModelCardData(
        language=langs or None,
        license=record.get("license", "apache-2.0"),
        library_name="peft" if (record.get("lora") or {}).get("kept_unmerged") else "transformers",
        base_model=base,
        datasets=datasets or None,
        tags=["lingbridge", record["job"], *(["lora"] if record.get("lora") else [])],
        pipeline_tag=record.get("pipeline_tag"),
        model_name=repo_id or Path(record.get("run_dir") or run_dir).name,
        eval_results=evals or None,
    )
    metrics = record.get("metrics", {})
    per_lang = metrics.get("per_language") or {}
    cols = [c for c in ("accuracy", "precision", "recall", "f1", "loss", "perplexity", "n")
            if any(c in r for r in per_lang.values())]
    results = format_table(per_lang, cols) if per_lang else "No evaluation was run."
    transfer = metrics.get("transfer")
    if transfer and transfer.get("gap"):
        gap_rows = {m: {"source mean": g["source_mean"], "target mean": g["target_mean"], "gap": g["gap"]}
                    for m, g in transfer["gap"].items()}
        results += ("\n\n### Zero-shot cross-lingual transfer\n\nTrained on "
                    f"{', '.join(transfer['source_languages'])}; evaluated zero-shot on "
                    f"{', '.join(transfer['target_languages'])}. Gap = source score − mean of the targets.\n\n"
                    + format_table(gap_rows, ["source mean", "target mean", "gap"], first="metric"))
    cleaning = record.get("cleaning", {})
    data_section = "Sources: " + ", ".join(f"`{s['name']}` ({s.get('kind')})" for s in record.get("data_sources", []))
    if cleaning:
        data_section += (f"\n\nRows before cleaning: {cleaning.get('rows_before')}; after: {cleaning.get('rows_after')}."
                         "\n\n| rule | split | effect |\n|---|---|---|\n")
        for rule, per_split in cleaning.get("rules", {}).items():
            for split, effect in per_split.items():
                shown = {k: v for k, v in effect.items() if k != "examples"}
                data_section += f"| {rule} | {split} | {json.dumps(shown)} |\n"
    cfg = record.get("config", {})
    keys = ["model_name_or_path", "config_name", "learning_rate", "num_train_epochs", "max_steps",
            "per_device_train_batch_size", "max_seq_length", "seed", "lora_r", "lora_alpha", "lora_dropout"]
    training_section = "\n".join(f"- `{k}`: {cfg[k]}" for k in keys if cfg.get(k) not in (None, ""))
    if record.get("lora"):
        lora = record["lora"]
        training_section += (f"\n- LoRA on {lora.get('target_modules')}, fully trained: {lora.get('modules_to_save')}; "
                             f"{lora.get('trainable_params')} of {lora.get('total_params')} parameters trainable")
    hw = record.get("hardware", {})
    where = ", ".join(hw.get("gpus") or []) or f"CPU ({hw.get('cpu_count')} cores)"
    card = ModelCard.from_template(
        data,
        template_path=str(_template_path()),
        title=f"{record['job']}: {Path(record.get('run_dir') or run_dir).name}",
        summary=record.get("summary", ""),
        intended_use=record.get("intended_use", "Research and prototyping on the languages listed above."),
        usage_snippet=_usage(record, repo_id or str(Path(run_dir))),
        data_section=data_section,
        training_section=training_section or "See `lingbridge_run.json`.",
        results_section=results,
        limitations=record.get("limitations", "Not evaluated for fairness or safety. Scores on small test sets "
                                               "have wide confidence intervals; check the `n` column."),
        environment=f"Trained on {where} in {record.get('wall_time_s', 0):.0f} s.",
        lingbridge_version=record.get("lingbridge_version", ""),
        job=record["job"],
        git_commit=record.get("git_commit"),
    )
    return card


def write_card(run_dir: str | Path, repo_id: str | None = None) -> Path:
    card = render_card(run_dir, repo_id)
    path = Path(run_dir) / "README.md"
    card.save(path)
    return path
