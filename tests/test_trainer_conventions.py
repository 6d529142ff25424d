"""The Transformers example scripts' conventions: their option names, do_train/do_eval/do_predict,
output_dir, refused TrainingArguments fields, `--help` by argument class. In-process, no training."""

from __future__ import annotations

import pytest

from conftest import config
from lingbridge.errors import UserError
from lingbridge.recipes import finetune_classification, finetune_translation, pretrain

CLS = ["--config", config("finetune_classification")]
TRANSLATION = ["--config", config("finetune_translation")]


def stages(argv):
    targs = finetune_classification.parse([*CLS, *argv])[-2]
    return targs.do_train, targs.do_eval, targs.do_predict


@pytest.mark.parametrize("argv, expected", [
    ([], (True, True, True)),  # none named: train, evaluate and predict, as lingbridge always did
    (["--do_eval"], (False, True, False)),  # the example scripts: only what is named
    (["--do_predict", "true"], (False, False, True)),
    (["--do_train", "false"], (False, True, True)),  # switching training off keeps the others
    (["--do_train", "false", "--do_eval"], (False, True, False)),
    (["--do_train", "--do_eval"], (True, True, False)),
])
def test_do_train_eval_predict(argv, expected):
    assert stages(argv) == expected


def test_nothing_to_do_is_an_error():
    with pytest.raises(UserError, match="nothing to do"):
        stages(["--do_train", "false", "--do_eval", "false", "--do_predict", "false", "--eval_strategy", "no",
                "--load_best_model_at_end", "false"])


def test_output_dir_trainer_output_is_kept():
    """transformers' own default name is a folder name like any other; not giving one means runs/<job>-<time>."""
    assert finetune_classification.parse([*CLS, "--output_dir", "trainer_output"])[-2].output_dir == "trainer_output"
    assert finetune_classification.parse(CLS)[-2].output_dir is None


def test_live_tracking_is_on_by_default():
    pytest.importorskip("tensorboard")
    assert finetune_classification.parse(CLS)[-2].report_to == ["tensorboard"]
    assert finetune_classification.parse([*CLS, "--report_to", "none"])[-2].report_to == []


@pytest.mark.parametrize("argv, message", [
    (["--push_to_hub"], "--push_to_hub needs --hub_model_id"),
    (["--push_to_hub", "--hub_model_id", "no-namespace"], "--push_to_hub needs --hub_model_id"),
    (["--push_to_hub", "--hub_model_id", "me/m", "--hub_strategy", "checkpoint"], "--hub_strategy checkpoint"),
    (["--prediction_loss_only", "true"], "--prediction_loss_only is not supported"),
    (["--batch_eval_metrics", "true"], "--batch_eval_metrics is not supported"),
    (["--resume_from_checkpoint", "/nonexistent/checkpoint-5"], "not a Trainer checkpoint folder"),
])
def test_fields_not_honoured_are_refused(argv, message):
    with pytest.raises(UserError, match=message):
        finetune_classification.parse([*CLS, *argv])


def test_predict_with_generate_is_refused_by_translation():
    with pytest.raises(UserError, match="generates the test translations itself"):
        finetune_translation.parse([*TRANSLATION, "--predict_with_generate", "true"])


def test_classification_aliases(tmp_path):
    parsed = finetune_classification.parse([*CLS, "--text_column_names", "sentence1,sentence2",
                                            "--label_column_name", "y"])
    data_args, args = parsed[1], parsed[3]
    assert (data_args.text_column, args.text_pair_column, data_args.label_column) == ("sentence1", "sentence2", "y")
    yaml = tmp_path / "c.yaml"
    yaml.write_text("text_column_names: review\nlabel_column_name: stars\n")
    data_args = finetune_classification.parse(["--config", str(yaml)])[1]
    assert (data_args.text_column, data_args.label_column) == ("review", "stars")
    with pytest.raises(UserError, match="give --label_column or its alias --label_column_name, not both"):
        finetune_classification.parse([*CLS, "--label_column_name", "y", "--label_column", "z"])
    with pytest.raises(UserError, match="expected one column or two"):
        finetune_classification.parse([*CLS, "--text_column_names", "a,b,c"])


def test_translation_aliases():
    parsed = finetune_translation.parse([*TRANSLATION, "--source_lang", "en", "--target_lang", "de",
                                         "--max_source_length", "64"])
    assert parsed[3].directions == ["en-de"] and parsed[1].max_seq_length == 64
    with pytest.raises(UserError, match="go together"):
        finetune_translation.parse([*TRANSLATION, "--target_lang", "de"])


def test_pretraining_packs_by_default_and_line_by_line_turns_it_off():
    assert pretrain.parse([])[3].pack_sequences is True  # run_mlm's default
    assert pretrain.parse(["--line_by_line"])[3].pack_sequences is False
    assert pretrain.parse(["--line_by_line", "false"])[3].pack_sequences is True
    assert pretrain.parse(["--config", config("pretrain")])[3].pack_sequences is False  # the tiny sample: per line
    with pytest.raises(UserError, match="--line_by_line takes true or false"):
        pretrain.parse(["--line_by_line=sometimes"])


def test_help_is_grouped_by_argument_class(capsys):
    with pytest.raises(SystemExit) as stop:
        finetune_classification.parse(["--help"])
    assert stop.value.code == 0
    out = capsys.readouterr().out
    titles = [line[:-1] for line in out.splitlines() if line and not line.startswith(" ") and line.endswith(":")]
    assert titles == ["options", "model", "data", "cleaning", "task (classification)", "LoRA", "run directory",
                      "augmentation", "training (transformers TrainingArguments)"]
    assert "--label_column_name (--label_column)" in out.replace("\n", " ")
    assert len(out.split("options:")[0].splitlines()) <= 2  # a short usage line, not every option


def test_own_loop_recipes_refuse_trainer_fields_they_do_not_read():
    """The vision recipes run their own loop: a Trainer-only field is refused, not silently ignored."""
    from lingbridge.recipes import train_cnn

    train_cnn.parse(["--config", config("train_cnn"), "--learning_rate", "0.05", "--report_to", "none"])
    for option in (["--gradient_accumulation_steps", "4"], ["--report_to", "tensorboard"], ["--do_predict"]):
        with pytest.raises(UserError, match="has no effect here: this recipe runs its own training loop"):
            train_cnn.parse(["--config", config("train_cnn"), *option])
