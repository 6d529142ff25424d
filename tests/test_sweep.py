"""Sweeps: Optuna over the classification recipe, resumable, with a best config the recipe accepts."""

import json
import signal
import subprocess
import time

import pytest

from conftest import OFFLINE_ENV, ROOT, config, recipe
from lingbridge.errors import UserError
from lingbridge.recipes import finetune_classification, sweep

# A trial in seconds: a 1-layer, 64-wide model from scratch, a few steps, one dev report every 10 steps.
FAST = {"max_steps": 20, "eval_strategy": "steps", "eval_steps": 10, "save_strategy": "steps", "save_steps": 10,
        "save_total_limit": 1, "logging_steps": 5, "max_seq_length": 64, "num_hidden_layers": 1, "hidden_size": 64}


def _args(out, fixed=FAST, **options):
    argv = ["--config", config("sweep"), "--output_dir", str(out), "--recipe_args", json.dumps(fixed)]
    for key, value in options.items():
        argv += [f"--{key}", value if isinstance(value, str) else json.dumps(value)]
    return argv


def test_sweep_finds_the_rate_that_learns(tmp_path):
    # A grid over a rate that cannot learn and one that can: the sweep must pick the second.
    out = tmp_path / "sweep"
    # 100 steps at 3e-3: dev F1 0.17-0.32 over thread counts and machines (40 at 1e-2 sat at 0.125 on one)
    fixed = {**FAST, "max_steps": 100, "eval_steps": 50, "save_steps": 50}
    sweep.main(_args(out, fixed, search_space={"learning_rate": [1e-7, 3e-3]}, sampler="grid", n_trials=2))
    record = json.loads((out / "lingbridge_run.json").read_text())
    info = record["sweep"]
    assert record["job"] == "sweep" and info["direction"] == "maximize"
    assert info["objective"] == "dev f1, mean over the source languages en, de, zh"
    assert info["best"]["params"] == {"learning_rate": 3e-3}
    rows = info["trials"]
    assert len(rows) == 2 and {r["state"] for r in rows.values()} == {"complete"}
    f1 = {r["learning_rate"]: r["value"] for r in rows.values()}
    # 1e-7 cannot move the weights (0.125: one class everywhere); 100 steps at 3e-3 move them, by how much
    # depends on the machine's thread count, so only the order is asserted
    assert f1["0.003"] > f1["1e-07"], f1
    assert set(rows["0"]) >= {"en", "de", "zh", "ja", "reported step"}  # dev score of every language, targets too
    assert info["importances"] == {"learning_rate": 1.0}
    assert (out / "sweep.png").stat().st_size > 1000 and "| trial | state | value" in (out / "trials.md").read_text()
    assert (out / "study.db").is_file() and info["storage"] == f"sqlite:///{(out / 'study.db').resolve()}"
    # the best model sits at the top like any run's: pipeline() loads it, the card describes it
    from transformers import pipeline

    assert pipeline("text-classification", model=str(out))("Great value.")[0]["label"] in record["label_names"]
    assert "sweep" in (out / "README.md").read_text()
    best_trial = info["best"]["trial"]
    assert list((out / "trials").glob("*/model.safetensors")) == [
        out / "trials" / f"trial-{best_trial:03d}" / "model.safetensors"]  # the others' weights are dropped
    # best_config.yaml: the recipe takes it as it is (the crash test below also runs it)
    best = out / "best_config.yaml"
    assert best.read_text().startswith("# lingbridge train finetune_classification --config")
    *cfgs, _ = finetune_classification.parse(["--config", str(best)])
    assert cfgs[-1].learning_rate == 3e-3 and cfgs[-1].max_steps == 100
    assert cfgs[3].config_overrides == "num_hidden_layers=1,hidden_size=64"


def test_sweep_resumes_after_a_crash(tmp_path):
    """SIGKILL the sweep during its second trial; --resume keeps the first and retries the second's values."""
    import optuna

    out = tmp_path / "sweep"
    fixed = {**FAST, "max_steps": 10, "eval_steps": 5, "save_steps": 5}
    argv = _args(out, fixed, search_space={"learning_rate": {"low": 1e-4, "high": 1e-2, "log": True},
                                           "weight_decay": [0.0, 0.1]}, n_trials=3, pruner="none")
    storage = f"sqlite:///{(tmp_path / 'sweep.partial' / 'study.db').resolve()}"
    # stderr to a file: an unread pipe fills up and blocks the sweep mid-trial
    log = open(tmp_path / "sweep.stderr", "w+")
    proc = subprocess.Popen(recipe("sweep") + argv, cwd=ROOT, env={**__import__("os").environ, **OFFLINE_ENV},
                            stdout=subprocess.DEVNULL, stderr=log, text=True)
    states = []
    try:
        deadline = time.time() + 300
        while time.time() < deadline and proc.poll() is None:
            time.sleep(0.1)
            try:
                states = [t.state.name for t in optuna.load_study(study_name="sweep", storage=storage).trials]
            except Exception:  # the database is not there yet
                continue
            if states[:1] == ["COMPLETE"] and states[1:] == ["RUNNING"]:
                break
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    log.seek(0)
    assert states == ["COMPLETE", "RUNNING"], log.read()[-2000:]
    first = optuna.load_study(study_name="sweep", storage=storage).trials[0]
    assert not out.exists() and (tmp_path / "sweep.partial").is_dir()  # nothing looks finished

    sweep.main(argv + ["--resume"])
    study = optuna.load_study(study_name="sweep", storage=f"sqlite:///{(out / 'study.db').resolve()}")
    states = [t.state.name for t in study.trials]
    assert states == ["COMPLETE", "FAIL", "COMPLETE", "COMPLETE"]  # the killed trial is failed and run again
    assert study.trials[0].params == first.params and study.trials[0].value == first.value
    assert study.trials[2].params == study.trials[1].params and study.trials[2].user_attrs["retry_of"] == 1
    record = json.loads((out / "lingbridge_run.json").read_text())
    assert record["sweep"]["interrupted_trials_retried"] == [1]
    assert not list((out / "trials").glob("*.partial"))
    # the best config runs as it is and reproduces the best trial's dev scores
    again = finetune_classification.main(["--config", str(out / "best_config.yaml"), "--output_dir", str(tmp_path / "again")])
    rerun = json.loads((again / "lingbridge_run.json").read_text())
    assert rerun["metrics"]["dev_per_language"] == record["metrics"]["dev_per_language"]


