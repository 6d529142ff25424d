"""`lingbridge evaluate MODEL_OR_RUN --suite xtreme-lite`: the cross-lingual tasks that apply to a model, on
real public data, into one run directory (job `evaluate`).

The finetuning tasks run the recipes as a user would (`finetune_classification.main(argv)`,
`finetune_qa.main(argv)`), each into `tasks/<task>/` of the suite's run directory, on files the suite
writes into `data/<task>/`; retrieval and translation need no training and run here.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

from ..errors import UserError
from . import data as D
from .references import NAMES, NOT_PUBLISHED, model_key, references_for

logger = logging.getLogger("lingbridge")

TASKS = {  # task → (what it measures, metric columns in %, headline metric)
    "pawsx": ("sentence-pair classification (PAWS-X): finetune on English, zero-shot on the others",
              ["accuracy", "f1"], "accuracy"),
    "xquad": ("extractive QA (XQuAD): finetune on English articles, test on the other articles in every language",
              ["exact_match", "f1"], "f1"),
    "tatoeba": ("sentence retrieval (Tatoeba): accuracy@1 of mean-pooled embeddings, xx → en, no training",
                ["accuracy"], "accuracy"),
    "flores": ("translation (FLORES-200 devtest): BLEU and chrF per direction with sacreBLEU",
               ["bleu", "chrf"], "chrf"),
}
ENCODER_TASKS = ("pawsx", "xquad", "tatoeba")
SEQ2SEQ_TASKS = ("flores",)


# ---- the model ----------------------------------------------------------------------------------------------


def describe_model(name: str) -> dict:
    """What the suite needs to know about MODEL_OR_RUN: its path or Hub id, whether it is seq2seq, its record."""
    from transformers import AutoConfig

    path = Path(name)
    record = None
    if path.is_dir() and (path / "lingbridge_run.json").is_file():
        from lingbridge.record import read_record

        record = read_record(path)
    elif path.exists() and not path.is_dir():
        raise UserError(f"{name}: expected a model folder, a lingbridge run directory or a Hub id, got a file")
    elif not path.exists() and (name.startswith((".", "/")) or name.count("/") > 1):
        raise UserError(f"{name}: no such folder (and not a Hub id)")
    if path.is_dir() and not (path / "config.json").is_file():
        raise UserError(f"{name}: no config.json (a run directory without a model, e.g. an evaluate run?)")
    try:
        config = AutoConfig.from_pretrained(name)
    except Exception as err:  # Hub offline, unknown id, broken config
        msg = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UserError(f"{name}: could not read the model config ({msg})") from None
    base = (record or {}).get("base_model") if record else None
    return {"name": name, "record": record, "seq2seq": bool(getattr(config, "is_encoder_decoder", False)),
            "model_type": config.model_type, "reference_key": model_key(name) or model_key(base),
            "base_model": base, "is_run": record is not None,
            "directions": [(d["src"], d["tgt"]) for d in (record or {}).get("directions", [])]}


# ---- per-task runners ----------------------------------------------------------------------------------------


def _percent(table: dict, metrics: list[str], scale: float) -> dict:
    out = {}
    for lang, row in table.items():
        out[lang] = {m: round(scale * float(row[m]), 2) for m in metrics if isinstance(row.get(m), (int, float))}
        out[lang]["n"] = int(row.get("n", 0))
    return out


def summarise(table: dict, metric: str, sources: list[str]) -> dict:
    """Cross-language average (macro over languages, as XTREME) and the transfer gap (source − mean of targets)."""
    langs = [lang for lang in table if lang != "all"]
    vals = {lang: table[lang][metric] for lang in langs if metric in table[lang]}
    targets = [lang for lang in vals if lang not in sources]
    out = {"metric": metric, "average": round(sum(vals.values()) / len(vals), 2) if vals else None,
           "languages": langs, "source_languages": [s for s in sources if s in vals], "target_languages": targets}
    if targets:
        out["target_average"] = round(sum(vals[t] for t in targets) / len(targets), 2)
    if out["source_languages"] and targets:
        src = sum(vals[s] for s in out["source_languages"]) / len(out["source_languages"])
        out["transfer_gap"] = round(src - out["target_average"], 2)
    return out


def _finetune_args(args, out_dir: Path, model: str) -> list[str]:
    argv = ["--model_name_or_path", model, "--output_dir", str(out_dir), "--train_languages", "en",
            "--use_lora", str(args.use_lora).lower(), "--learning_rate", str(args.learning_rate),
            "--per_device_train_batch_size", str(args.batch_size), "--per_device_eval_batch_size", str(2 * args.batch_size),
            "--seed", str(args.seed), "--logging_steps", "10", "--report_to", "none", "--disable_tqdm", "true",
            "--save_total_limit", "1"]
    if args.max_steps:
        argv += ["--max_steps", str(args.max_steps), "--eval_strategy", "no", "--save_strategy", "no",
                 "--load_best_model_at_end", "false"]
    else:
        argv += ["--num_train_epochs", str(args.num_train_epochs), "--eval_strategy", "epoch", "--save_strategy", "epoch",
                 "--load_best_model_at_end", "true"]
    return argv


def training_note(args) -> str:
    how = "LoRA adapters (the recipe's defaults)" if args.use_lora else "full finetuning"
    length = f"{args.max_steps} steps" if args.max_steps else f"{args.num_train_epochs:g} epochs (best dev checkpoint)"
    return f"Training: {how}, {length}, learning rate {args.learning_rate:g}, batch {args.batch_size}, seed {args.seed}."


def run_pawsx(args, model: dict, work: Path, languages: list[str]) -> dict:
    from lingbridge.recipes import finetune_classification
    from lingbridge.record import read_record

    split = D.pawsx_splits(args.data_dir, languages, args.max_train_samples, args.max_eval_samples, args.dev_samples,
                           args.seed, args.cache_dir)
    folder = work / "data" / "pawsx"
    files = {name: D.write_jsonl(rows, folder / f"{name}.jsonl")
             for name, rows in (("train", split.train), ("dev", split.dev), ("test", split.test), ("pool", split.pool))}
    argv = _finetune_args(args, work / "tasks" / "pawsx", model["name"]) + [
        "--train_file", str(files["train"]), "--validation_file", str(files["dev"]), "--test_file", str(files["test"]),
        "--text_column", "text", "--text_pair_column", "text_pair", "--label_column", "label", "--lang_column", "lang",
        "--label_list", "0", "1", "--max_seq_length", str(args.max_seq_length), "--metric_for_best_model", "accuracy",
        # the benchmark defines its test set: no row may be dropped as a (near-)duplicate
        "--dedup", "false", "--near_dedup", "false"]
    run_dir = Path(finetune_classification.main.__wrapped__(argv))
    record = read_record(run_dir)
    table = _percent(record["metrics"]["per_language"], ["accuracy", "f1"], 100)
    return {"per_language": table, "run_dir": str(run_dir.relative_to(work)), "data_dir": str(folder.relative_to(work)),
            "notes": [*split.notes, training_note(args)], "source": split.source, "rows": {k: len(v) for k, v in vars(split).items()
                                                                 if isinstance(v, list) and k != "notes"},
            "items_file": _items_from_classification(run_dir, work)}


def _items_from_classification(run_dir: Path, work: Path) -> str | None:
    """The recipe's per-item predictions (`predictions.jsonl`: text, lang, label, prediction), copied for readiness."""
    src = run_dir / "predictions.jsonl"
    if not src.is_file():
        return None
    dst = work / "predictions" / "pawsx.jsonl"
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_text(src.read_text(encoding="utf-8"), encoding="utf-8")
    return str(dst.relative_to(work))


