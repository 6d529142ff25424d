"""The task registry is the one place a task is described: a toy task, defined here as a new module of
`lingbridge/tasks/` and a new recipe would be, is picked up by the CLI's plan, the quickstart, the run
record, the model card, publishing and the app, with no edit anywhere else."""

from __future__ import annotations

import sys
import textwrap

import pytest

import lingbridge.tasks as tasks

TOY_TASK = '''
"""A toy task: is a review short or long? Sequence classification under its own name and metric."""

import numpy as np

from lingbridge.tasks import QuickstartStep, Task, register
from lingbridge.tasks.classification import collator, predictions, tokenize_splits


def length_metrics(preds, labels):
    return {"length_accuracy": float(np.mean(preds == labels))}


def usage(model, example, adapter=False):
    return f'# toy task: a length classifier\\nprint("{model}")'


def summarize(record):
    return {"heading": "Toy task (length_accuracy):", "table": record["metrics"]["per_language"],
            "columns": ["length_accuracy", "n"]}


TASK = register(Task(
    name="toy", pipeline_tag="text-length-classification", recipes=("toy_recipe",),
    auto_class="AutoModelForSequenceClassification", peft_class="AutoPeftModelForSequenceClassification",
    peft_task_type="SEQ_CLS", headline_metrics=("length_accuracy",), preprocess=tokenize_splits,
    collator=collator, metrics=length_metrics, postprocess=predictions, usage=usage,
    quickstart=QuickstartStep(config="finetune_classification/sentiment_tiny", title="the toy task",
                              args=("--max_steps", "2", "--eval_strategy", "no", "--save_strategy", "no",
                                    "--load_best_model_at_end", "false"),
                              from_pretrain=True, summarize=summarize),
))
'''

TOY_RECIPE = '''
"""The toy task's recipe: the bundled reviews labelled short/long, a LoRA finetune, accuracy per language."""

from lingbridge.errors import exit_on_user_error
from lingbridge.recipes.finetune_classification import parse  # the same options as classification


def plan_data(configs):
    from lingbridge.data import load_sample

    train = load_sample("sample:sentiment")["train"]
    return {"rows": len(train), "texts": train["text"][:200], "languages": sorted(set(train["lang"])),
            "task": "toy", "num_labels": 2}


@exit_on_user_error
def main(argv=None):
    model_args, data_args, _, _, lora_args, run_args, _, training_args, _ = parse(argv)
    from datasets import DatasetDict

    from lingbridge.data import load_sample
    from lingbridge.evaluation import predict_per_language
    from lingbridge.models import build_model
    from lingbridge.record import RunRecord
    from lingbridge.runs import finish_run, prepare_run, save_model, start_run
    from lingbridge.tasks import get_task
    from lingbridge.tokenization import load_or_train_tokenizer
    from lingbridge.training import build_trainer

    task = get_task("toy")
    run = start_run("toy_recipe", run_args, training_args)
    data = load_sample("sample:sentiment")
    dsd = DatasetDict({s: data[s].select(range(64)).map(lambda r: {"label": int(len(r["text"]) > 40)}) for s in ("train", "test")})
    tokenizer, _ = load_or_train_tokenizer(model_args, None)
    model, init, lora, params = build_model(task, model_args, tokenizer, lora_args, num_labels=2)
    enc = task.preprocess(dsd, tokenizer, 64, False)
    langs = enc["test"]["lang"]
    enc = {s: d.remove_columns("lang") for s, d in enc.items()}
    prepare_run(run)
    trainer = build_trainer(model, training_args, train_dataset=enc["train"], data_collator=task.collator(tokenizer),
                            processing_class=tokenizer)
    result = trainer.train()
    table, _, _ = predict_per_language(trainer, enc["test"], langs, task.metrics, task.postprocess)
    save_model(run, trainer.model, tokenizer)
    record = RunRecord(job="toy_recipe", task=task.pipeline_tag, pipeline_tag=task.pipeline_tag,
                       languages=sorted(set(langs)), config={}, init=init, lora=lora, parameters=params,
                       metrics={"per_language": table}, example_input="short", summary="A toy length classifier.")
    return finish_run(run, record, trainer=trainer, train_result=result)
'''