def test_objective_source_target_and_record_paths():
    from lingbridge.sweep import SweepArguments, objective_value

    table = {lang: {"f1": f1, "accuracy": 0.5, "n": 10} for lang, f1 in
             {"en": 0.9, "de": 0.7, "fr": 0.4, "ja": 0.2}.items()}
    record = {"train_languages": ["en", "de"], "metrics": {"dev_per_language": {**table, "all": {"f1": 0.55}},
                                                           "dev": {"eval_loss": 0.8}}}

    def value(**kw):
        return objective_value(record, SweepArguments(base_config=config("finetune_classification", "sentiment_tiny"),
                                                      search_space={"learning_rate": [1e-3]}, **kw))

    assert value()[0] == pytest.approx(0.8) and value()[2] == ["en", "de"]
    assert value(objective_languages="target")[0] == pytest.approx(0.3)
    assert value(objective_languages="all")[0] == pytest.approx(0.55)
    assert value(objective="metrics.dev.eval_loss")[0] == 0.8
    with pytest.raises(UserError, match="no 'eval_los'.*did you mean 'eval_loss'"):
        value(objective="metrics.dev.eval_los")
    args = SweepArguments(base_config=config("finetune_classification", "sentiment_tiny"), search_space={"lora_r": [4]},
                          objective="metrics.dev.eval_loss")
    assert args.direction == "minimize"
    assert SweepArguments(base_config=config("finetune_classification", "sentiment_tiny"), search_space={"lora_r": [4]}).describe_objective(
        ["en", "de"]) == "dev f1, mean over the source languages en, de"


def test_pruning_reports_each_evaluation_and_prunes():
    import optuna

    from lingbridge.sweep import pruning_callback

    study = optuna.create_study(direction="maximize", pruner=optuna.pruners.MedianPruner(n_startup_trials=1))
    good = study.ask()
    pruning_callback(good, "f1").on_evaluate(None, type("S", (), {"global_step": 10})(), None, metrics={"eval_f1": 0.8})
    study.tell(good, 0.8)
    bad = study.ask()
    cb = pruning_callback(bad, "f1")
    with pytest.raises(optuna.TrialPruned, match="eval_f1=0.1000 at step 10"):
        cb.on_evaluate(None, type("S", (), {"global_step": 10})(), None, metrics={"eval_f1": 0.1})
    assert study.trials[1].intermediate_values == {10: 0.1}


@pytest.mark.parametrize("options,match", [
    ({"search_space": {"learnig_rate": [1e-3]}}, "unknown recipe option 'learnig_rate' \\(did you mean 'learning_rate'"),
    ({"search_space": {"output_dir": ["a"]}}, "'output_dir' is set by the sweep"),
    ({"search_space": {"learning_rate": {"low": 1e-2, "high": 1e-4}}}, "need numbers low < high"),
    ({"search_space": {"learning_rate": {"low": 0, "high": 1e-2, "log": True}}}, "log scale needs low > 0"),
    ({"search_space": {"weight_decay": {"low": 0.0, "high": 0.1}}, "sampler": "grid"}, "grid sampler needs a list"),
    ({"search_space": {"weight_decay": {"low": 0.0, "hi": 0.1}}}, "expected a list of choices or"),
    ({"search_space": "{not json"}, "search_space: not valid JSON"),
    ({"objective": "f2"}, "objective 'f2' is not a dev metric \\(did you mean 'f1'"),
    ({"objective_languages": "targets"}, "objective_languages must be source, target or all"),
    ({"base_config": "nope.yaml"}, "base_config: file not found: nope.yaml"),
    ({"n_trials": 0}, "n_trials must be at least 1"),
])
def test_bad_sweep_configs(options, match, tmp_path):
    with pytest.raises(UserError, match=match):
        sweep.parse(_args(tmp_path / "s", **options))


def test_bad_sweep_is_one_line_and_writes_nothing(tmp_path, capsys):
    # every language is trained on: there is no target language to average over
    with pytest.raises(SystemExit) as exit_info:
        sweep.main(_args(tmp_path / "s", base_config=config("finetune_classification"),
                         objective_languages="target"))
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.strip().startswith("error: objective_languages=target needs train_languages")
    assert list(tmp_path.iterdir()) == []
