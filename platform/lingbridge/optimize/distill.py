"""Knowledge distillation: a smaller student learns from a teacher's logits and the gold labels.

loss = alpha · T² · KL(softmax(teacher / T) ‖ softmax(student / T)) + (1 − alpha) · CE(student, gold)

(Hinton et al., 2015: the T² keeps the soft-target gradients on the same scale as the hard ones
when T changes.) The teacher's logits are computed once over the training split and stored as a
column, so each epoch costs only the student's forward and backward passes.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from transformers import Trainer

from ..errors import UserError


def distillation_loss(student_logits, teacher_logits, labels, temperature: float, alpha: float):
    """Soft-target KL at `temperature` (scaled by T²) mixed with hard-label cross-entropy."""
    t = temperature
    kl = F.kl_div(F.log_softmax(student_logits / t, dim=-1), F.softmax(teacher_logits / t, dim=-1),
                  reduction="batchmean") * t * t
    ce = F.cross_entropy(student_logits, labels)
    return alpha * kl + (1 - alpha) * ce


class DistillationTrainer(Trainer):
    """`Trainer` whose loss is `distillation_loss` against a `teacher_logits` column of the batch."""

    def __init__(self, *args, temperature: float = 2.0, alpha: float = 0.5, **kwargs):
        super().__init__(*args, **kwargs)
        self.temperature, self.alpha = temperature, alpha

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        teacher_logits = inputs.pop("teacher_logits")
        labels = inputs.pop("labels")
        outputs = model(**inputs)
        loss = distillation_loss(outputs.logits, teacher_logits.to(outputs.logits.dtype), labels,
                                 self.temperature, self.alpha)
        return (loss, outputs) if return_outputs else loss


def make_student(teacher, num_layers: int | None = None, hidden_size: int | None = None):
    """A student with the teacher's architecture, fewer layers and optionally a smaller hidden size.

    With the teacher's hidden size the student starts from the teacher: embeddings, head and an
    evenly spaced subset of its layers (DistilBERT's recipe: layers 0, 2, 4 of 6). A smaller hidden
    size cannot reuse the weights, so that student starts from random init and needs more training.

    Returns (student, description of the initialisation).
    """
    config = copy.deepcopy(teacher.config)
    n_teacher = config.num_hidden_layers
    num_layers = num_layers or max(1, n_teacher // 2)
    if not 1 <= num_layers <= n_teacher:
        raise UserError(f"student_layers must be between 1 and the teacher's {n_teacher} layers, got {num_layers}")
    config.num_hidden_layers = num_layers
    if hidden_size and hidden_size != config.hidden_size:
        heads = config.num_attention_heads
        while hidden_size % heads:
            heads -= 1
        scale = hidden_size / config.hidden_size
        config.hidden_size, config.num_attention_heads = hidden_size, heads
        config.intermediate_size = int(config.intermediate_size * scale)
        student = type(teacher)(config)
        return student, f"random init, {num_layers} layers, hidden {hidden_size}"
    student = type(teacher)(config)
    keep = [i * n_teacher // num_layers for i in range(num_layers)]
    state = teacher.state_dict()
    prefix = f"{teacher.base_model_prefix}.encoder.layer."
    mapped = {}
    for key, value in state.items():
        if key.startswith(prefix):
            idx, rest = key[len(prefix):].split(".", 1)
            if int(idx) in keep:
                mapped[f"{prefix}{keep.index(int(idx))}.{rest}"] = value
        else:
            mapped[key] = value
    student.load_state_dict(mapped, strict=True)
    return student, f"teacher layers {keep} (of {n_teacher}), embeddings and head copied"


@torch.inference_mode()
def teacher_logits(teacher, dataset, collator, batch_size: int = 64) -> list[list[float]]:
    """The teacher's logits for every row of a tokenised dataset (in order)."""
    teacher.eval()
    out = []
    for i in range(0, len(dataset), batch_size):
        rows = [dataset[j] for j in range(i, min(i + batch_size, len(dataset)))]
        batch = collator([{k: v for k, v in r.items() if k in ("input_ids", "attention_mask", "token_type_ids")}
                          for r in rows])
        out.extend(teacher(**batch).logits.float().tolist())
    return out