def run_xquad(args, model: dict, work: Path, languages: list[str]) -> dict:
    from lingbridge.recipes import finetune_qa
    from lingbridge.record import read_record

    split = D.xquad_splits(args.data_dir, languages, args.max_train_samples, args.max_eval_samples,
                           args.xquad_test_share, args.seed, args.cache_dir)
    folder = work / "data" / "xquad"
    from transformers import AutoTokenizer

    # a long question leaves little of a short window for the context: the stride must stay below what is left
    tokenizer = AutoTokenizer.from_pretrained(model["name"])
    window = min(args.qa_max_seq_length, tokenizer.model_max_length or args.qa_max_seq_length)
    stride = min(args.doc_stride, window // 4)
    clipped = 0
    for rows in (split.train, split.dev, split.test, split.pool):
        clipped += clip_questions(rows, tokenizer, window // 2)  # the recipe keeps whole questions
    if clipped:
        split.notes.append(f"{clipped} question(s) longer than {window // 2} tokens (half the {window}-token window) "
                           "were cut to that length, as run_qa.py's max_query_length does")
    files = {name: D.write_jsonl(rows, folder / f"{name}.jsonl")
             for name, rows in (("train", split.train), ("dev", split.dev), ("test", split.test), ("pool", split.pool))}
    argv = _finetune_args(args, work / "tasks" / "xquad", model["name"]) + [
        "--train_file", str(files["train"]), "--validation_file", str(files["dev"]), "--test_file", str(files["test"]),
        "--version_2_with_negative", "false", "--max_seq_length", str(args.qa_max_seq_length),
        "--doc_stride", str(stride), "--max_answer_length", "30"]
    run_dir = Path(finetune_qa.main.__wrapped__(argv))
    record = read_record(run_dir)
    table = _percent(record["metrics"]["per_language"], ["exact_match", "f1"], 1)
    items = None
    preds = run_dir / "predictions.json"
    if preds.is_file():  # the QA recipe saves every test question with its EM/F1: the items for intervals
        rows = json.loads(preds.read_text(encoding="utf-8"))
        items = D.write_jsonl([{"id": r["id"], "lang": r["lang"], "em": float(r["exact_match"]), "f1": float(r["f1"])}
                               for r in rows], work / "predictions" / "xquad.jsonl")
    return {"per_language": table, "run_dir": str(run_dir.relative_to(work)), "data_dir": str(folder.relative_to(work)),
            "notes": [*split.notes, training_note(args)], "source": split.source,
            "rows": {"train": len(split.train), "dev": len(split.dev), "test": len(split.test), "pool": len(split.pool)},
            "items_file": str(items.relative_to(work)) if items else None}


def clip_questions(rows: list[dict], tokenizer, max_tokens: int) -> int:
    """Cut each question to its first `max_tokens` tokens in place; returns how many were cut.

    A question that fills the window leaves no room for the context (and the fast tokenizer panics
    when the stride exceeds what is left): a tiny vocabulary splits Thai or Arabic into ~1 token per
    character, so this happens on real XQuAD questions.
    """
    if not rows:
        return 0
    enc = tokenizer([r["question"] for r in rows], add_special_tokens=False, return_offsets_mapping=True)
    cut = 0
    for r, offsets in zip(rows, enc["offset_mapping"]):
        if len(offsets) > max_tokens:
            r["question"] = r["question"][:offsets[max_tokens - 1][1]]
            cut += 1
    return cut


def _load(model_name: str, auto: str):
    import transformers
    from transformers import AutoTokenizer

    cls = getattr(transformers, auto)
    try:
        tokenizer = AutoTokenizer.from_pretrained(model_name)
        model = cls.from_pretrained(model_name, use_safetensors=True)
    except OSError as err:
        raise UserError(f"{model_name}: could not load the model ({str(err).splitlines()[0]})") from None
    return model, tokenizer


def run_tatoeba(args, model: dict, work: Path, languages: list[str]) -> dict:
    from ..retrieval import retrieval_accuracy_table, tatoeba_pairs

    pairs, notes = tatoeba_pairs(args.data_dir, [x for x in languages or [] if x != "en"], args.tatoeba_max_pairs)
    if not pairs:
        raise UserError(f"Tatoeba: no pairs with English for {', '.join(languages or ['any language'])} in {args.data_dir}")
    enc, tokenizer = _load(model["name"], "AutoModel")
    layer = args.tatoeba_layer if args.tatoeba_layer == "xtreme" else int(args.tatoeba_layer)
    table, hits = retrieval_accuracy_table(enc, tokenizer, pairs, layer=layer, max_length=args.max_seq_length,
                                           return_hits=True)
    from ..retrieval import xtreme_layer

    n_layers = getattr(enc.config, "num_hidden_layers", None) or enc.config.encoder_layers
    index = xtreme_layer(n_layers) if layer == "xtreme" else layer
    notes.insert(0, f"Tatoeba (LASER test pairs): each non-English sentence retrieves its translation among the "
                    f"{max(len(p[0]) for p in pairs.values())} English ones by cosine similarity of the mean-pooled "
                    f"hidden states of layer {index} of {n_layers} (XTREME's layer choice). No training.")
    items = []
    for lang, h in hits.items():
        items += [{"id": f"tatoeba-{lang}-{i}", "lang": lang, "gold": "hit", "pred": "hit" if v else "miss"}
                  for i, v in enumerate(h)]
    path = D.write_jsonl(items, work / "predictions" / "tatoeba.jsonl")
    return {"per_language": table, "notes": notes, "source": str(Path(args.data_dir) / "tatoeba-laser"),
            "layer": index, "items_file": str(path.relative_to(work))}


def run_flores(args, model: dict, work: Path, languages: list[str]) -> dict:
    from lingbridge.tasks.translation import make_directions, metrics_table

    pairs = parse_directions(args.directions) if args.directions else model["directions"]
    if not pairs:
        pairs = [p for lang in languages or [] if lang != "en" for p in (("en", lang), (lang, "en"))]
    pairs = [p for p in pairs if p[0] in D.FLORES_CODES and p[1] in D.FLORES_CODES]
    if not pairs:
        raise UserError("FLORES-200: no direction between languages FLORES covers; give --directions en-de de-en ...")
    sents = D.flores_sentences(args.data_dir, sorted({x for p in pairs for x in p}), args.max_eval_samples)
    seq2seq, tokenizer = _load(model["name"], "AutoModelForSeq2SeqLM")
    directions = make_directions(pairs, seq2seq.config, tokenizer)
    import torch

    seq2seq.eval()
    rows = []
    for d in directions:
        if d.src_code is not None:
            tokenizer.src_lang, tokenizer.tgt_lang = d.src_code, d.tgt_code
        srcs, refs = sents[d.src], sents[d.tgt]
        for start in range(0, len(srcs), args.batch_size):
            batch = srcs[start:start + args.batch_size]
            enc = tokenizer([d.prefix + s for s in batch], padding=True, truncation=True,
                            max_length=args.max_seq_length, return_tensors="pt")
            with torch.inference_mode():
                out = seq2seq.generate(**enc, num_beams=args.num_beams, max_new_tokens=args.generation_max_length,
                                       **d.gen_kwargs())
            hyps = [s.strip() for s in tokenizer.batch_decode(out, skip_special_tokens=True)]
            rows += [{"direction": d.name, "src_lang": d.src, "tgt_lang": d.tgt, "src": s, "ref": r, "hyp": h}
                     for s, r, h in zip(batch, refs[start:start + len(batch)], hyps)]
    table = metrics_table(rows)
    path = D.write_jsonl(rows, work / "predictions" / "flores.jsonl")
    n = len(next(iter(sents.values())))
    return {"per_language": table, "source": str(Path(args.data_dir) / "flores200"), "items_file": str(path.relative_to(work)),
            "notes": [f"FLORES-200 devtest: {n} sentences per direction, {'greedy decoding' if args.num_beams == 1 else f'{args.num_beams} beams'}, "
                      f"at most {args.generation_max_length} new tokens; BLEU with sacreBLEU's tokenizer for the target "
                      "language (signatures in the record), chrF for every direction."]}


def parse_directions(specs: list[str]) -> list[tuple[str, str]]:
    out = []
    for spec in specs:
        parts = spec.split("-")
        if len(parts) != 2 or not all(parts):
            raise UserError(f"--directions: '{spec}' is not of the form src-tgt (e.g. en-de)")
        out.append((parts[0], parts[1]))
    return out


RUNNERS = {"pawsx": run_pawsx, "xquad": run_xquad, "tatoeba": run_tatoeba, "flores": run_flores}


# ---- tables for people ---------------------------------------------------------------------------------------


def task_markdown(task: str, result: dict, model: dict) -> str:
    """One task's per-language table, average, transfer gap and the published figures beside it."""
    from lingbridge.evaluation import format_table

    what, metrics, _ = TASKS[task]
    if result.get("error"):
        return f"### {task}\n\n{what}\n\nNot run: {result['error']}\n"
    table = result["per_language"]
    lines = [f"### {task}", "", what + ".", ""]
    if task == "flores":
        lines += [format_table(table, ["bleu", "chrf", "bleu_tokenize", "n"], first="direction")]
    else:
        s = result["summary"]
        show = {lang: {**row, "role": "source" if lang in s["source_languages"] else ("zero-shot" if lang != "all" else "")}
                for lang, row in table.items()}
        roles = ["role"] if s["source_languages"] else []  # retrieval trains on nothing: no roles
        lines += [format_table(show, [*roles, *metrics, "n"]), "",
                  f"Scores in % (the `all` row pools every test item). Average over languages ({s['metric']}): "
                  f"**{s['average']}**"
                  + (f"; zero-shot languages {s['target_average']}" if "target_average" in s else "")
                  + (f"; transfer gap (source − zero-shot average): **{s['transfer_gap']:+.2f}**"
                     if "transfer_gap" in s else "") + "."]
        refs = references_for(task)
        if refs:
            rows = {f"{r['name']} (`{r['model']}`)" + (" ← this model" if r["model"] == model["reference_key"] else ""):
                    {m: r.get(m, "") for m in metrics} for r in refs}
            rows["this run (average over the languages above)"] = {m: _avg(table, m) for m in metrics}
            lines += ["", f"Published (average over the {refs[0]['languages_in_source']} languages of the "
                          f"source; {refs[0]['source']}):", "", format_table(rows, metrics, first="model")]
        if model["reference_key"] in NOT_PUBLISHED:
            lines += ["", NOT_PUBLISHED[model["reference_key"]]]
    lines += ["", *[f"- {n}" for n in result.get("notes", [])]]
    return "\n".join(lines) + "\n"


def _avg(table, metric):
    vals = [r[metric] for lang, r in table.items() if lang != "all" and metric in r]
    return round(sum(vals) / len(vals), 2) if vals else ""


def plot_suite(tasks: dict, path: Path) -> Path | None:
    """One panel per task: the headline metric per language, source languages in blue."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = {t: r for t, r in tasks.items() if not r.get("error") and t != "flores"}
    if not shown:
        return None
    fig, axes = plt.subplots(1, len(shown), figsize=(4.2 * len(shown), 3.4), squeeze=False)
    for ax, (task, r) in zip(axes[0], shown.items()):
        metric = TASKS[task][2]
        langs = [lang for lang in r["per_language"] if lang != "all"]
        vals = [r["per_language"][lang].get(metric, 0) for lang in langs]
        ax.bar(langs, vals, color=["#1f77b4" if lang in r["summary"]["source_languages"] else "#ff7f0e" for lang in langs])
        ax.set_ylim(0, 100)
        ax.set_title(f"{task}: {metric} (%)")
    fig.suptitle("Per language (blue: trained on, orange: zero-shot)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


# ---- the suite ------------------------------------------------------------------------------------------------


def evaluate_suite(args) -> Path:
    """Run the suite described by parsed `args` (see `lingbridge.suite.build_parser`); returns the run directory."""
    import types

    from lingbridge.runs import finish_run, prepare_run, start_run
    from lingbridge.training import setup_logging

    setup_logging(types.SimpleNamespace(should_log=True))
    model = describe_model(args.model)
    applicable = SEQ2SEQ_TASKS if model["seq2seq"] else ENCODER_TASKS
    tasks = args.tasks or list(applicable)
    wrong = [t for t in tasks if t not in applicable]
    if wrong:
        kind = "a seq2seq (encoder-decoder)" if model["seq2seq"] else "an encoder"
        raise UserError(f"--tasks {','.join(wrong)} do(es) not apply to {args.model}, {kind} model; "
                        f"its tasks: {', '.join(applicable)}")
    if args.data_dir is not None and not Path(args.data_dir).is_dir():
        raise UserError(f"--data_dir {args.data_dir}: no such folder")
    languages = args.languages  # None: every language of each task's data
    run = start_run("evaluate", types.SimpleNamespace(overwrite_output_dir=args.overwrite_output_dir, resume=False),
                    types.SimpleNamespace(output_dir=args.output_dir))
    prepare_run(run)
    work = run.work
    results, timing = {}, {}
    for task in tasks:
        started = time.time()
        logger.info("suite: %s", TASKS[task][0])
        try:
            res = RUNNERS[task](args, model, work, languages)
        except UserError as err:
            if len(tasks) == 1:
                raise
            logger.warning("suite: %s not run: %s", task, err)  # the other tasks still tell the user something
            res = {"error": str(err), "per_language": {}}
        if not res.get("error") and task != "flores":
            res["summary"] = summarise(res["per_language"], TASKS[task][2], ["en"] if task != "tatoeba" else [])
        timing[task] = round(time.time() - started, 1)
        results[task] = res
    if all(r.get("error") for r in results.values()):
        raise UserError("no task of the suite could run: " + "; ".join(f"{t}: {r['error']}" for t, r in results.items()))

    text = [f"# xtreme-lite: {args.model}", "",
            f"Model: `{args.model}`" + ((f" (a lingbridge run from `{model['base_model']}`)" if model["base_model"]
                                         else f" (a lingbridge {model['record'].get('job')} run)") if model["is_run"] else "")
            + (f"; published figures for {NAMES[model['reference_key']]} are marked" if model["reference_key"] in NAMES else ""),
            ""] + [task_markdown(t, r, model) for t, r in results.items()]
    (work / "results.md").write_text("\n".join(text), encoding="utf-8")
    plot_suite(results, work / "suite.png")
    headline = next(t for t in results if not results[t].get("error"))
    head = results[headline]
    langs = sorted({lang for r in results.values() for lang in r["per_language"] if lang != "all" and "-" not in lang})
    averages = {t: (r["summary"]["average"] if "summary" in r else (r["per_language"].get("all") or {}).get("chrf"))
                for t, r in results.items() if not r.get("error")}
    record = {
        "job": "evaluate", "task": "cross-lingual-evaluation", "suite": args.suite, "languages": langs,
        "eval_split": "test", "model": args.model, "base_model": model["base_model"] or args.model,
        "init": args.model, "model_type": model["model_type"], "tasks_run": list(results),
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "data_sources": [{"name": r.get("source", ""), "kind": "local file" if args.data_dir else "hub", "role": t}
                         for t, r in results.items() if not r.get("error")],
        "reference_model": model["reference_key"],
        "metrics": {"scale": "percent", "headline_task": headline,
                    "per_language": head["per_language"], "tasks": results, "averages": averages,
                    "timing_s": timing},
        "results_file": "results.md",
        "usage": 'import json\n\nrecord = json.load(open("{model}/lingbridge_run.json"))\n'
                 'print(record["metrics"]["averages"])  # per task; per-language tables in record["metrics"]["tasks"]',
        "summary": f"Cross-lingual evaluation (xtreme-lite) of `{args.model}`: "
                   + "; ".join(f"{t} {TASKS[t][2]} {a}" for t, a in averages.items() if a is not None)
                   + " (% , average over languages). Full tables in results.md.",
    }
    if "summary" in head and head["summary"].get("transfer_gap") is not None:
        m = TASKS[headline][2]
        record["metrics"]["transfer"] = {
            "source_languages": head["summary"]["source_languages"], "target_languages": head["summary"]["target_languages"],
            "rows": {lang: {"role": "source" if lang in head["summary"]["source_languages"] else "target",
                            m: head["per_language"][lang][m]} for lang in head["summary"]["languages"]},
            "gap": {m: {"source_mean": head["per_language"]["en"][m], "target_mean": head["summary"]["target_average"],
                        "gap": head["summary"]["transfer_gap"]}}}
    finish_run(run, record)
    print("\n".join(text))
    print(f"run directory: {run.path}")
    return run.path
