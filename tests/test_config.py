"""Configs: every shipped YAML resolves; unknown keys name the closest valid key; CLI wins."""

from pathlib import Path

import pytest

from conftest import ROOT
from lingbridge.cli import _shipped
from lingbridge.config import parse_config
from lingbridge.errors import UserError
from lingbridge.recipes import finetune_classification, pretrain



def _recipe_for(folder: str):
    """Each config folder is named after its recipe: recipes/configs/<recipe>/<name>.yaml."""
    import importlib

    return importlib.import_module(f"lingbridge.recipes.{folder}")


SHIPPED = sorted((ROOT / "recipes" / "configs").glob("*/*.yaml"))


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_shipped_yaml_resolves(path: Path):
    import torch

    first = path.read_text().splitlines()[0].split()
    # each YAML opens with its launch command, by the shipped names `lingbridge train` resolves
    assert first[:5] == ["#", "lingbridge", "train", path.parent.name, "--config"], first
    assert Path(_shipped("config", path.parent.name, first[5])) == path
    if "--accelerate_config" in first:
        assert Path(_shipped("accelerate", path.parent.name, first[first.index("--accelerate_config") + 1])).is_file()
    text = path.read_text()
    if "train_file:" in text:
        pytest.skip("points at the user's own files")
    extra = []
    if not torch.cuda.is_available():  # GPU configs resolve here without their GPU-only switches
        extra += ["--bf16", "false"] if "bf16: true" in text else []
        extra += ["--tf32", "false"] if "tf32: true" in text else []
    parsed = _recipe_for(path.parent.name).parse(["--config", str(path), *extra])
    assert parsed[-1] == str(path)


def test_command_line_overrides_yaml():
    *cfgs, _ = finetune_classification.parse(["--config", str(ROOT / "recipes/configs/finetune_classification/sentiment_tiny.yaml"),
                                              "--learning_rate", "3e-4", "--lora_r", "4", "--train_languages", "en"])
    training_args = cfgs[-1]
    assert training_args.learning_rate == 3e-4
    assert cfgs[4].lora_r == 4
    assert cfgs[3].train_languages == ["en"]
    assert training_args.per_device_train_batch_size == 16  # from the YAML


def test_unknown_yaml_key_names_the_closest(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("learning_rat: 0.1\n")
    with pytest.raises(UserError, match=r"unknown config key 'learning_rat' \(did you mean 'learning_rate'\?\)"):
        pretrain.parse(["--config", str(bad)])


def test_unknown_cli_option_names_the_closest():
    with pytest.raises(UserError, match=r"unknown option '--max_seq_lenght'.*'--max_seq_length'"):
        pretrain.parse(["--max_seq_lenght", "64"])


@pytest.mark.parametrize("args,match", [
    (["--learning_rate", "fast"], "invalid float value"),
    (["--lora_r", "0"], "lora_r must be at least 1"),
    (["--languages", "en", "xx"], "unknown language code 'xx'"),
    (["--train_file", "/nonexistent.csv"], "file not found"),
    (["--selection_languages", "best"], "selection_languages must be"),
])
def test_bad_values_are_user_errors(args, match):
    with pytest.raises(UserError, match=match):
        finetune_classification.parse(args)


def test_parse_config_plain_dataclass(tmp_path):
    from dataclasses import dataclass

    @dataclass
    class A:
        x: int = 1
        names: list[str] | None = None

    (tmp_path / "c.yaml").write_text("x: 5\nnames: [a, b]\n")
    a, path = parse_config((A,), ["--config", str(tmp_path / "c.yaml")])
    assert (a.x, a.names, path) == (5, ["a", "b"], str(tmp_path / "c.yaml"))
    a, _ = parse_config((A,), ["--config", str(tmp_path / "c.yaml"), "--x", "7"])
    assert a.x == 7
