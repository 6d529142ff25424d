"""The `lingbridge` command: quickstart, plan, card (and the app and publishing as they land).

Heavy imports live inside the commands, so `lingbridge --help` answers at once.
"""

from __future__ import annotations

import argparse
import sys

from .errors import UserError, exit_on_user_error

def text_recipes() -> list[str]:
    """The recipes of the registry's text tasks (those `lingbridge plan` estimates)."""
    from .tasks import all_tasks

    return [r for t in all_tasks() if t.modality == "text" for r in t.recipes]


def _recipe_module(name: str):
    import importlib

    from .tasks import recipe_module

    recipes = text_recipes()
    if name not in recipes:
        from .config import did_you_mean

        raise UserError(f"unknown recipe '{name}'{did_you_mean(name, recipes)}; recipes: {', '.join(recipes)}")
    return importlib.import_module(recipe_module(name))


def cmd_plan(argv: list[str]) -> None:
    from .plan import plan

    parser = argparse.ArgumentParser(prog="lingbridge plan", add_help=True,
                                     description="Resolve a recipe's config and estimate the run without training.")
    parser.add_argument("recipe", help="a recipe of a text task: " + ", ".join(text_recipes()))
    parser.add_argument("--num_processes", type=int, default=1, help="processes (GPUs) the run would use")
    parser.add_argument("--accelerate_config", default=None, help="accelerate config file the run would use")
    known, rest = parser.parse_known_args(argv)
    module = _recipe_module(known.recipe)
    print(plan(known.recipe, module, rest, known.num_processes, known.accelerate_config))


def cmd_quickstart(argv: list[str]) -> None:
    from .quickstart import quickstart

    parser = argparse.ArgumentParser(prog="lingbridge quickstart",
                                     description="Tokenizer → tiny pretraining → LoRA sentiment finetune → evaluation "
                                                 "→ model card, on the bundled sample, offline, on a CPU.")
    parser.add_argument("--output_root", default=None, help="folder for the runs (default: runs/quickstart-<time>)")
    parser.add_argument("--pretrain_epochs", type=float, default=None, help="override the tiny pretraining epochs")
    parser.add_argument("--finetune_epochs", type=float, default=None, help="override the finetuning epochs")
    from .quickstart import quickstart_tasks

    choices = quickstart_tasks()
    parser.add_argument("--tasks", default="sentiment",
                        help=f"comma-separated steps after pretraining: sentiment (always), {', '.join(choices[1:])}")
    args = parser.parse_args(argv)
    tasks = tuple(t.strip() for t in args.tasks.split(",") if t.strip())
    bad = [t for t in tasks if t not in choices]
    if bad:
        raise UserError(f"--tasks: unknown task '{bad[0]}'; choose from {', '.join(choices)}")
    quickstart(args.output_root, args.pretrain_epochs, args.finetune_epochs, tasks)


def cmd_card(argv: list[str]) -> None:
    from .cards import render_card

    parser = argparse.ArgumentParser(prog="lingbridge card", description="Render (and write) a run's model card.")
    parser.add_argument("run_dir")
    parser.add_argument("--repo_id", default=None)
    parser.add_argument("--print", action="store_true", help="print instead of writing README.md")
    args = parser.parse_args(argv)
    card = render_card(args.run_dir, args.repo_id)
    if args.print:
        print(card.content)
    else:
        from pathlib import Path

        card.save(Path(args.run_dir) / "README.md")
        print(Path(args.run_dir) / "README.md")


def cmd_app(argv: list[str]) -> None:
    import os

    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # before gradio is imported
    import importlib.util

    if importlib.util.find_spec("gradio") is None:
        raise UserError("the app needs gradio, part of lingbridge's default install: pip install gradio "
                        "(or reinstall lingbridge: pip install .)")
    from .app.app import main as app_main

    app_main(argv)


