"""The optimisation methods, one registry: each `Method` turns the teacher into a smaller or faster model.

A method's `apply(teacher, ctx)` returns an `Optimized`: the model as saved in `ctx.work`, the callable
that classifies with it (a torch or ONNX Runtime classifier), its weights' size and what it did. Adding
a method is one function here and one entry in `METHODS`; `recipes/optimize.py` measures any of them
the same way.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import UserError


@dataclass
class MethodContext:
    """What a method may use: the options, training set-up for recovery/distillation, the output folder."""

    opt: object                   # OptimizeArguments
    training_args: object         # TrainingArguments for recovery finetunes and distillation
    tokenizer: object
    texts: list                   # the evaluation texts (an export is checked on them)
    work: Path                    # the new run's working folder: the method saves its model here
    enc_train: object = None      # the tokenised training split (methods that train)
    collator: object = None
    fp32_mb: float = 0.0          # the teacher's weights in MB


@dataclass
class Optimized:
    model: object                 # the torch model (or the ONNX classifier)
    classifier: object            # `measure.TorchClassifier` / `measure.OnnxClassifier`
    weights_mb: float
    details: dict = field(default_factory=dict)
    log_history: list = field(default_factory=list)


def _recover(model, ctx: MethodContext) -> list:
    """A short finetune of the whole model (pruning masks stay applied while it trains)."""
    if not ctx.opt.recovery_steps:
        return []
    from ..training import build_trainer

    ctx.training_args.max_steps = ctx.opt.recovery_steps
    trainer = build_trainer(model, ctx.training_args, train_dataset=ctx.enc_train, data_collator=ctx.collator,
                            processing_class=ctx.tokenizer)
    trainer.train()
    return trainer.state.log_history


def _state_mb(model) -> float:
    return sum(t.numel() * t.element_size() for t in model.state_dict().values()) / 2**20


def dynamic_int8(teacher, ctx: MethodContext) -> Optimized:
    from . import measure
    from .quantize import quantize_dynamic_int8

    model = quantize_dynamic_int8(copy.deepcopy(teacher))
    teacher.config.lingbridge_quantization = "dynamic_int8"  # marks the folder; weights stay fp32
    teacher.save_pretrained(ctx.work)
    return Optimized(model, measure.TorchClassifier(model), measure.serialized_size_mb(model),
                     {"stored_as": "fp32 safetensors, int8 re-applied at load", "quantized_modules": "torch.nn.Linear"})


def onnx_int8(teacher, ctx: MethodContext) -> Optimized:
    from . import measure
    from .quantize import ONNX_FILE, ONNX_INT8_FILE, check_onnx, export_onnx, quantize_onnx_int8

    export_onnx(teacher, ctx.tokenizer, ctx.work / ONNX_FILE)
    export_diff = check_onnx(teacher, ctx.tokenizer, ctx.work / ONNX_FILE, ctx.texts)
    quantize_onnx_int8(ctx.work / ONNX_FILE, ctx.work / ONNX_INT8_FILE)
    (ctx.work / ONNX_FILE).unlink()  # the run holds what is deployed: the int8 graph
    teacher.config.save_pretrained(ctx.work)  # label names for whoever reads the outputs
    classifier = measure.OnnxClassifier(ctx.work / ONNX_INT8_FILE, threads=ctx.opt.latency_threads)
    return Optimized(classifier, classifier, measure.weights_size_mb(ctx.work, [ONNX_INT8_FILE]),
                     {"file": ONNX_INT8_FILE, "fp32_export_max_abs_diff": export_diff,
                      "exporter": "torch.onnx dynamo exporter (torch.export)", "quantizer": "onnxruntime quantize_dynamic QInt8"})


def magnitude_prune(teacher, ctx: MethodContext) -> Optimized:
    from . import measure
    from .prune import linear_sparsity, magnitude_prune as prune, make_permanent

    model = prune(copy.deepcopy(teacher), ctx.opt.sparsity)
    history = _recover(model, ctx)
    model = make_permanent(model).cpu().eval()  # measured on the CPU even if the recovery ran on a GPU
    model.save_pretrained(ctx.work)
    return Optimized(model, measure.TorchClassifier(model), ctx.fp32_mb,
                     {"target_sparsity": ctx.opt.sparsity, "linear_sparsity": linear_sparsity(model),
                      "recovery_steps": ctx.opt.recovery_steps}, history)


def head_prune(teacher, ctx: MethodContext) -> Optimized:
    from . import measure
    from .prune import choose_heads, count_heads, head_importance, prune_heads

    model, enc = copy.deepcopy(teacher), ctx.enc_train
    loader = [ctx.collator([enc[j] for j in range(i, min(i + 16, len(enc)))])
              for i in range(0, min(len(enc), 16 * ctx.opt.importance_batches), 16)]
    importance = head_importance(model, loader)
    chosen = choose_heads(importance, ctx.opt.head_fraction)
    heads_before = count_heads(model)
    prune_heads(model, chosen)
    history = _recover(model, ctx)
    model = model.cpu().eval()
    model.save_pretrained(ctx.work)
    return Optimized(model, measure.TorchClassifier(model), _state_mb(model),
                     {"head_fraction": ctx.opt.head_fraction, "pruned_heads": {str(k): v for k, v in chosen.items()},
                      "heads_before": heads_before, "heads_after": count_heads(model),
                      "importance": importance.tolist(), "recovery_steps": ctx.opt.recovery_steps}, history)


def distill(teacher, ctx: MethodContext) -> Optimized:
    from ..training import build_trainer
    from . import measure
    from .distill import DistillationTrainer, make_student, teacher_logits

    opt = ctx.opt
    model, init = make_student(teacher, opt.student_layers, opt.student_hidden_size)
    enc = ctx.enc_train.add_column("teacher_logits", teacher_logits(teacher, ctx.enc_train, ctx.collator))
    ctx.training_args.remove_unused_columns = False  # keep teacher_logits for compute_loss
    trainer = build_trainer(model, ctx.training_args, DistillationTrainer, train_dataset=enc,
                            data_collator=ctx.collator, processing_class=ctx.tokenizer,
                            temperature=opt.distill_temperature, alpha=opt.distill_alpha)
    trainer.train()
    model = model.cpu().eval()
    model.save_pretrained(ctx.work)
    return Optimized(model, measure.TorchClassifier(model), _state_mb(model),
                     {"student_init": init, "teacher_layers": teacher.config.num_hidden_layers,
                      "student_layers": model.config.num_hidden_layers, "student_hidden_size": model.config.hidden_size,
                      "temperature": opt.distill_temperature, "alpha": opt.distill_alpha, "train_rows": len(enc)},
                     trainer.state.log_history)


@dataclass(frozen=True)
class Method:
    description: str
    apply: Callable[[object, MethodContext], Optimized]
    trains: Callable[[object], bool]  # does it need the training split, given the options?
    gpu_snippet: bool = False         # a plain fp32 folder: bitsandbytes can load it in 8/4 bits on a GPU


METHODS = {
    "dynamic_int8": Method("PyTorch dynamic int8 quantisation of every nn.Linear (CPU)", dynamic_int8,
                           lambda opt: False, gpu_snippet=True),
    "onnx_int8": Method("ONNX export + ONNX Runtime dynamic int8 quantisation (CPU)", onnx_int8, lambda opt: False),
    "magnitude_prune": Method("global magnitude pruning of nn.Linear weights to --sparsity", magnitude_prune,
                              lambda opt: opt.recovery_steps > 0, gpu_snippet=True),
    "head_prune": Method("structured pruning of the least important attention heads (--head_fraction)", head_prune,
                         lambda opt: True),
    "distill": Method("a student with fewer layers (--student_layers) trained on the teacher's logits", distill,
                      lambda opt: True, gpu_snippet=True),
}


def get_method(name: str | None) -> Method:
    from ..config import did_you_mean

    if not name:
        raise UserError(f"--method is required; choose from {', '.join(METHODS)}")
    if name not in METHODS:
        raise UserError(f"unknown method '{name}'{did_you_mean(name, METHODS)}; choose from {', '.join(METHODS)}")
    return METHODS[name]


@dataclass
class OptimizeArguments:
    model_name_or_path: str | None = field(
        default=None, metadata={"help": "The classification run directory (or Hub id) to optimise; also the first positional argument."})
    method: str | None = field(default=None, metadata={"help": f"One of: {', '.join(METHODS)}."})
    sparsity: float = field(default=0.5, metadata={"help": "magnitude_prune: share of nn.Linear weights set to zero, in (0, 1)."})
    head_fraction: float = field(default=0.25, metadata={"help": "head_prune: share of all attention heads removed, in (0, 1)."})
    importance_batches: int = field(default=8, metadata={"help": "head_prune: training batches used to score the heads."})
    recovery_steps: int = field(default=0, metadata={"help": "Pruning: steps of recovery finetuning afterwards (0: none)."})
    student_layers: int | None = field(default=None, metadata={"help": "distill: student layers (default: half the teacher's)."})
    student_hidden_size: int | None = field(
        default=None, metadata={"help": "distill: student hidden size (default: the teacher's, which lets it start from the teacher's layers)."})
    distill_temperature: float = field(default=2.0, metadata={"help": "distill: softmax temperature T of the soft targets (loss scaled by T²)."})
    distill_alpha: float = field(default=0.5, metadata={"help": "distill: weight of the soft-target KL; 1 - alpha goes to the gold-label CE."})
    latency_runs: int = field(default=20, metadata={"help": "Timed batches per batch size (after 3 warm-up batches)."})
    latency_batch_sizes: list[int] = field(default_factory=lambda: [1, 32], metadata={"help": "Batch sizes timed on the CPU."})
    latency_threads: int = field(
        default=1, metadata={"help": "CPU threads while evaluating and timing: 1 is one serving worker per core, and "
                                     "stays stable on a shared machine (measured: 2 threads on 2 busy cores ran 70x slower)."})

    def __post_init__(self):
        if not self.model_name_or_path:
            raise UserError("give the run directory to optimise: lingbridge optimize RUN_DIR --method METHOD")
        get_method(self.method)
        if not 0 < self.sparsity < 1:
            raise UserError(f"sparsity must be between 0 and 1 (exclusive), got {self.sparsity}")
        if not 0 < self.head_fraction < 1:
            raise UserError(f"head_fraction must be between 0 and 1 (exclusive), got {self.head_fraction}")
        if self.recovery_steps < 0:
            raise UserError(f"recovery_steps must be 0 or more, got {self.recovery_steps}")
        if self.distill_temperature <= 0:
            raise UserError(f"distill_temperature must be positive, got {self.distill_temperature}")
        if not 0 <= self.distill_alpha <= 1:
            raise UserError(f"distill_alpha must be in [0, 1], got {self.distill_alpha}")
        if self.student_layers is not None and self.student_layers < 1:
            raise UserError(f"student_layers must be at least 1, got {self.student_layers}")
        if self.latency_runs < 1 or self.latency_threads < 1 or any(b < 1 for b in self.latency_batch_sizes):
            raise UserError("latency_runs, latency_threads and latency_batch_sizes must be at least 1")
