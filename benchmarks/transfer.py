"""Does cross-lingual pretraining on real text transfer? Zero-shot from English, 3 seeds per init, on
PAWS-X (sentence pairs), XQuAD (extractive QA) or XQuAD-QNLI (XQuAD's questions and answers made into
sentence-pair classification the way GLUE made QNLI from SQuAD: does this sentence of the paragraph hold the
answer? One answer sentence and one other sentence per question, so chance is 50%).

Three initialisations of the same architecture and tokenizer, each finetuned on English only and tested on
held-out items in every language of the task:
- random: the pretrain run's config with fresh random weights (nothing pretrained);
- mlm: `recipes/configs/pretrain/small.yaml --tlm false` (MLM on both sides of ../shared/datasets/parallel);
- mlm+tlm: `recipes/configs/pretrain/small.yaml` (the same plus TLM on the pairs).

Splits (offline: the local files are dev/test sets, translations of the same English items, so no test item
in any language is a translation of a training item):
- pawsx: the suite's split, seed 0: 500 pair indices are the test set in every language, 100 other English
  pairs select the checkpoint, the remaining 1,400 English pairs train.
- xquad: the suite's split, seed 0, a quarter of the 48 articles held out: their questions are the test set
  in every language; English questions of the other articles train (an eighth of them select the checkpoint).
- xquad-qnli: the same articles as xquad (1,526 English training pairs, 172 to select the checkpoint, about 590
  test pairs per language).
Finetuning: every weight (no LoRA: a random model has nothing to freeze), the same hyperparameters for every
init; seeds 1, 2, 3 change the head's initialisation and the batch order. Reports accuracy (PAWS-X, XQuAD-QNLI) or F1
(XQuAD) per language, mean ± std over seeds, and the zero-shot average over the pretraining's languages;
then, for each init's encoder as it is (no finetuning), Tatoeba sentence retrieval xx → en.

    nice -n 10 python benchmarks/transfer.py --pretrain                  # both pretrain runs, then PAWS-X
    python benchmarks/transfer.py --task xquad --runs mlm+tlm=runs/pretrain-a mlm=runs/pretrain-b
    python benchmarks/transfer.py --task xquad-qnli --runs minilm=<all-MiniLM-L6-v2 folder> \
        minilm+mlm+tlm=runs/a minilm+mlm=runs/b --finetune_args --learning_rate 5e-5 --num_train_epochs 3

The random init is the first run's architecture and tokenizer. `--runs` takes any names; a run that is a
checkpoint as it came (no pretraining of ours) is an init like the others.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "datasets"
sys.path.insert(0, str(ROOT / "platform"))
TASK_LANGS = {"pawsx": ["en", "de", "es", "fr", "ja", "ko", "zh"],
              "xquad": ["en", "de", "es", "zh", "ru", "vi", "ar"],  # XQuAD's languages the parallel corpus has (not tr, th...)
              "xquad-qnli": ["en", "de", "es", "zh", "ru", "vi", "ar"]}
METRIC = {"pawsx": "accuracy", "xquad": "f1", "xquad-qnli": "accuracy"}
PAIRS = ("pawsx", "xquad-qnli")  # sentence-pair classification through the classification recipe
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "HF_EVALUATE_OFFLINE": "1",
       "TOKENIZERS_PARALLELISM": "false", "HF_DATASETS_DISABLE_PROGRESS_BARS": "1"}


def write_split(task: str, folder: Path, model: str, window: int = 128) -> dict[str, str]:
    """The task's offline split (the suite's, seed 0) as jsonl files the recipes read."""
    from lingbridge.suite.data import answer_sentence_pairs, pawsx_splits, write_jsonl, xquad_splits

    if task == "pawsx":
        split = pawsx_splits(DATA, TASK_LANGS[task], max_train=None, max_test=500, dev_size=100, seed=0)
    elif task == "xquad-qnli":  # the same article split as xquad; (question, sentence) pairs, GLUE's QNLI recipe
        split = xquad_splits(DATA, TASK_LANGS[task], max_train=None, max_test=None, test_share=0.25, seed=0)
        split.train, split.dev, split.test = (answer_sentence_pairs(rows, seed=0)
                                              for rows in (split.train, split.dev, split.test))
    else:
        from transformers import AutoTokenizer

        from lingbridge.suite.run import clip_questions

        split = xquad_splits(DATA, TASK_LANGS[task], max_train=None, max_test=None, test_share=0.25, seed=0)
        tokenizer = AutoTokenizer.from_pretrained(model)
        for rows in (split.train, split.dev, split.test):  # the recipe keeps whole questions: leave room for context
            clip_questions(rows, tokenizer, window // 2)
    files = {}
    for name, rows in (("train", split.train), ("validation", split.dev), ("test", split.test)):
        if task in PAIRS:
            rows = [{"text": r["text"], "text_pair": r["text_pair"], "label": str(r["label"]), "lang": r["lang"]}
                    for r in rows]
        files[name] = str(write_jsonl(rows, folder / f"{task}-{name}.jsonl"))
    (folder / "split.txt").write_text("\n".join(split.notes) + "\n")
    print(split.notes[0], flush=True)
    return files


def random_init(pretrain_run: Path, out: Path) -> Path:
    """The pretrain run's architecture and tokenizer with random weights."""
    import torch
    from transformers import AutoConfig, AutoModelForMaskedLM, AutoTokenizer

    if not (out / "model.safetensors").is_file():
        torch.manual_seed(0)
        model = AutoModelForMaskedLM.from_config(AutoConfig.from_pretrained(pretrain_run))
        model.save_pretrained(out)
        AutoTokenizer.from_pretrained(pretrain_run).save_pretrained(out)
    return out


