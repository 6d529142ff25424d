"""Real `accelerate launch` runs: one process, and two gloo DDP processes on the CPU."""

import json
import shutil

import pytest

from conftest import ROOT, config, run_cli

ACCELERATE = shutil.which("accelerate")
FINETUNE = ["--config", config("finetune_classification"), "--max_steps", "20", "--logging_steps", "5",
            "--eval_strategy", "no", "--save_strategy", "no", "--load_best_model_at_end", "false",
            "--disable_tqdm", "true"]


def _launch(launch_args, recipe_name, args, cwd):
    proc = run_cli([ACCELERATE, "launch", *launch_args, str(ROOT / "recipes" / f"{recipe_name}.py"), *args],
                   cwd=cwd, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc


def _only_run(folder):
    made = list((folder / "runs").iterdir())
    assert len(made) == 1 and not made[0].name.endswith(".partial"), made  # exactly one run, by the main process
    return json.loads((made[0] / "lingbridge_run.json").read_text())


@pytest.fixture(scope="module")
def ddp_finetune(tmp_path_factory):
    cwd = tmp_path_factory.mktemp("ddp")
    _launch(["--config_file", str(ROOT / "recipes/accelerate/cpu_ddp.yaml")], "finetune_classification", FINETUNE, cwd)
    return _only_run(cwd)


@pytest.mark.slow
def test_two_process_finetune(ddp_finetune):
    assert ddp_finetune["world_size"] == 2
    assert ddp_finetune["ranks"] == [{"rank": 0, "steps": 20}, {"rank": 1, "steps": 20}]  # both ranks took every step


@pytest.mark.slow
def test_two_processes_match_one_process_with_accumulation(ddp_finetune, tmp_path):
    """2 processes × batch 16 is the same optimisation as 1 process × batch 16 × 2 accumulation steps.

    Guards against the transformers v5 loss scaling that doubled the loss and gradients under DDP.
    """
    (tmp_path / "runs").mkdir()
    _launch(["--num_processes", "1", "--cpu"], "finetune_classification",
            [*FINETUNE, "--gradient_accumulation_steps", "2"], tmp_path)
    one = _only_run(tmp_path)
    assert one["world_size"] == 1 and one["ranks"] == [{"rank": 0, "steps": 20}]
    two_loss, one_loss = ddp_finetune["metrics"]["train"]["train_loss"], one["metrics"]["train"]["train_loss"]
    assert abs(two_loss - one_loss) < 0.05, (two_loss, one_loss)


@pytest.mark.slow
def test_two_process_pretrain(tmp_path):
    (tmp_path / "runs").mkdir()
    _launch(["--config_file", str(ROOT / "recipes/accelerate/cpu_ddp.yaml")], "pretrain",
            ["--config", config("pretrain"), "--max_steps", "6", "--max_eval_samples", "16", "--disable_tqdm", "true"],
            tmp_path)
    record = _only_run(tmp_path)
    assert record["world_size"] == 2 and [r["steps"] for r in record["ranks"]] == [6, 6]


VISION = ["--per_device_eval_batch_size", "512", "--disable_tqdm", "true"]


@pytest.mark.slow
def test_two_process_cnn_matches_one_process_with_the_global_batch(tmp_path):
    """2 gloo processes × batch 16 take the same 32 images per step as 1 process × batch 32 (rank::world
    shards of one permutation), and DDP averages the gradients: the two runs must learn the same model."""
    two, one = tmp_path / "two", tmp_path / "one"
    for folder in (two, one):
        (folder / "runs").mkdir(parents=True)
    args = ["--config", config("train_cnn"), "--num_train_epochs", "2", *VISION]
    _launch(["--config_file", str(ROOT / "recipes/accelerate/cpu_ddp.yaml")], "train_cnn",
            [*args, "--per_device_train_batch_size", "16"], two)
    _launch(["--num_processes", "1", "--cpu"], "train_cnn", [*args, "--per_device_train_batch_size", "32"], one)
    two, one = _only_run(two), _only_run(one)
    steps = one["ranks"][0]["steps"]
    assert two["world_size"] == 2 and two["ranks"] == [{"rank": 0, "steps": steps}, {"rank": 1, "steps": steps}]
    acc2, acc1 = two["metrics"]["test_accuracy"], one["metrics"]["test_accuracy"]
    assert acc1 > 0.8 and abs(acc2 - acc1) <= 0.01, (acc2, acc1)


@pytest.mark.slow
@pytest.mark.parametrize("recipe_name", ["train_gan", "train_vae"])
def test_two_process_generative_recipes(recipe_name, tmp_path):
    (tmp_path / "runs").mkdir()
    extra = ["--classifier_epochs", "1", "--eval_samples", "100"] if recipe_name == "train_gan" else []
    _launch(["--config_file", str(ROOT / "recipes/accelerate/cpu_ddp.yaml")], recipe_name,
            ["--config", config(recipe_name), "--num_train_epochs", "1", *extra, *VISION], tmp_path)
    record = _only_run(tmp_path)
    assert record["world_size"] == 2
    assert [r["rank"] for r in record["ranks"]] == [0, 1] and record["ranks"][0]["steps"] == record["ranks"][1]["steps"] > 0


@pytest.mark.slow
def test_two_process_translation_and_qa(tmp_path):
    """The seq2seq and QA recipes under 2 gloo processes: both ranks train, and the distributed evaluation
    returns every test example exactly once (no padding duplicates from the distributed sampler)."""
    ddp = ["--config_file", str(ROOT / "recipes/accelerate/cpu_ddp.yaml")]
    (tmp_path / "tr" / "runs").mkdir(parents=True)
    _launch(ddp, "finetune_translation",
            ["--config", config("finetune_translation"), "--max_steps", "6", "--directions", "en-de", "de-en",
             "--max_eval_samples", "13", "--generation_max_length", "12", "--save_strategy", "no",
             "--disable_tqdm", "true"], tmp_path / "tr")
    tr = _only_run(tmp_path / "tr")
    assert tr["world_size"] == 2 and [r["steps"] for r in tr["ranks"]] == [6, 6]
    assert {d: r["n"] for d, r in tr["metrics"]["per_language"].items() if d != "all"} == {"en-de": 13, "de-en": 13}
    (tmp_path / "qa" / "runs").mkdir(parents=True)
    _launch(ddp, "finetune_qa",
            ["--config", config("finetune_qa"), "--config_name", "tiny", "--max_steps", "4", "--eval_strategy", "no",
             "--save_strategy", "no", "--load_best_model_at_end", "false", "--disable_tqdm", "true"], tmp_path / "qa")
    qa = _only_run(tmp_path / "qa")
    assert qa["world_size"] == 2 and [r["steps"] for r in qa["ranks"]] == [4, 4]
    from lingbridge.data import load_sample

    test = load_sample("qa")["test"]
    assert {lang: qa["metrics"]["per_language"][lang]["n"] for lang in ("en", "de", "zh")} == {
        lang: sum(x == lang for x in test["lang"]) for lang in ("en", "de", "zh")}
