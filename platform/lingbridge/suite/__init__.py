"""Cross-lingual evaluation suites: `lingbridge evaluate MODEL_OR_RUN --suite xtreme-lite`.

xtreme-lite runs the XTREME tasks that apply to the model (Hu et al., 2020), zero-shot from English:

- pawsx:   sentence-pair classification, LoRA finetune on English PAWS-X, accuracy per language;
- xquad:   extractive QA, finetune on English XQuAD articles, EM/F1 on the other articles in every language;
- tatoeba: sentence retrieval, accuracy@1 of mean-pooled embeddings (no training);
- flores:  translation for seq2seq models, FLORES-200 devtest BLEU and chrF per direction.

Offline, on the copies of the public data (about 6 minutes on a 2-core CPU for a tiny model):
    lingbridge evaluate runs/pretrain-<timestamp> --data_dir ../shared/datasets \
        --max_train_samples 200 --max_eval_samples 100 --num_train_epochs 2
A Hub checkpoint on a GPU, PAWS-X and XQuAD from the Hub (Tatoeba and FLORES need --data_dir):
    lingbridge evaluate xlm-roberta-base --tasks pawsx,xquad --max_train_samples 20000

This module only parses arguments (cheap to import); the work is in `lingbridge.suite.run`.
"""

from __future__ import annotations

import argparse
import os

from ..errors import UserError, exit_on_user_error

SUITES = ("xtreme-lite",)
TASK_NAMES = ("pawsx", "xquad", "tatoeba", "flores")


def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="lingbridge evaluate", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Run a cross-lingual evaluation suite on a model and write one run directory (job 'evaluate') "
                    "with the per-language table of every task, the cross-language average, the transfer gap and "
                    "published reference figures.",
        epilog="Budget: on a CPU, --max_train_samples 200 --max_eval_samples 100 --num_train_epochs 2 keeps a tiny "
               "model under 10 minutes. Results are in %% (0-100), as XTREME reports them.")
    p.add_argument("model", help="a lingbridge run directory, a local model folder or a Hub id")
    p.add_argument("--suite", default="xtreme-lite", choices=SUITES, help="the suite to run (default: xtreme-lite)")
    p.add_argument("--tasks", type=_csv, default=None,
                   help=f"comma-separated subset of {','.join(TASK_NAMES)} (default: those that apply to the model: "
                        "pawsx,xquad,tatoeba for encoders, flores for seq2seq)")
    p.add_argument("--languages", type=_csv, default=None,
                   help="comma-separated language codes to test (default: every language of each task's data)")
    p.add_argument("--data_dir", default=os.environ.get("LINGBRIDGE_DATASETS"),
                   help="folder with local copies (pawsx/, xquad/, tatoeba-laser/, flores200/); default "
                        "$LINGBRIDGE_DATASETS, else PAWS-X and XQuAD from the Hub")
    p.add_argument("--output_dir", default=None, help="run directory (default: runs/evaluate-<timestamp>)")
    p.add_argument("--overwrite_output_dir", action="store_true", help="replace an existing run directory")
    g = p.add_argument_group("budget (finetuning tasks)")
    g.add_argument("--max_train_samples", type=int, default=None, help="English training examples per task")
    g.add_argument("--max_eval_samples", type=int, default=None,
                   help="test items per language (PAWS-X pairs, XQuAD questions, FLORES sentences)")
    g.add_argument("--tatoeba_max_pairs", type=int, default=None,
                   help="Tatoeba pairs per language (default: all 1,000; fewer candidates make retrieval easier)")
    g.add_argument("--num_train_epochs", type=float, default=2.0, help="finetuning epochs (XTREME: 2 for PAWS-X and QA)")
    g.add_argument("--max_steps", type=int, default=None, help="finetuning steps instead of epochs (no checkpoint selection)")
    g.add_argument("--dev_samples", type=int, default=100, help="English dev pairs for checkpoint selection (offline PAWS-X)")
    t = p.add_argument_group("training")
    t.add_argument("--use_lora", type=lambda v: v.lower() in ("1", "true", "yes"), default=True,
                   help="LoRA adapters (true, default) or full finetuning (false)")
    t.add_argument("--learning_rate", type=float, default=5e-4, help="finetuning learning rate (LoRA default 5e-4)")
    t.add_argument("--batch_size", type=int, default=16, help="training batch size (and generation batch size)")
    t.add_argument("--max_seq_length", type=int, default=128, help="PAWS-X and Tatoeba truncation (tokens)")
    t.add_argument("--qa_max_seq_length", type=int, default=256, help="XQuAD window (tokens)")
    t.add_argument("--doc_stride", type=int, default=64, help="XQuAD window overlap (tokens)")
    t.add_argument("--xquad_test_share", type=float, default=0.5, help="share of XQuAD articles held out as the test set")
    t.add_argument("--seed", type=int, default=42)
    t.add_argument("--cache_dir", default=None, help="Hub datasets cache")
    r = p.add_argument_group("retrieval and translation")
    r.add_argument("--tatoeba_layer", default="xtreme",
                   help="hidden layer to mean-pool: 'xtreme' (8 of 12, 14 of 24 layers) or an index (-1 = last)")
    r.add_argument("--directions", nargs="+", default=None, help="FLORES directions, e.g. en-de de-en (default: the run's)")
    r.add_argument("--num_beams", type=int, default=1, help="beam size for FLORES generation (1 = greedy)")
    r.add_argument("--generation_max_length", type=int, default=128, help="new tokens per FLORES translation")
    return p


def check_args(args) -> None:
    """Every argument mistake, before anything is loaded or written."""
    bad = [t for t in args.tasks or [] if t not in TASK_NAMES]
    if bad:
        from ..config import did_you_mean

        raise UserError(f"--tasks: unknown task '{bad[0]}'{did_you_mean(bad[0], TASK_NAMES)}; choose from "
                        f"{', '.join(TASK_NAMES)}")
    if args.languages:
        from ..languages import check_languages

        check_languages(args.languages, "languages")
    for name in ("max_train_samples", "max_eval_samples", "tatoeba_max_pairs", "max_steps"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise UserError(f"--{name} must be at least 1, got {value}")
    if args.num_train_epochs <= 0 or args.batch_size < 1 or args.num_beams < 1:
        raise UserError("--num_train_epochs must be positive, --batch_size and --num_beams at least 1")
    if not 0 < args.xquad_test_share < 1:
        raise UserError(f"--xquad_test_share must be in (0, 1), got {args.xquad_test_share}")
    if args.doc_stride >= args.qa_max_seq_length:
        raise UserError(f"--doc_stride ({args.doc_stride}) must be smaller than --qa_max_seq_length ({args.qa_max_seq_length})")
    if args.tatoeba_layer != "xtreme":
        try:
            int(args.tatoeba_layer)
        except ValueError:
            raise UserError(f"--tatoeba_layer must be 'xtreme' or an integer, got '{args.tatoeba_layer}'") from None


@exit_on_user_error
def cmd_evaluate(argv: list[str] | None = None):
    """Entry point of `lingbridge evaluate`; returns the run directory."""
    args = build_parser().parse_args(argv)
    check_args(args)
    from .run import evaluate_suite

    return evaluate_suite(args)
