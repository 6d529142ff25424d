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


def test_head_warmup_trains_the_head_alone_then_everything(tmp_path):
    """A new MLM head learns for the first steps with the encoder still; then every weight trains."""
    from datasets import Dataset
    from transformers import Trainer, TrainerCallback, TrainingArguments

    from lingbridge.tasks.mlm import head_warmup

    config = BertConfig(vocab_size=200, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=40)
    torch.manual_seed(0)
    model = BertForMaskedLM(config)
    ids = torch.randint(5, 200, (16, 12))
    data = Dataset.from_dict({"input_ids": ids.tolist(), "labels": ids.tolist()})
    snapshots, computed = [], []

    class Snapshot(TrainerCallback):
        def on_pre_optimizer_step(self, args, state, control, **kwargs):  # runs before head_warmup's
            computed.append(any(p.grad is not None for p in model.bert.parameters()))

        def on_step_end(self, args, state, control, **kwargs):
            snapshots.append({n: p.detach().clone() for n, p in model.named_parameters()})

    args = TrainingArguments(tmp_path, max_steps=3, per_device_train_batch_size=8, learning_rate=1e-2,
                             report_to="none", save_strategy="no", use_cpu=True, disable_tqdm=True)
    start = {n: p.detach().clone() for n, p in model.named_parameters()}
    Trainer(model=model, args=args, train_dataset=data, callbacks=[Snapshot(), head_warmup(2)]).train()

    def moved(a, b, prefix):
        return [n for n in a if n.startswith(prefix) and not torch.equal(a[n], b[n])]

    assert all(p.requires_grad for p in model.parameters())  # nothing is left frozen
    for step in (0, 1):  # steps 1 and 2: the head moved, no encoder weight did (tied embeddings included)
        before = start if step == 0 else snapshots[0]
        assert moved(before, snapshots[step], "cls.") and not moved(before, snapshots[step], "bert.")
    assert moved(snapshots[1], snapshots[2], "bert.")  # step 3: everything trains
    assert computed == [False, False, True]  # one process: no encoder backward while the head warms up


def test_head_warmup_steps_run_at_their_own_learning_rate(tmp_path):
    """--head_warmup_learning_rate: the head-only steps use it, then the schedule takes over as if untouched."""
    from datasets import Dataset
    from transformers import Trainer, TrainerCallback, TrainingArguments

    from lingbridge.tasks.mlm import head_warmup

    config = BertConfig(vocab_size=100, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=20)
    ids = torch.randint(5, 100, (32, 8))
    data = Dataset.from_dict({"input_ids": ids.tolist(), "labels": ids.tolist()})
    used = []

    class Rates(TrainerCallback):
        def on_optimizer_step(self, args, state, control, optimizer=None, **kwargs):
            used.append({group["lr"] for group in optimizer.param_groups})

    args = TrainingArguments(tmp_path, max_steps=4, per_device_train_batch_size=8, learning_rate=1e-3,
                             lr_scheduler_type="constant", report_to="none", save_strategy="no", use_cpu=True,
                             disable_tqdm=True)
    Trainer(model=BertForMaskedLM(config), args=args, train_dataset=data,
            callbacks=[head_warmup(2, learning_rate=0.5), Rates()]).train()
    assert used == [{0.5}, {0.5}, {1e-3}, {1e-3}]


def test_a_head_warmup_rate_without_warmup_steps_is_refused():
    from lingbridge.errors import UserError
    from lingbridge.tasks.mlm import PretrainArguments

    with pytest.raises(UserError, match="head_warmup_learning_rate"):
        PretrainArguments(head_warmup_learning_rate=1e-3)


