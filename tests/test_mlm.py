"""Sparse MLM prediction: the head sees only the masked positions in training, with the same loss and gradients."""

from __future__ import annotations

import pytest
import torch
from transformers import BertConfig, BertForMaskedLM, XLMRobertaConfig, XLMRobertaForMaskedLM

from lingbridge.tasks.mlm import predict_masked_only


def _pair(model_class, config):
    torch.manual_seed(0)
    dense = model_class(config)
    sparse = model_class(config)
    sparse.load_state_dict(dense.state_dict())
    assert predict_masked_only(sparse)
    return dense, sparse


@pytest.mark.parametrize("model_class,config_class", [(XLMRobertaForMaskedLM, XLMRobertaConfig),
                                                      (BertForMaskedLM, BertConfig)])
def test_same_loss_and_gradients_from_the_masked_positions_only(model_class, config_class):
    config = config_class(vocab_size=500, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                          intermediate_size=64, max_position_embeddings=40)
    dense, sparse = _pair(model_class, config)
    ids = torch.randint(5, 500, (4, 24))
    labels = torch.full_like(ids, -100)
    masked = torch.rand(ids.shape) < 0.15
    masked[0, 0] = True
    labels[masked] = ids[masked]
    seen = []
    head = sparse.lm_head if hasattr(sparse, "lm_head") else sparse.cls
    head.register_forward_hook(lambda module, args, out: seen.append(tuple(out.shape)))
    for model in (dense, sparse):
        model.train()
        torch.manual_seed(1)  # the same dropout masks
        model(input_ids=ids, attention_mask=torch.ones_like(ids), labels=labels).loss.backward()
    assert seen == [(int(masked.sum()), 500)]  # the head ran on the masked positions only
    grads = {name: p.grad for name, p in dense.named_parameters() if p.grad is not None}
    for name, p in sparse.named_parameters():
        if name in grads:
            torch.testing.assert_close(p.grad, grads[name], rtol=1e-4, atol=1e-6)
    # evaluation is untouched: every position's logits, and the same loss as the plain model
    dense.eval(), sparse.eval()
    with torch.no_grad():
        a = dense(input_ids=ids, labels=labels)
        b = sparse(input_ids=ids, labels=labels)
    assert b.logits.shape == (4, 24, 500)
    torch.testing.assert_close(a.loss, b.loss)


def test_an_unknown_head_is_left_alone():
    assert predict_masked_only(torch.nn.Linear(2, 2)) is False