@pytest.fixture()
def toy(tmp_path, monkeypatch):
    """The toy task as a new module in `lingbridge/tasks/` (found by the registry's discovery) and its recipe
    as `lingbridge.recipes.toy_recipe`; both removed afterwards."""
    import importlib.util

    folder = tmp_path / "more_tasks"
    folder.mkdir()
    (folder / "toy.py").write_text(textwrap.dedent(TOY_TASK), encoding="utf-8")
    monkeypatch.setattr(tasks, "__path__", [*tasks.__path__, str(folder)])
    monkeypatch.setattr(tasks, "_loaded", False)  # discover again, as a fresh process would
    (tmp_path / "toy_recipe.py").write_text(textwrap.dedent(TOY_RECIPE), encoding="utf-8")
    spec = importlib.util.spec_from_file_location("lingbridge.recipes.toy_recipe", tmp_path / "toy_recipe.py")
    recipe = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "lingbridge.recipes.toy_recipe", recipe)
    spec.loader.exec_module(recipe)
    yield tasks.get_task("toy")
    tasks.unregister("toy")
    sys.modules.pop("lingbridge.tasks.toy", None)


def test_registry_lookups():
    assert {"classification", "qa", "translation", "mlm", "image_classification", "image_generation"} <= {
        t.name for t in tasks.all_tasks()}
    assert tasks.get_task("text-classification") is tasks.get_task("finetune_classification")
    assert tasks.task_of_record({"job": "train_vae"}).name == "image_generation"
    assert tasks.task_of_record({"job": "optimize", "pipeline_tag": "text-classification"}).name == "classification"
    with pytest.raises(Exception, match="unknown task 'clasification' \\(did you mean 'classification'"):
        tasks.get_task("clasification")


def test_a_new_task_is_one_module_and_one_recipe(toy, pretrained_run, tmp_path, capsys):
    from lingbridge.app import backend
    from lingbridge.cli import main as cli, text_recipes
    from lingbridge.hub import plan_publish
    from lingbridge.quickstart import quickstart_tasks, run_task_step
    from lingbridge.record import read_record

    assert toy.name in [t.name for t in tasks.all_tasks()]  # discovered in the package's folders
    # the CLI's plan: the recipe is listed, and the model is counted with the task's Auto class
    assert "toy_recipe" in text_recipes()
    cli(["plan", "toy_recipe", "--model_name_or_path", str(pretrained_run), "--output_dir", str(tmp_path / "p")])
    out = capsys.readouterr().out
    assert "recipe:            toy_recipe" in out and "parameters:" in out and "unavailable" not in out
    # the quickstart offers the task and runs its step with the task's recipe
    assert "toy" in quickstart_tasks()
    text = run_task_step("toy", tmp_path / "qs", pretrained_run, None)
    assert text.startswith("Toy task (length_accuracy):") and "| all |" in text
    run = tmp_path / "qs" / "toy"
    record = read_record(run)
    assert record["job"] == "toy_recipe" and record["metrics"]["per_language"]["all"]["n"] == 64
    # the card's usage snippet is the task's
    assert "# toy task: a length classifier" in (run / "README.md").read_text()
    # publishing stages the card for the repository (no network in a dry plan)
    plan = plan_publish(run, "me/toy-model")
    assert "# toy task: a length classifier" in (plan.staging / "README.md").read_text()
    # the app lists the run with the task's headline metric
    registry = backend.Registry([tmp_path / "qs"])
    served = registry.runs["toy"]
    assert served.task == "text-length-classification" and served.headline().startswith("length_accuracy")