def on_two_gloo_processes(script: str, tmp_path) -> str:
    """Run a script under torch.distributed.run on two CPU processes; its stdout."""
    import sys

    from conftest import run_cli

    path = tmp_path / "two_processes.py"
    path.write_text(script, encoding="utf-8")
    proc = run_cli([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", str(path)], cwd=tmp_path,
                   timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


FSDP2_HEAD_WARMUP = """
import torch, torch.distributed as dist
from types import SimpleNamespace
from torch.distributed.device_mesh import init_device_mesh
from torch.distributed.fsdp import fully_shard
from transformers import BertConfig, BertForMaskedLM
from lingbridge.tasks.mlm import head_warmup

dist.init_process_group("gloo")
mesh = init_device_mesh("cpu", (dist.get_world_size(),))
torch.manual_seed(0)
model = BertForMaskedLM(BertConfig(vocab_size=200, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                   intermediate_size=64, max_position_embeddings=40))
callback = head_warmup(1)  # made before the model is sharded, as in the recipe (the Trainer shards it later)
for layer in model.bert.encoder.layer:
    fully_shard(layer, mesh=mesh)
fully_shard(model, mesh=mesh)  # as accelerate's FSDP2: the parameters become sharded DTensors
optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
full = lambda: {n: p.full_tensor().clone() for n, p in model.named_parameters()}
ids = torch.randint(5, 200, (4, 12))
for step in range(2):
    before = full()
    model(input_ids=ids, labels=ids).loss.backward()
    callback.on_pre_optimizer_step(None, SimpleNamespace(global_step=step), None, model=model)
    optimizer.step()
    optimizer.zero_grad()
    after = full()
    moved = {part: any(not torch.equal(before[n], after[n]) for n in after if n.startswith(part)) for part in ("cls.", "bert.")}
    print(f"rank {dist.get_rank()} step {step + 1} head moved {moved['cls.']} encoder moved {moved['bert.']}")
dist.destroy_process_group()
"""


@pytest.mark.slow
def test_head_warmup_holds_the_encoder_still_under_fsdp2(tmp_path):
    """FSDP2 (accelerate's `fsdp_version: 2`) replaces the parameters with sharded ones when the model is prepared,
    after the callback exists: the callback must find the live ones. Two gloo processes, real `fully_shard`."""
    out = on_two_gloo_processes(FSDP2_HEAD_WARMUP, tmp_path)
    for rank in (0, 1):
        assert f"rank {rank} step 1 head moved True encoder moved False" in out, out
        assert f"rank {rank} step 2 head moved True encoder moved True" in out, out


DDP_HEAD_WARMUP = """
import torch
from datasets import Dataset
from transformers import BertConfig, BertForMaskedLM, Trainer, TrainerCallback, TrainingArguments
from lingbridge.tasks.mlm import head_warmup

torch.manual_seed(0)
model = BertForMaskedLM(BertConfig(vocab_size=200, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                   intermediate_size=64, max_position_embeddings=40))
ids = torch.randint(5, 200, (32, 12))
data = Dataset.from_dict({"input_ids": ids.tolist(), "labels": ids.tolist()})

class Report(TrainerCallback):
    def on_step_begin(self, args, state, control, **kwargs):
        self.before = {n: p.detach().clone() for n, p in model.named_parameters()}

    def on_optimizer_step(self, args, state, control, optimizer=None, **kwargs):
        self.rate = optimizer.param_groups[0]["lr"]

    def on_step_end(self, args, state, control, **kwargs):
        moved = {part: any(not torch.equal(self.before[n], p) for n, p in model.named_parameters() if n.startswith(part))
                 for part in ("cls.", "bert.")}
        print(f"rank {args.process_index} of {args.world_size} step {state.global_step} head moved {moved['cls.']} "
              f"encoder moved {moved['bert.']} lr {self.rate}", flush=True)

args = TrainingArguments("out", max_steps=3, per_device_train_batch_size=4, learning_rate=1e-3, lr_scheduler_type="constant",
                         report_to="none", save_strategy="no", use_cpu=True, disable_tqdm=True, ddp_backend="gloo")
Trainer(model=model, args=args, train_dataset=data, callbacks=[head_warmup(2, learning_rate=0.01), Report()]).train()
"""


@pytest.mark.slow
def test_head_warmup_holds_the_encoder_still_under_ddp(tmp_path):
    """Two processes, the Trainer's own DDP: every parameter must get its gradient (DDP's reducer expects them), so
    the encoder's are dropped after the all-reduce instead of never computed; the head's rate holds on each rank."""
    out = on_two_gloo_processes(DDP_HEAD_WARMUP, tmp_path)
    for rank in (0, 1):
        for step in (1, 2):
            assert f"rank {rank} of 2 step {step} head moved True encoder moved False lr 0.01" in out, out
        assert f"rank {rank} of 2 step 3 head moved True encoder moved True lr 0.001" in out, out


@pytest.mark.parametrize("env, flags, engine", [
    ({}, {}, None),
    ({"ACCELERATE_USE_FSDP": "true", "FSDP_VERSION": "2"}, {}, None),
    ({"ACCELERATE_USE_FSDP": "true", "FSDP_VERSION": "1"}, {}, "FSDP version 1"),
    ({"ACCELERATE_USE_DEEPSPEED": "true"}, {}, "DeepSpeed"),
    ({}, {"fsdp": "full_shard", "fsdp_config": {"version": 1}}, "FSDP version 1"),
])
def test_head_warmup_knows_the_engines_it_cannot_hold_still(env, flags, engine, monkeypatch):
    from types import SimpleNamespace

    from lingbridge.tasks.mlm import head_warmup_engine

    for key in ("ACCELERATE_USE_FSDP", "FSDP_VERSION", "ACCELERATE_USE_DEEPSPEED"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    args = SimpleNamespace(deepspeed=None, fsdp=flags.get("fsdp", ""), fsdp_config=flags.get("fsdp_config"))
    assert head_warmup_engine(args) == engine


def test_head_warmup_longer_than_training_is_refused():
    from conftest import config

    from lingbridge.errors import UserError
    from lingbridge.recipes import pretrain

    configs = list(pretrain.parse(["--config", config("pretrain"), "--max_steps", "50", "--head_warmup_steps", "50"])[:-1])
    with pytest.raises(UserError, match=r"head_warmup_steps \(50\) must be below max_steps \(50\)"):
        pretrain.check(configs)
    configs[6].max_steps = 51
    pretrain.check(configs)


def test_head_warmup_under_fsdp1_is_refused_before_anything_is_created(tmp_path):
    """Launched under FSDP1 (accelerate's environment), the recipe says so in one line and writes nothing."""
    from conftest import config, recipe, run_cli

    import sys

    options = ["--config", config("pretrain"), "--head_warmup_steps", "5", "--output_dir", str(tmp_path / "run")]
    for command in (recipe("pretrain"), [sys.executable, "-m", "lingbridge.cli", "train", "pretrain"]):  # and the launcher
        proc = run_cli([*command, *options], env={"ACCELERATE_USE_FSDP": "true", "FSDP_VERSION": "1"}, cwd=tmp_path)
        assert proc.returncode == 2, proc.stderr[-2000:]
        assert "error: head_warmup_steps cannot hold the encoder still under FSDP version 1" in proc.stderr
        assert list(tmp_path.iterdir()) == []
