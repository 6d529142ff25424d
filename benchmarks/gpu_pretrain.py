"""Pretraining throughput on one GPU: tokens/s and model FLOPs utilisation (MFU).

    python benchmarks/gpu_pretrain.py [--max_steps 2500] [extra recipe options]

Runs recipes/pretrain.py with recipes/configs/pretrain/base_scratch.yaml (XLM-R base architecture,
bf16, packed 128-token blocks), then reports non-padding tokens/s from Trainer's token count and
MFU = achieved FLOP/s ÷ peak dense bf16 FLOP/s, with model FLOPs per token = 6·N (N = non-embedding
parameters) + 12·L·H·S for attention (Kaplan et al. 2020; Chinchilla's convention). Peak: 989 TFLOP/s
for an H100/H200 SXM (datasheet), overridable with --peak_tflops.
"""

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--peak_tflops", type=float, default=989.0)
    args, rest = parser.parse_known_args()
    import torch

    from lingbridge.recipes import pretrain

    out = Path(tempfile.mkdtemp()) / "run"
    pretrain.main(["--config", str(ROOT / "recipes/configs/pretrain/base_scratch.yaml"), "--output_dir", str(out),
                   "--disable_tqdm", "true", *rest])
    record = json.loads((out / "lingbridge_run.json").read_text())
    from transformers import AutoConfig

    cfg = AutoConfig.from_pretrained(out)
    total = record["parameters"]["total"]
    embed = cfg.vocab_size * cfg.hidden_size + cfg.max_position_embeddings * cfg.hidden_size
    non_embed = total - embed
    seq = record["config"]["max_seq_length"]
    flops_per_token = 6 * non_embed + 12 * cfg.num_hidden_layers * cfg.hidden_size * seq
    train = record["metrics"]["train"]
    tokens = record["throughput"]["tokens_seen"]
    tokens_per_s = tokens / train["train_runtime"]
    mfu = tokens_per_s * flops_per_token / (args.peak_tflops * 1e12)
    result = {
        "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
        "torch": torch.__version__, "params_total": total, "params_non_embedding": non_embed,
        "steps": train.get("global_step") or record["config"]["max_steps"], "train_runtime_s": train["train_runtime"],
        "tokens_seen": tokens, "tokens_per_second": tokens_per_s, "samples_per_second": train["train_samples_per_second"],
        "model_flops_per_token": flops_per_token, "achieved_tflops": tokens_per_s * flops_per_token / 1e12,
        "peak_tflops": args.peak_tflops, "mfu": mfu,
        "first_loss": record["metrics"].get("first_loss"), "last_loss": record["metrics"].get("last_loss"),
        "per_language_perplexity": {k: round(v["perplexity"], 2) for k, v in record["metrics"]["per_language"].items()},
    }
    print("GPU_PRETRAIN_RESULT " + json.dumps(result))
    return result


if __name__ == "__main__":
    sys.exit(main() and 0)
