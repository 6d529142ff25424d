"""Model cards rendered from a run's `lingbridge_run.json` by the template in `cards/`.

The metadata block goes through `huggingface_hub.ModelCardData` (so it is the Hub's YAML, with a
`model-index` entry per metric and language); `validate_card` re-checks a rendered card with the
checks huggingface_hub runs locally plus the Hub's metadata rules that need no network.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

from lingbridge.evaluation import format_table
from lingbridge.languages import LANGUAGE_NAMES
from lingbridge.record import read_record
from lingbridge.tasks import get_task, task_of_record

from .markets import markets_section

# A subset of the Hub's license identifiers (https://huggingface.co/docs/hub/repositories-licenses).
HUB_LICENSES = {"apache-2.0", "mit", "bsd-3-clause", "cc-by-4.0", "cc-by-sa-4.0", "cc-by-nc-4.0",
                "cc-by-nc-sa-4.0", "cc0-1.0", "gpl-3.0", "lgpl-3.0", "openrail", "other", "unknown"}
RESULT_METRICS = ("accuracy", "precision", "recall", "f1", "exact_match", "bleu", "chrf", "loss", "perplexity")


def _template_path() -> Path:
    return Path(str(resources.files("lingbridge.cards") / "model_card.md"))


def usage_snippet(record: dict, model: str, adapter: bool = False) -> str:
    """The code that loads and runs this run's model, from its registry task (the card tests execute it).

    `adapter`: the folder holds an unmerged LoRA adapter, which `pipeline` cannot open by itself:
    peft loads base + adapter and merges them first.
    """
    if record.get("usage"):  # a run that loads its own way (`lingbridge optimize`: ONNX, int8, pruned heads)
        return record["usage"].replace("{model}", model)
    task = task_of_record(record) or get_task("classification")
    return task.usage(model, record.get("example_input"), adapter)


def _dataset_id(source: dict) -> str:
    """A dataset identifier fit for the card: the Hub id, or a short name (never a local path)."""
    name = str(source.get("name", "custom"))
    if source.get("kind") == "hub":
        return name
    if name.startswith("sample:"):
        return f"lingbridge-sample-{name.split(':', 1)[1]}"
    return Path(name).stem or "custom"


def _eval_results(record: dict):
    from huggingface_hub import EvalResult

    results = []
    dataset = _dataset_id((record.get("data_sources") or [{}])[0])
    task = record.get("pipeline_tag") or "text-classification"
    for lang, row in (record.get("metrics", {}).get("per_language") or {}).items():
        for metric, value in row.items():
            if metric == "n" or not isinstance(value, (int, float)) or isinstance(value, bool):
                continue
            results.append(EvalResult(
                task_type=task, dataset_type=dataset, dataset_name=f"{dataset} ({lang})",
                dataset_split=record.get("eval_split", "test"), dataset_config=lang if lang != "all" else None,
                metric_type=metric, metric_name=f"{metric} ({lang})", metric_value=float(value),
            ))
    return results


def _data_section(record: dict) -> str:
    lines = []
    for s in record.get("data_sources", []):
        rows = s.get("rows_loaded")
        extra = f", rows {', '.join(f'{k} {v}' for k, v in rows.items())}" if rows else ""
        lines.append(f"- `{_dataset_id(s)}` ({s.get('kind')}{', ' + s['role'] if s.get('role') else ''}{extra})")
    out = "\n".join(lines) or "Not recorded."
    cleaning = record.get("cleaning", {})
    if cleaning:
        before, after = cleaning.get("rows_before", {}), cleaning.get("rows_after", {})
        out += "\n\nCleaning (rows per split):\n\n| split | before | after |\n|---|---|---|\n"
        out += "".join(f"| {split} | {before[split]} | {after.get(split, '')} |\n" for split in before)
        out += "\n| rule | split | effect |\n|---|---|---|\n"
        for rule, per_split in cleaning.get("rules", {}).items():
            for split, effect in per_split.items():
                shown = ", ".join(f"{k} {v}" for k, v in effect.items() if k != "examples")
                out += f"| {rule} | {split} | {shown} |\n"
    if record.get("rows"):
        out += "\nRows used: " + ", ".join(f"{k} {v}" for k, v in record["rows"].items()) + "."
    return out


def _training_section(record: dict) -> str:
    cfg = record.get("config", {})
    keys = ["model_name_or_path", "config_name", "learning_rate", "num_train_epochs", "max_steps",
            "per_device_train_batch_size", "gradient_accumulation_steps", "max_seq_length", "seed",
            "train_languages", "lora_r", "lora_alpha", "lora_dropout"]
    lines = [f"- init: {record['init']}"] if record.get("init") else []
    lines += [f"- `{k}`: {cfg[k]}" for k in keys if cfg.get(k) not in (None, "", [])]
    if record.get("lora"):
        lora = record["lora"]
        lines.append(f"- LoRA on {lora.get('target_modules')}, fully trained: {lora.get('modules_to_save')}; "
                     f"{lora.get('trainable_params')} of {lora.get('total_params')} parameters trainable")
    if record.get("world_size"):
        lines.append(f"- processes: {record['world_size']}")
    text = "\n".join(lines) or "See `lingbridge_run.json`."
    history = _eval_history_table(record.get("metrics", {}).get("eval_history") or [])
    return f"{text}\n\nEvaluation during training (dev split; per language in `lingbridge_run.json`):\n\n{history}" \
        if history else text


def _eval_history_table(history: list[dict], limit: int = 20) -> str:
    """Each evaluation during training, overall metrics only (`eval_f1`, not `eval_de_f1`): the last `limit`."""
    if not history:
        return ""
    languages = {k.split("_")[1] for h in history for k in h if k.count("_") >= 2 and len(k.split("_")[1]) == 2}
    cols = [k for k in dict.fromkeys(k for h in history for k in h)
            if k.startswith("eval_") and not (k.count("_") >= 2 and k.split("_")[1] in languages)]
    rows = {f"{h.get('epoch') or 0:.2f}": {"step": h.get("step"), **{c: h.get(c) for c in cols}} for h in history[-limit:]}
    return format_table(rows, ["step", *cols], first="epoch")


def _results_section(record: dict) -> tuple[str, str]:
    metrics = record.get("metrics", {})
    per_lang = metrics.get("per_language") or {}
    cols = [c for c in (*RESULT_METRICS, "n") if any(c in r for r in per_lang.values())]
    results = (f"On the `{record.get('eval_split', 'test')}` split:\n\n" + format_table(per_lang, cols)
               if per_lang else "No evaluation was run.")
    transfer = metrics.get("transfer") or {}
    if not transfer.get("gap"):
        return results, "Not applicable: the model was trained on every language it was evaluated on."
    names = list(transfer["gap"])
    text = (f"Trained on {', '.join(transfer['source_languages'])}; evaluated zero-shot on "
            f"{', '.join(transfer['target_languages'])}.\n\n"
            + format_table(transfer["rows"], ["role", *names])
            + "\n\nGap = mean over the source languages − mean over the zero-shot targets:\n\n"
            + format_table({m: {"source mean": g["source_mean"], "target mean": g["target_mean"], "gap": g["gap"]}
                            for m, g in transfer["gap"].items()}, ["source mean", "target mean", "gap"], first="metric"))
    return results, text


def render_card(run_dir: str | Path, repo_id: str | None = None, publish_as: str | None = None,
                base_model: str | None = None):
    """Render the model card of a run directory (a `huggingface_hub.ModelCard`).

    Args:
        run_dir: a finished run (or its working folder).
        repo_id: the Hub id the card will live under; the usage snippet names it (default: the folder).
        publish_as: for a run with an unmerged LoRA adapter: "adapter" (a peft repository) or
            "merged" (a plain transformers model). Default: what the folder holds.
        base_model: Hub id of the base model, when the record names a local folder.
    """
    from huggingface_hub import ModelCard, ModelCardData

    record = read_record(run_dir)
    task = task_of_record(record)
    langs = [lang for lang in record.get("languages", []) if lang in LANGUAGE_NAMES]
    base = base_model or record.get("base_model")
    if base and (Path(base).exists() or Path(base).is_absolute() or base.startswith(".")):
        base = None  # a local folder is no Hub id; the body names the init instead
    unmerged = bool((record.get("lora") or {}).get("kept_unmerged")) and publish_as != "merged"
    datasets = [s["name"] for s in record.get("data_sources", []) if s.get("kind") == "hub"]
    evals = _eval_results(record)
    name = Path(record.get("run_dir") or run_dir).name
    data = ModelCardData(
        language=langs or None,
        license=record.get("license", "apache-2.0"),
        # vision runs are plain PyTorch modules saved as safetensors, not transformers models
        library_name="peft" if unmerged else ("pytorch" if task and task.modality == "image" else "transformers"),
        base_model=base,
        datasets=datasets or None,
        metrics=sorted({e.metric_type for e in evals}) or None,
        tags=["lingbridge", record["job"], *(["lora"] if record.get("lora") else []),
              *(["multilingual"] if len(langs) > 1 else [])],
        pipeline_tag=record.get("pipeline_tag"),
        model_name=repo_id or name,
        eval_results=evals or None,
    )
    results, transfer = _results_section(record)
    markets = markets_section(run_dir)  # `lingbridge readiness` wrote markets.json: the stakeholders' section
    hw = record.get("hardware", {})
    where = ", ".join(hw.get("gpus") or []) or f"CPU ({hw.get('cpu_count')} cores)"
    adapter_note = ""
    if unmerged:
        adapter_note = (f"\n\nThis repository holds a LoRA adapter: peft loads its base model "
                        f"(`{base or record.get('base_model')}`, named in `adapter_config.json`) and merges the adapter.")
    return ModelCard.from_template(
        data,
        template_path=str(_template_path()),
        title=f"{record['job']}: {name}",
        summary=record.get("summary", ""),
        intended_use=record.get("intended_use", "Research, prototyping and demos" + (
            " on the languages listed above (" + ", ".join(LANGUAGE_NAMES[x] for x in langs) + ")." if langs else ".")),
        usage_snippet=usage_snippet(record, repo_id or str(Path(run_dir)), adapter=unmerged),
        adapter_note=adapter_note,
        data_section=_data_section(record),
        training_section=_training_section(record),
        results_section=results,
        transfer_section=transfer,
        markets_section=markets,
        limitations=record.get("limitations", (
            "Not evaluated for fairness or safety. The training data is small and covers few domains; scores on "
            "small test sets have wide confidence intervals (check the `n` column), and languages evaluated "
            "zero-shot do worse than the training languages. Expect errors on dialects, code-switching and "
            "domains absent from the data; do not use it for decisions about people.")),
        environment=(f"Trained on {where}, {hw.get('platform', 'unknown platform')}, in "
                     f"{record.get('wall_time_s', 0):.0f} s of wall time ({record.get('world_size') or 1} process(es)). "
                     "Small runs like this one have a negligible footprint; estimate larger ones with the "
                     "ML CO2 calculator (Lacoste et al., 2019)."),
        lingbridge_version=record.get("lingbridge_version", ""),
        job=record["job"],
        git_commit=record.get("git_commit"),
    )


def write_card(run_dir: str | Path, repo_id: str | None = None) -> Path:
    card = render_card(run_dir, repo_id)
    path = Path(run_dir) / "README.md"
    card.save(path)
    return path


def validate_card(card) -> list[str]:
    """Check a card against the Hub's metadata rules without the network; returns the problems found.

    Runs what huggingface_hub checks locally (the card re-parses with `ignore_metadata_errors=False`,
    `model-index` converts back to `EvalResult`s) plus the Hub rules that need no server: ISO language
    codes, a known license, a Hub id (not a path) as `base_model`, numeric metric values.
    """
    from huggingface_hub import ModelCard
    from huggingface_hub.repocard_data import model_index_to_eval_results

    problems = []
    try:
        parsed = ModelCard(str(card), ignore_metadata_errors=False)
    except ValueError as err:
        return [f"metadata does not parse: {err}"]
    data = parsed.data.to_dict()
    langs = data.get("language") or []
    for lang in [langs] if isinstance(langs, str) else langs:
        if lang not in LANGUAGE_NAMES and lang not in ("multilingual", "code"):
            problems.append(f"language '{lang}' is not an ISO 639-1 code")
    if data.get("license") not in HUB_LICENSES:
        problems.append(f"license '{data.get('license')}' is not a Hub license identifier")
    for base in [data["base_model"]] if isinstance(data.get("base_model"), str) else data.get("base_model") or []:
        if base.count("/") > 1 or base.startswith((".", "/")):
            problems.append(f"base_model '{base}' is a path, not a Hub id")
    if data.get("model-index"):
        _, results = model_index_to_eval_results(data["model-index"])
        for r in results:
            if not isinstance(r.metric_value, (int, float)):
                problems.append(f"model-index: {r.metric_name} has a non-numeric value {r.metric_value!r}")
    for key in ("tags", "datasets", "metrics"):
        if key in data and not isinstance(data[key], list):
            problems.append(f"{key} must be a list")
    if not json.loads(json.dumps(data)) == data:
        problems.append("metadata is not plain YAML data")
    return problems