def cmd_publish(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="lingbridge publish",
                                     description="Push a run directory to the Hugging Face Hub as one commit.")
    parser.add_argument("run_dir")
    parser.add_argument("--repo_id", required=True, help="namespace/name of the model repository")
    parser.add_argument("--private", action="store_true", help="create the repository as private")
    parser.add_argument("--revision", default=None, help="branch to commit to (created from main if missing)")
    parser.add_argument("--lora", choices=("adapter", "merged"), default=None,
                        help="for runs that kept a LoRA adapter: publish the adapter (default) or the merged model")
    parser.add_argument("--base_model", default=None, help="Hub id of the base model, when the run started from a local folder")
    parser.add_argument("--dry_run", action="store_true", help="print the files and sizes that would go; upload nothing")
    args = parser.parse_args(argv)
    import shutil

    from .hub import PublishError, plan_publish, push_run

    plan = plan_publish(args.run_dir, args.repo_id, args.lora, args.base_model)
    try:
        where = f"{args.repo_id}{'@' + args.revision if args.revision else ''}{' (private)' if args.private else ''}"
        print(f"{'would publish' if args.dry_run else 'publishing'} {args.run_dir} to {where}: {plan.commit_message}")
        print(plan.describe(), flush=True)
        if args.dry_run:
            return
        try:
            url = push_run(plan, private=args.private, revision=args.revision)
        except PublishError as err:
            print(f"error: {err}", file=sys.stderr, flush=True)
            sys.exit(1)
        print(f"published: {url}")
    finally:
        shutil.rmtree(plan.staging, ignore_errors=True)


# ----------------------------------------------------------------------------------------------
# lingbridge train: the recipes' launch from an installed package (accelerate launch, run for the user)


def all_recipes() -> list[str]:
    """Every recipe shipped with the package (`recipes/<name>.py`, installed as `lingbridge.recipes`)."""
    from importlib import resources

    return sorted(p.name[:-3] for p in resources.files("lingbridge.recipes").iterdir()
                  if p.name.endswith(".py") and not p.name.startswith("_"))


def _shipped(kind: str, recipe: str, name: str) -> str:
    """A file path as given, or a shipped config: `NAME`/`RECIPE/NAME` under recipes/configs/, or an
    accelerate config `NAME` under recipes/accelerate/ (`kind` "config" or "accelerate")."""
    from importlib import resources
    from pathlib import Path

    if Path(name).is_file():
        return str(Path(name).resolve())
    root = resources.files("lingbridge.recipes") / ("configs" if kind == "config" else "accelerate")
    stem = name[:-5] if name.endswith(".yaml") else name
    for candidate in ((root / recipe / f"{stem}.yaml", root / f"{stem}.yaml") if kind == "config"
                      else (root / f"{stem}.yaml",)):
        if candidate.is_file():
            return str(candidate)
    if kind == "config":
        mine = root / recipe
        names = sorted(f.name[:-5] for f in mine.iterdir() if f.name.endswith(".yaml")) if mine.is_dir() else []
        shipped = f"shipped configs of {recipe}: {', '.join(names)}" if names else f"{recipe} ships no configs"
        from .config import did_you_mean

        raise UserError(f"--config: '{name}' is neither a file nor a shipped config{did_you_mean(stem, names)}; {shipped} "
                        f"(or RECIPE/NAME, e.g. {recipe}/{names[0] if names else 'tiny'})")
    names = sorted(f.name[:-5] for f in root.iterdir() if f.name.endswith(".yaml"))
    raise UserError(f"--accelerate_config: '{name}' is neither a file nor a shipped accelerate config "
                    f"({', '.join(names)})")


def accelerate_args(num_processes: int | None, accelerate_config: str | None) -> list[str]:
    """The `accelerate launch` options for `--num_processes` / `--accelerate_config`.

    Two or more processes use accelerate's multi-process launcher (`--multi_gpu`): DDP on GPUs and, on a
    machine without GPUs, gloo DDP on the CPU (the recipes ask for the CPU backend; `--cpu` would start
    one process). Without a config file, precision and dynamo are named so accelerate warns about nothing.
    On a machine without an accelerator, each process gets its share of the cores (below).
    """
    import os

    from accelerate.commands.config import default_config_file

    out = ["--config_file", accelerate_config] if accelerate_config else []
    if num_processes is not None:
        out += ["--num_processes", str(num_processes), "--num_machines", "1"]
        if num_processes > 1 and not accelerate_config:
            out.append("--multi_gpu")
    default_config = os.path.isfile(default_config_file)
    if not accelerate_config and not default_config:
        if num_processes is None:
            out += ["--num_processes", "1", "--num_machines", "1"]
        out += ["--mixed_precision", "no", "--dynamo_backend", "no"]
    if not accelerate_config and (num_processes is not None or not default_config):
        out += cpu_threads(num_processes or 1)
    return out


