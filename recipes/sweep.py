"""Hyperparameter sweep with Optuna over the classification recipe: each trial is a full run.

Tiny, on a CPU (from-scratch tiny XLM-R on the bundled sample; a few minutes):
    lingbridge train sweep --config tiny
Continue a sweep that crashed or was stopped (finished trials are kept in <run>.partial/study.db):
    lingbridge train sweep --config tiny --output_dir runs/my-sweep --resume
Effect of augmentation per language (a grid: augmentation × seed):
    lingbridge train sweep --config augment
xlm-roberta-base with LoRA on a GPU, 30 trials or 4 hours:
    lingbridge train sweep --config base --accelerate_config single_gpu

The sweep runs in one process and its trials one after another. Parallel workers share one study
through a database storage (`--storage postgresql://...`), each with its own `--output_dir`.
The result is a run directory: the best trial's model with its record and card, `trials.md`
(every trial, its values and its dev score per language), `sweep.png`, parameter importances in
`lingbridge_run.json`, `best_config.yaml` for the recipe, and `trials/` (each trial's run).
"""

from __future__ import annotations

import dataclasses
import os
import shutil

from lingbridge.errors import UserError, exit_on_user_error

RECIPE = "finetune_classification"


def _recipe():
    from lingbridge.recipes import finetune_classification

    return finetune_classification


def parse(argv=None):
    from lingbridge.config import RunArguments, parse_config
    from lingbridge.sweep import SweepArguments, check_search_space

    sweep_args, run_args, config_path = parse_config((SweepArguments, RunArguments), argv)
    options = {f.name for dc in _recipe().config_classes() for f in dataclasses.fields(dc) if f.init}
    check_search_space(sweep_args, options)
    return sweep_args, run_args, config_path