def finetune(task: str, init: str, model: str, seed: int, files: dict, out: Path, extra: list[str]) -> dict:
    run = out / f"{init}-seed{seed}"
    common = ["--model_name_or_path", model, "--train_file", files["train"], "--validation_file", files["validation"],
              "--test_file", files["test"], "--train_languages", "en", "--use_lora", "false", "--seed", str(seed),
              "--output_dir", str(run), "--overwrite_output_dir", "--disable_tqdm", "true", "--report_to", "none"]
    if task in PAIRS:
        cmd = [sys.executable, str(ROOT / "recipes" / "finetune_classification.py"),
               "--config", str(ROOT / "recipes" / "configs" / "finetune_classification" / "tiny.yaml"), *common,
               "--text_pair_column", "text_pair", "--label_list", "0", "1", "--learning_rate", "3e-4",
               "--num_train_epochs", "5", "--per_device_train_batch_size", "32", "--langid", "off",
               "--dedup", "false", "--near_dedup", "false", "--decontaminate", "false"]  # the split as stated
    else:  # the QA recipe's tiny config (lr 1e-3, batch 32, best dev checkpoint of 3 epochs), 128-token windows
        cmd = [sys.executable, str(ROOT / "recipes" / "finetune_qa.py"),
               "--config", str(ROOT / "recipes" / "configs" / "finetune_qa" / "tiny.yaml"), *common,
               "--version_2_with_negative", "false", "--max_seq_length", "128", "--doc_stride", "32",
               "--max_answer_length", "30", "--num_train_epochs", "3"]
    if not (run / "lingbridge_run.json").is_file():
        done = subprocess.run([*cmd, *extra], cwd=ROOT, env=ENV, capture_output=True, text=True)
        (out / f"{init}-seed{seed}.log").write_text(done.stdout[-20000:] + done.stderr[-20000:])
        if done.returncode:
            raise SystemExit(f"{init} seed {seed} failed:\n{done.stderr[-3000:]}")
    record = json.loads((run / "lingbridge_run.json").read_text())
    percent = 100 if task in PAIRS else 1  # accuracy is a fraction; the QA recipe reports F1 in %
    return {lang: percent * row[METRIC[task]] for lang, row in record["metrics"]["per_language"].items()
            if lang in TASK_LANGS[task]}


def tatoeba(model_dir: str, langs: list[str]) -> dict[str, float]:
    """Sentence retrieval xx → en on LASER's Tatoeba (accuracy@1 %, 1,000 pairs a language), no finetuning."""
    from transformers import AutoModel, AutoTokenizer

    from lingbridge.retrieval import evaluate_tatoeba

    model, tokenizer = AutoModel.from_pretrained(model_dir).eval(), AutoTokenizer.from_pretrained(model_dir)
    report = evaluate_tatoeba(model, tokenizer, data_dir=DATA, languages=[x for x in langs if x != "en"], max_pairs=1000)
    return {lang: row["accuracy"] for lang, row in report["per_language"].items()} if report else {}