def cpu_threads(processes: int) -> list[str]:
    """`--num_cpu_threads_per_process` for a machine without an accelerator: its physical cores shared out.

    `accelerate launch` sets OMP_NUM_THREADS=1 for every process unless it is given `--cpu` (which would
    force one process) or a thread count, so a one-process CPU run used one core of many. The user's own
    OMP_NUM_THREADS wins, as with accelerate.
    """
    import os

    import psutil
    import torch

    if "OMP_NUM_THREADS" in os.environ or torch.accelerator.is_available():
        return []
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    cores = min(psutil.cpu_count(logical=False) or usable, usable)
    return ["--num_cpu_threads_per_process", str(max(1, cores // processes))]


def launch(launch_args: list[str], script: str, script_args: list[str]) -> int:
    """Run `accelerate launch LAUNCH_ARGS SCRIPT SCRIPT_ARGS` in this process; return the exit status.

    The same code as the `accelerate launch` command (its parser and `launch_command`), except that a
    failed process is reported by its exit status instead of a launcher traceback: a recipe's user
    mistake (exit status 2, its `error:` line already printed) stays exit status 2.
    """
    import logging
    import subprocess

    from accelerate.commands.launch import launch_command, launch_command_parser

    try:
        args = launch_command_parser().parse_args([*launch_args, script, *script_args])
    except SystemExit as stop:  # argparse already printed its message
        return int(stop.code or 0) and 2
    # torch elastic logs each failed rank with its command line; the rank printed the reason itself
    logging.getLogger("torch.distributed.elastic").setLevel(logging.CRITICAL)
    try:
        launch_command(args)
    except subprocess.CalledProcessError as err:  # one process
        return err.returncode if err.returncode > 0 else 1
    except KeyboardInterrupt:
        return 130
    except Exception as err:  # several processes: torch elastic's ChildFailedError names each rank's status
        failures = getattr(err, "failures", None)
        if failures:
            codes = [f.exitcode for f in failures.values()]
            return 2 if 2 in codes else next((c for c in codes if c > 0), 1)
        if isinstance(err, (ValueError, FileNotFoundError)):  # accelerate's checks of its own options
            raise UserError(f"accelerate launch: {str(err).strip().splitlines()[0]}") from None
        raise
    return 0


def cmd_train(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(
        prog="lingbridge train", usage="lingbridge train RECIPE [--config NAME_OR_PATH] "
        "[--num_processes N | --accelerate_config NAME_OR_PATH] [--print_command] [recipe options ...]",
        description="Run a recipe under `accelerate launch`, from a checkout or an installed package. The "
        "options are checked here first: a mistake is one `error:` line and exit status 2, before any "
        "process starts. Every other option goes to the recipe (`lingbridge train RECIPE --help` lists them).",
        epilog="examples:\n  lingbridge train pretrain --config tiny\n"
               "  lingbridge train finetune_classification --config sentiment_tiny --model_name_or_path runs/pretrain-...\n"
               "  lingbridge train finetune_translation --config tiny --num_processes 2 --max_steps 20\n"
               "  lingbridge train finetune_classification --config base --accelerate_config multi_gpu",
        formatter_class=argparse.RawDescriptionHelpFormatter, add_help=False, allow_abbrev=False)
    parser.add_argument("recipe", nargs="?", help="one of: " + ", ".join(all_recipes()))
    parser.add_argument("--config", help="a YAML file, or a shipped config by name: NAME (the recipe's own, e.g. "
                        "tiny) or RECIPE/NAME (e.g. finetune_classification/sentiment_tiny)")
    parser.add_argument("--num_processes", type=int, help="processes to launch: GPUs, or gloo DDP processes on a "
                        "CPU-only machine (default: accelerate's default config, else 1)")
    parser.add_argument("--accelerate_config", help="an accelerate config file, or a shipped one by name: "
                        "cpu_ddp, single_gpu, multi_gpu, fsdp, deepspeed_zero2, multi_node")
    parser.add_argument("--print_command", action="store_true",
                        help="print the equivalent `accelerate launch` command and exit")
    parser.add_argument("-h", "--help", action="store_true", help="this help; with a RECIPE, the recipe's options")
    known, rest = parser.parse_known_args(argv)
    if known.help and not known.recipe:
        parser.print_help()
        return
    recipes = all_recipes()
    if not known.recipe or known.recipe.startswith("-"):
        raise UserError(f"lingbridge train needs a recipe: {', '.join(recipes)}")
    if known.recipe not in recipes:
        from .config import did_you_mean

        raise UserError(f"unknown recipe '{known.recipe}'{did_you_mean(known.recipe, recipes)}; "
                        f"recipes: {', '.join(recipes)}")
    if known.num_processes is not None and known.num_processes < 1:
        raise UserError(f"--num_processes must be at least 1, got {known.num_processes}")
    import importlib

    module = importlib.import_module(f"lingbridge.recipes.{known.recipe}")
    config = ["--config", _shipped("config", known.recipe, known.config)] if known.config else []
    if known.help:
        sys.argv[0] = f"lingbridge train {known.recipe}"  # argparse's program name in the usage line
        module.parse([*config, "--help"])
        return
    recipe_argv = [*config, *rest]
    accelerate_config = _shipped("accelerate", known.recipe, known.accelerate_config) if known.accelerate_config else None
    launch_args = accelerate_args(known.num_processes, accelerate_config)
    if known.print_command:
        import shlex

        print(shlex.join(["accelerate", "launch", *launch_args, module.__file__, *recipe_argv]))
        return
    from .runs import validate_recipe

    # every check of the recipe (options, config, run directory, local data) here, before any process starts
    validate_recipe(module, recipe_argv)
    code = launch(launch_args, module.__file__, recipe_argv)
    if code == 2:
        sys.exit(2)  # the recipe printed its one `error:` line
    if code:
        print(f"error: {known.recipe} failed (exit status {code}); the messages above say why", file=sys.stderr)
        sys.exit(code)


def cmd_optimize(argv: list[str]) -> None:
    if not argv or argv[0] in ("-h", "--help"):
        from .recipes import optimize

        print(f"lingbridge optimize RUN_DIR --method METHOD [options]\n{optimize.__doc__}")
        sys.argv[0] = "lingbridge optimize RUN_DIR"  # argparse's program name in the usage line
        optimize.parse(["--help"])  # every option, by group
        return
    from .recipes.optimize import main

    main(argv)


def cmd_evaluate(argv: list[str]) -> None:
    from .suite import cmd_evaluate as evaluate  # the suite's own parser: `lingbridge evaluate --help`

    evaluate(argv)


def cmd_readiness(argv: list[str]) -> None:
    from .readiness import cmd_readiness as readiness

    readiness(argv)


COMMANDS = {
    "train": (cmd_train, "run a recipe under accelerate launch (shipped configs by name, N processes)"),
    "quickstart": (cmd_quickstart, "run the whole pipeline on the embedded default (offline, CPU, minutes)"),
    "plan": (cmd_plan, "print the resolved config, batch, steps, tokens, memory and launch command"),
    "card": (cmd_card, "render a run directory's model card"),
    "optimize": (cmd_optimize, "quantise, prune or distil a classification run into a new run directory"),
    "evaluate": (cmd_evaluate, "run a cross-lingual evaluation suite (xtreme-lite) on a model or run directory"),
    "readiness": (cmd_readiness, "which markets (languages) a run can serve at a threshold, and the data the others need"),
    "app": (cmd_app, "start the Gradio app on run directories or Hub ids"),
    "publish": (cmd_publish, "push a run directory with its model card to the Hugging Face Hub"),
}


@exit_on_user_error
def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: lingbridge <command> [options]\n\ncommands:")
        for name, (_, help_) in COMMANDS.items():
            print(f"  {name:<12} {help_}")
        print("\n`lingbridge <command> --help` describes each command; recipes run with\n"
              "  lingbridge train <recipe> --config tiny [--num_processes N] [recipe options]")
        return
    if argv[0] in ("-V", "--version"):
        from . import __version__

        print(__version__)
        return
    name = argv[0]
    if name not in COMMANDS:
        from .config import did_you_mean

        raise UserError(f"unknown command '{name}'{did_you_mean(name, COMMANDS)}; see lingbridge --help")
    COMMANDS[name][0](argv[1:])


if __name__ == "__main__":
    main()
