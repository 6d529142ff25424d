"""Sparse MLM prediction against the plain model: training steps/s and peak memory of one MLM step.

The plain side is `XLMRobertaForMaskedLM` as Transformers runs it (the head projects every position onto the
vocabulary, the loss reads the masked 15%); lingbridge's side is the same model, the same weights and batch,
with `lingbridge.tasks.mlm.predict_masked_only` (the pretrain recipe's default, `--sparse_prediction`).
Shapes are the shipped configs': tiny.yaml (vocab 4,000) and small.yaml (vocab 8,000), both 2 layers, hidden
128, 32 sequences of 128 tokens. The two sides alternate in one process, so a busy machine slows both alike;
each side's loss on the same batch and dropout is checked equal first.

    python benchmarks/bench_sparse_mlm.py
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import torch
from transformers import XLMRobertaConfig, XLMRobertaForMaskedLM

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "platform"))
from lingbridge.tasks.mlm import predict_masked_only  # noqa: E402


def bench(vocab: int, batch: int = 32, length: int = 128, rounds: int = 8, steps: int = 5) -> dict:
    config = XLMRobertaConfig(vocab_size=vocab, hidden_size=128, num_hidden_layers=2, num_attention_heads=2,
                              intermediate_size=512, max_position_embeddings=length + 3, type_vocab_size=1)
    torch.manual_seed(0)
    plain, sparse = XLMRobertaForMaskedLM(config), XLMRobertaForMaskedLM(config)
    sparse.load_state_dict(plain.state_dict())
    assert predict_masked_only(sparse)
    ids = torch.randint(5, vocab, (batch, length))
    labels = torch.full_like(ids, -100)
    masked = torch.rand(ids.shape) < 0.15
    labels[masked] = ids[masked]
    inputs = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": labels}
    losses = []
    for model in (plain, sparse):
        model.train()
        torch.manual_seed(1)
        losses.append(model(**inputs).loss.item())
    assert abs(losses[0] - losses[1]) < 1e-4, losses
    optims = {name: torch.optim.AdamW(m.parameters(), lr=1e-3) for name, m in (("plain", plain), ("sparse", sparse))}
    times = {"plain": [], "sparse": []}
    for _ in range(rounds):
        for name, model in (("plain", plain), ("sparse", sparse)):
            start = time.perf_counter()
            for _ in range(steps):
                model(**inputs).loss.backward()
                optims[name].step()
                optims[name].zero_grad()
            times[name].append((time.perf_counter() - start) / steps)
    plain_s, sparse_s = statistics.median(times["plain"]), statistics.median(times["sparse"])
    return {"vocab": vocab, "plain_steps_per_s": 1 / plain_s, "sparse_steps_per_s": 1 / sparse_s, "ratio": plain_s / sparse_s,
            "ratio_min_max": (min(p / s for p, s in zip(times["plain"], times["sparse"])),
                              max(p / s for p, s in zip(times["plain"], times["sparse"])))}


def main() -> None:
    print("| config (vocab) | plain steps/s | sparse steps/s | ratio (min–max over rounds) |\n|---|---|---|---|")
    for name, vocab in (("tiny", 4000), ("small", 8000)):
        r = bench(vocab)
        print(f"| {name} ({vocab:,}) | {r['plain_steps_per_s']:.2f} | {r['sparse_steps_per_s']:.2f} | "
              f"**{r['ratio']:.2f}×** ({r['ratio_min_max'][0]:.2f}–{r['ratio_min_max'][1]:.2f}) |", flush=True)


if __name__ == "__main__":
    main()