def pretrain(out: Path) -> dict[str, str]:
    runs = {}
    for name, extra in (("mlm+tlm", []), ("mlm", ["--tlm", "false"])):
        run = out / f"pretrain-{name.replace('+', '-')}"
        if not (run / "lingbridge_run.json").is_file():
            subprocess.run([sys.executable, str(ROOT / "recipes" / "pretrain.py"), "--config",
                            str(ROOT / "recipes" / "configs" / "pretrain" / "small.yaml"), "--output_dir", str(run),
                            "--disable_tqdm", "true", *extra], cwd=ROOT, env=ENV, check=True)
        runs[name] = str(run)
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", choices=sorted(TASK_LANGS), default="pawsx")
    parser.add_argument("--runs", nargs="*", default=[], help="name=pretrain_run_dir (names: mlm+tlm, mlm)")
    parser.add_argument("--pretrain", action="store_true", help="run both pretrainings (small.yaml) first")
    parser.add_argument("--out", default=None, help="work folder (default: /tmp/lingbridge-transfer-<task>)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--parallel", type=int, default=3, help="finetunes at once")
    parser.add_argument("--finetune_args", nargs=argparse.REMAINDER, default=[], help="extra finetuning options")
    args = parser.parse_args()
    task, langs = args.task, TASK_LANGS[args.task]
    out = Path(args.out or f"/tmp/lingbridge-transfer-{task}")
    out.mkdir(parents=True, exist_ok=True)
    runs = dict(r.split("=", 1) for r in args.runs)
    if args.pretrain:
        runs.update(pretrain(out))
    if not runs:
        sys.exit("give --runs name=dir ... or --pretrain")
    first = next(iter(runs.values()))
    files = write_split(task, out, first)
    inits = {"random": str(random_init(Path(first), out / "random-init")), **runs}
    jobs = [(init, model, seed) for init, model in inits.items() for seed in args.seeds]
    with ThreadPoolExecutor(args.parallel) as pool:
        results = list(pool.map(lambda j: (j[0], j[2], finetune(task, *j, files, out, args.finetune_args)), jobs))
    table = {init: {lang: [r[lang] for i, _, r in results if i == init] for lang in langs} for init in inits}
    zero_shot = [lang for lang in langs if lang != "en"]
    for init in inits:
        table[init]["zero-shot avg"] = [statistics.mean(r[lang] for lang in zero_shot) for i, _, r in results if i == init]

    def cell(values):
        return f"{statistics.mean(values):.1f} ± {statistics.stdev(values):.1f}" if len(values) > 1 else f"{values[0]:.1f}"

    names = list(inits)
    what = {"pawsx": "PAWS-X accuracy", "xquad": "XQuAD F1", "xquad-qnli": "XQuAD-QNLI accuracy"}[task]
    print(f"\n{what} (%), mean ± std over seeds " + ", ".join(map(str, args.seeds)) + "; en = source, others zero-shot")
    print("| lang | " + " | ".join(names) + " |\n|---|" + "---|" * len(names))
    for lang in [*langs, "zero-shot avg"]:
        print(f"| {lang} | " + " | ".join(cell(table[n][lang]) for n in names) + " |", flush=True)
    retrieval = {init: tatoeba(model, langs) for init, model in inits.items()}
    rlangs = sorted({lang for r in retrieval.values() for lang in r})
    print("\nTatoeba retrieval xx → en, accuracy@1 (%), 1,000 pairs a language, no finetuning (the encoder as pretrained)")
    print("| lang | " + " | ".join(names) + " |\n|---|" + "---|" * len(names))
    for lang in rlangs:
        print(f"| {lang} | " + " | ".join(f"{retrieval[n].get(lang, float('nan')):.1f}" for n in names) + " |")
    result = {"task": task, "metric": METRIC[task], "runs": inits, "per_language_percent": table,
              "tatoeba_accuracy_at_1": retrieval}
    (out / "results.json").write_text(json.dumps(result, indent=1))
    results_dir = ROOT / "benchmarks" / "results"
    results_dir.mkdir(exist_ok=True)
    (results_dir / f"transfer_{task}.json").write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