@exit_on_user_error
def main(argv=None):
    args, run_args, config_path = parse(argv)
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise UserError("run the sweep in one process; parallel workers share a study through --storage")

    import types

    import optuna

    from lingbridge.evaluation import format_table
    from lingbridge.record import read_record
    from lingbridge.sweep import (copy_best_model, finished, keep_best_weights, objective_value, open_study,
                                  param_importances, plot_sweep, pruning_callback, trial_values,
                                  recover_interrupted, suggest, to_argv, trials_table, write_best_config)
    from lingbridge.training import logger, setup_logging
    from lingbridge.runs import finish_run, prepare_run, start_run, validate_recipe

    setup_logging(types.SimpleNamespace(should_log=True))  # one process
    recipe = _recipe()
    # every check of the recipe (options, model source, data) before the sweep's folder exists
    base = validate_recipe(recipe, ["--config", args.base_config, *to_argv(trial_values(args, {}))])
    if args.objective_languages == "target" and not base[3].train_languages:
        raise UserError("objective_languages=target needs train_languages in the recipe config (the others are the targets)")
    run = start_run("sweep", run_args, types.SimpleNamespace(output_dir=args.output_dir))
    prepare_run(run)
    storage = args.storage or f"sqlite:///{(run.work / 'study.db').resolve()}"
    optuna.logging.set_verbosity(optuna.logging.INFO)  # one line per finished trial: its value and the best so far
    study = open_study(args, storage)
    trials_dir = run.work / "trials"
    interrupted = recover_interrupted(study) if run_args.resume else []
    for number in interrupted:
        shutil.rmtree(trials_dir / f"trial-{number:03d}.partial", ignore_errors=True)

    # ---- one trial = one run of the recipe ---------------------------------------------------------
    stop: list[UserError] = []

    def objective(trial):
        params = suggest(trial, args.search_space)
        out = trials_dir / f"trial-{trial.number:03d}"
        argv = ["--config", args.base_config, *to_argv(trial_values(args, params)), "--output_dir", str(out),
                "--overwrite_output_dir", "true"]  # each trial's progress bars as the base config sets them
        logger.info("trial %d: %s", trial.number, params)
        try:
            # undecorated: a failing trial must not exit the sweep
            path = recipe.main.__wrapped__(argv, callbacks=[pruning_callback(trial, args.objective)])
        except BaseException as err:
            shutil.rmtree(f"{out}.partial", ignore_errors=True)
            if not isinstance(err, optuna.TrialPruned):
                trial.set_user_attr("error", f"{type(err).__name__}: {err}"[:500])
            raise
        record = read_record(path)
        try:
            value, per_lang, langs = objective_value(record, args)
        except UserError as err:  # the objective names nothing in the record: every trial would fail alike
            stop.append(err)
            trial.study.stop()
            raise
        trial.set_user_attr("run_dir", str(run.path / "trials" / out.name))  # where it lives once finished
        trial.set_user_attr("dev_per_language", per_lang)
        trial.set_user_attr("objective_languages", langs)
        return value

    remaining = args.n_trials - finished(study)
    logger.info("study '%s' in %s: %d trials finished, %d to run", args.study_name, storage, args.n_trials - remaining,
                max(remaining, 0))
    if remaining > 0:
        study.optimize(objective, n_trials=remaining, timeout=args.timeout, catch=(Exception,),
                       callbacks=[] if args.keep_trial_models else [keep_best_weights(trials_dir)])
    if stop:
        raise stop[0]
    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if not complete:
        errors = [t.user_attrs.get("error") for t in study.trials if t.user_attrs.get("error")]
        raise UserError(f"no trial completed{'; first error: ' + errors[0] if errors else ''}")

    # ---- report: trials, importances, plot, best config, best model --------------------------------
    best = study.best_trial
    objective_name = args.describe_objective(best.user_attrs.get("objective_languages"))
    table = trials_table(study, args)
    importances = param_importances(study, args.sweep_seed)
    langs = list(best.user_attrs.get("dev_per_language") or {})
    columns = ["state", "value", "reported step", *args.search_space, *langs, "seconds"]
    header = (f"Objective: {objective_name} ({args.direction}). Best: trial {best.number}, {best.value:.4f}. "
              f"Language columns: dev {args.objective if '.' not in args.objective else 'f1'} per language.\n\n")
    (run.work / "trials.md").write_text(header + format_table(table, columns, first="trial") + "\n", encoding="utf-8")
    logger.info("trials:\n%s", format_table(table, columns, first="trial"))
    plot_sweep(study, importances, run.work / "sweep.png", objective_name)
    best_yaml = write_best_config(run.work / "best_config.yaml", args, best.params, [
        f"lingbridge train finetune_classification --config {run.path / 'best_config.yaml'}",
        f"Best of {len(complete)} complete trials of sweep '{args.study_name}': {objective_name} = {best.value:.4f}."])
    best_dir = run.work / "trials" / f"trial-{best.number:03d}"
    copy_best_model(best_dir, run.work)
    record = read_record(best_dir)  # the best model's record: the app, cards and publishing read it as any run
    record.update({
        "job": "sweep", "config_file": config_path, "best_config": str(run.path / best_yaml.name),
        "summary": f"Best of a {len(study.trials)}-trial Optuna sweep ({objective_name}): {record.get('summary', '')}",
        "sweep": {
            "recipe": RECIPE, "objective": objective_name, "objective_key": args.objective,
            "objective_languages": args.objective_languages, "direction": args.direction,
            "storage": storage.replace(str(run.work.resolve()), str(run.path.resolve())),
            "study_name": args.study_name, "sampler": args.sampler, "pruner": args.pruner,
            "search_space": args.search_space, "fixed": args.recipe_args, "n_trials": args.n_trials,
            "timeout": args.timeout, "interrupted_trials_retried": interrupted,
            "best": {"trial": best.number, "value": best.value, "params": best.params},
            "importances": importances, "trials": table,
            "states": {s: sum(r["state"] == s for r in table.values()) for s in ("complete", "pruned", "fail")},
        },
    })
    record.pop("wall_time_s", None)
    finish_run(run, record, run_args.keep_checkpoints)
    return run.path


if __name__ == "__main__":
    main()
