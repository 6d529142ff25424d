"""Pruning: global magnitude pruning (unstructured) and attention-head pruning (structured).

Magnitude pruning zeroes the smallest weights across every `nn.Linear` of the model at once, so
layers that matter keep more of theirs. The tensors stay dense: it shrinks a compressed download,
not the dense latency. Head pruning removes whole heads — rows of the query/key/value projections
and columns of the attention output — so the matrices really shrink and inference gets faster.

transformers v5 dropped `prune_heads` and `config.pruned_heads`, so the heads are sliced out here
and recorded in `config.lingbridge_pruned_heads`; `load_head_pruned` rebuilds the smaller model
from that record before loading the safetensors (shapes no longer match the stock architecture,
so a plain `from_pretrained` cannot load it).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ..errors import UserError

PRUNED_HEADS_KEY = "lingbridge_pruned_heads"


# ---- magnitude pruning --------------------------------------------------------------------------

def linear_weights(model) -> list[tuple[nn.Module, str]]:
    return [(m, "weight") for m in model.modules() if isinstance(m, nn.Linear)]


def magnitude_prune(model, sparsity: float):
    """Zero the `sparsity` share of the smallest-magnitude `nn.Linear` weights, ranked across the model.

    The masks stay attached (as `torch.nn.utils.prune` reparametrisation) so that a recovery finetune
    keeps the pruned weights at zero; call `make_permanent` before saving.
    """
    from torch.nn.utils import prune

    prune.global_unstructured(linear_weights(model), pruning_method=prune.L1Unstructured, amount=sparsity)
    return model


def make_permanent(model):
    """Fold the pruning masks into the weights (plain tensors again, saveable as safetensors)."""
    from torch.nn.utils import prune

    for module, name in linear_weights(model):
        if prune.is_pruned(module):
            prune.remove(module, name)
    return model


def linear_sparsity(model) -> float:
    """Share of zeros among the `nn.Linear` weights."""
    weights = [m.weight for m, _ in linear_weights(model)]
    zeros = sum(int((w == 0).sum()) for w in weights)
    return zeros / sum(w.numel() for w in weights)


# ---- attention-head pruning ----------------------------------------------------------------------

def _attention_blocks(model):
    """(self-attention, attention output) of each layer, for BERT-like encoders (BERT, RoBERTa, XLM-R, ...)."""
    base = getattr(model, model.base_model_prefix, model)
    layers = getattr(getattr(base, "encoder", None), "layer", None)
    if layers is None or not all(hasattr(layer, "attention") and hasattr(layer.attention, "self") for layer in layers):
        raise UserError(f"head pruning supports BERT-like encoders (layer.attention.self/output); "
                        f"model type '{model.config.model_type}' is not one")
    return [(layer.attention.self, layer.attention.output) for layer in layers]


def head_importance(model, batches) -> torch.Tensor:
    """First-order importance of every head: |weight · gradient| of its parameters, summed over batches.

    Michel et al. (2019) score heads by the loss gradient w.r.t. a head mask; v5 models take no head
    mask, and the Taylor score of the head's own weights ranks heads the same way in practice.
    Returns a (layers, heads) tensor.
    """
    blocks = _attention_blocks(model)
    model.train()  # gradients only; dropout off is not needed for a ranking
    model.zero_grad()
    for batch in batches:
        model(**batch).loss.backward()
    scores = []
    for attn, out in blocks:
        d, h = attn.attention_head_size, attn.num_attention_heads
        s = torch.zeros(h)
        for lin in (attn.query, attn.key, attn.value):
            s += (lin.weight * lin.weight.grad).abs().view(h, d, -1).sum(dim=(1, 2))
            s += (lin.bias * lin.bias.grad).abs().view(h, d).sum(dim=1)
        s += (out.dense.weight * out.dense.weight.grad).abs().view(out.dense.weight.shape[0], h, d).sum(dim=(0, 2))
        scores.append(s)
    model.zero_grad()
    model.eval()
    return torch.stack(scores)


def choose_heads(importance: torch.Tensor, fraction: float) -> dict[int, list[int]]:
    """The least important `fraction` of all heads, ranked globally, keeping at least one per layer."""
    layers, heads = importance.shape
    n = int(round(fraction * layers * heads))
    order = torch.argsort(importance.flatten()).tolist()
    chosen: dict[int, list[int]] = {}
    for idx in order:
        if n == 0:
            break
        layer, head = divmod(idx, heads)
        if len(chosen.get(layer, [])) < heads - 1:
            chosen.setdefault(layer, []).append(head)
            n -= 1
    return {layer: sorted(hs) for layer, hs in sorted(chosen.items())}


def _keep_index(heads: int, d: int, pruned: list[int]) -> torch.Tensor:
    return torch.tensor([h * d + i for h in range(heads) if h not in pruned for i in range(d)])


def _slice_linear(lin: nn.Linear, index: torch.Tensor, dim: int) -> nn.Linear:
    weight = lin.weight.index_select(dim, index).clone()
    bias = lin.bias if dim == 1 else lin.bias.index_select(0, index)
    new = nn.Linear(weight.shape[1], weight.shape[0], bias=lin.bias is not None)
    new.weight = nn.Parameter(weight.detach())
    new.bias = nn.Parameter(bias.detach().clone())
    return new


def prune_heads(model, pruned: dict[int, list[int]]):
    """Remove the heads in `pruned` ({layer: [head, ...]}) in place and record them in the config.

    The attention forward reshapes with `-1` heads, so only the projections and the head count
    change; the per-head size (and so the attention scaling) stays the same.
    """
    blocks = _attention_blocks(model)
    for layer, heads in pruned.items():
        attn, out = blocks[int(layer)]
        heads = [int(h) for h in heads]
        index = _keep_index(attn.num_attention_heads, attn.attention_head_size, heads)
        attn.query = _slice_linear(attn.query, index, 0)
        attn.key = _slice_linear(attn.key, index, 0)
        attn.value = _slice_linear(attn.value, index, 0)
        out.dense = _slice_linear(out.dense, index, 1)
        attn.num_attention_heads -= len(heads)
        attn.all_head_size = attn.num_attention_heads * attn.attention_head_size
    done = {int(k): list(v) for k, v in (getattr(model.config, PRUNED_HEADS_KEY, None) or {}).items()}
    for layer, heads in pruned.items():
        done[int(layer)] = sorted(set(done.get(int(layer), [])) | set(heads))
    setattr(model.config, PRUNED_HEADS_KEY, {str(k): v for k, v in sorted(done.items())})
    return model


def load_head_pruned(path: str | Path, auto_class=None):
    """Load a head-pruned model saved by `lingbridge optimize --method head_prune`.

    Builds the architecture from `config.json`, removes the heads named in
    `config.lingbridge_pruned_heads`, then loads `model.safetensors` (strictly: every weight must fit).
    """
    from safetensors.torch import load_file
    from transformers import AutoConfig, AutoModelForSequenceClassification

    auto_class = auto_class or AutoModelForSequenceClassification
    config = AutoConfig.from_pretrained(path)
    pruned = {int(k): v for k, v in (getattr(config, PRUNED_HEADS_KEY, None) or {}).items()}
    setattr(config, PRUNED_HEADS_KEY, None)
    model = auto_class.from_config(config)
    prune_heads(model, pruned)
    state = load_file(str(Path(path) / "model.safetensors"))
    missing, unexpected = model.load_state_dict(state, strict=False)
    # tied or non-persistent entries (position ids) may be absent from the file; weights may not
    missing = [k for k in missing if not k.endswith(("position_ids", "token_type_ids"))]
    if missing or unexpected:
        raise UserError(f"{path}: weights do not match the pruned architecture (missing {missing[:3]}, "
                        f"unexpected {unexpected[:3]})")
    return model.eval()


def count_heads(model) -> int:
    return sum(attn.num_attention_heads for attn, _ in _attention_blocks(model))
