"""Does cross-lingual pretraining on real text transfer? PAWS-X zero-shot from English, 3 seeds per init.

Three initialisations of the same architecture and tokenizer, each finetuned on English PAWS-X only and
tested on held-out pairs in every PAWS-X language:
- random: the pretrain run's config with fresh random weights (nothing pretrained);
- mlm: `recipes/configs/pretrain/small.yaml --tlm false` (MLM on both sides of ../shared/datasets/parallel);
- mlm+tlm: `recipes/configs/pretrain/small.yaml` (the same plus TLM on the pairs).

Split (the local PAWS-X files are the 2,000-pair dev sets, translations of the same English pairs; the
suite's offline split, seed 0): 500 pair indices are the test set in every language, 100 other English
pairs select the checkpoint, the remaining 1,400 English pairs train; no test pair in any language is a
translation of a training pair. Finetuning: every weight (no LoRA: a random model has nothing to freeze),
the same hyperparameters for every init; seeds 1, 2, 3 change the classifier's initialisation and the
batch order. Reports accuracy per language, mean ± std over seeds, and the zero-shot average; then, for each
init's encoder as it is (no finetuning), Tatoeba sentence retrieval xx → en: how well it aligns languages.

    nice -n 10 python benchmarks/transfer_pawsx.py --pretrain        # both pretrain runs, then the 9 finetunes
    nice -n 10 python benchmarks/transfer_pawsx.py --runs tlm=runs/pretrain-a mlm=runs/pretrain-b
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
LANGS = ["en", "de", "es", "fr", "ja", "ko", "zh"]
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "HF_EVALUATE_OFFLINE": "1",
       "TOKENIZERS_PARALLELISM": "false", "HF_DATASETS_DISABLE_PROGRESS_BARS": "1"}


def write_split(folder: Path) -> dict[str, str]:
    from lingbridge.suite.data import pawsx_splits

    split = pawsx_splits(DATA, LANGS, max_train=None, max_test=500, dev_size=100, seed=0)
    files = {}
    for name, rows in (("train", split.train), ("validation", split.dev), ("test", split.test)):
        path = folder / f"pawsx-{name}.jsonl"
        with open(path, "w", encoding="utf-8") as f:
            for r in rows:
                f.write(json.dumps({"text": r["text"], "text_pair": r["text_pair"], "label": str(r["label"]),
                                    "lang": r["lang"]}, ensure_ascii=False) + "\n")
        files[name] = str(path)
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


def finetune(init: str, model: str, seed: int, files: dict, out: Path, extra: list[str]) -> dict:
    run = out / f"{init}-seed{seed}"
    if not (run / "lingbridge_run.json").is_file():
        cmd = [sys.executable, str(ROOT / "recipes" / "finetune_classification.py"),
               "--config", str(ROOT / "recipes" / "configs" / "finetune_classification" / "tiny.yaml"),
               "--model_name_or_path", model, "--train_file", files["train"], "--validation_file", files["validation"],
               "--test_file", files["test"], "--text_pair_column", "text_pair", "--train_languages", "en",
               "--label_list", "0", "1", "--use_lora", "false", "--learning_rate", "3e-4", "--num_train_epochs", "5",
               "--per_device_train_batch_size", "32", "--seed", str(seed), "--output_dir", str(run),
               "--overwrite_output_dir", "--disable_tqdm", "true", "--langid", "off",
               "--dedup", "false", "--near_dedup", "false", "--decontaminate", "false", "--report_to", "none",
               *extra]  # the split as stated
        done = subprocess.run(cmd, cwd=ROOT, env=ENV, capture_output=True, text=True)
        (out / f"{init}-seed{seed}.log").write_text(done.stdout[-20000:] + done.stderr[-20000:])
        if done.returncode:
            raise SystemExit(f"{init} seed {seed} failed:\n{done.stderr[-3000:]}")
    record = json.loads((run / "lingbridge_run.json").read_text())
    return {lang: row["accuracy"] for lang, row in record["metrics"]["per_language"].items() if lang in LANGS}


def tatoeba(model_dir: str) -> dict[str, float]:
    """Sentence retrieval xx → en on LASER's Tatoeba (accuracy@1 %, 1,000 pairs a language), no finetuning."""
    from transformers import AutoModel, AutoTokenizer

    from lingbridge.retrieval import evaluate_tatoeba

    model, tokenizer = AutoModel.from_pretrained(model_dir).eval(), AutoTokenizer.from_pretrained(model_dir)
    report = evaluate_tatoeba(model, tokenizer, data_dir=DATA, languages=[x for x in LANGS if x != "en"], max_pairs=1000)
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
    parser.add_argument("--runs", nargs="*", default=[], help="name=pretrain_run_dir (names: mlm+tlm, mlm)")
    parser.add_argument("--pretrain", action="store_true", help="run both pretrainings (small.yaml) first")
    parser.add_argument("--out", default="/tmp/lingbridge-transfer-pawsx")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--parallel", type=int, default=3, help="finetunes at once")
    parser.add_argument("--finetune_args", nargs=argparse.REMAINDER, default=[], help="extra finetuning options")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    runs = dict(r.split("=", 1) for r in args.runs)
    if args.pretrain:
        runs.update(pretrain(out))
    if not runs:
        sys.exit("give --runs name=dir ... or --pretrain")
    files = write_split(out)
    inits = {"random": str(random_init(Path(next(iter(runs.values()))), out / "random-init")), **runs}
    jobs = [(init, model, seed) for init, model in inits.items() for seed in args.seeds]
    with ThreadPoolExecutor(args.parallel) as pool:
        results = list(pool.map(lambda j: (j[0], j[2], finetune(*j, files, out, args.finetune_args)), jobs))
    table = {init: {lang: [r[lang] for i, _, r in results if i == init] for lang in LANGS} for init in inits}
    zero_shot = [lang for lang in LANGS if lang != "en"]
    for init in inits:
        per_seed = [statistics.mean(r[lang] for lang in zero_shot) for i, _, r in results if i == init]
        table[init]["zero-shot avg"] = per_seed

    def cell(values):
        return f"{100 * statistics.mean(values):.1f} ± {100 * statistics.stdev(values):.1f}" if len(values) > 1 else f"{100 * values[0]:.1f}"

    names = list(inits)
    print("\nPAWS-X accuracy (%), mean ± std over seeds " + ", ".join(map(str, args.seeds)) + "; en = source, others zero-shot")
    print("| lang | " + " | ".join(names) + " |\n|---|" + "---|" * len(names))
    for lang in [*LANGS, "zero-shot avg"]:
        print(f"| {lang} | " + " | ".join(cell(table[n][lang]) for n in names) + " |")
    retrieval = {init: tatoeba(model) for init, model in inits.items()}
    langs = sorted({lang for r in retrieval.values() for lang in r})
    print("\nTatoeba retrieval xx → en, accuracy@1 (%), 1,000 pairs a language, no finetuning (the encoder as pretrained)")
    print("| lang | " + " | ".join(names) + " |\n|---|" + "---|" * len(names))
    for lang in langs:
        print(f"| {lang} | " + " | ".join(f"{retrieval[n].get(lang, float('nan')):.1f}" for n in names) + " |")
    result = {"runs": inits, "accuracy": table, "tatoeba_accuracy_at_1": retrieval}
    (out / "results.json").write_text(json.dumps(result, indent=1))
    results_dir = ROOT / "benchmarks" / "results"
    results_dir.mkdir(exist_ok=True)
    (results_dir / "transfer_pawsx.json").write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
