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


def cmd_optimize(argv: list[str]) -> None:
    if not argv or argv[0] in ("-h", "--help"):
        from .recipes.optimize import __doc__ as usage

        print(f"usage: lingbridge optimize RUN_DIR --method METHOD [options]\n{usage}")
        return
    from .recipes.optimize import main

    main(argv)


COMMANDS = {
    "quickstart": (cmd_quickstart, "run the whole pipeline on the embedded default (offline, CPU, minutes)"),
    "plan": (cmd_plan, "print the resolved config, batch, steps, tokens, memory and launch command"),
    "card": (cmd_card, "render a run directory's model card"),
    "optimize": (cmd_optimize, "quantise, prune or distil a classification run into a new run directory"),
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
        print("\nrecipes run with: accelerate launch recipes/<recipe>.py --config recipes/configs/<job>/tiny.yaml")
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
