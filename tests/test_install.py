"""The package as a user installs it: `pip install lingbridge` (not editable), outside the checkout.

- The wheel's package list names every folder of the source tree (a folder left out ships without its files).
- Every third-party module the package imports is a declared dependency: a default one, or an optional extra
  imported lazily (inside a function or a `try`), never one that only `[dev]` brings. CI's venv has the dev
  extras, so an undeclared import would pass every other test here and fail for a user.
- The built wheel, installed without the checkout on the path, runs a recipe by its shipped config name through
  `lingbridge train`, refuses a mistake with one `error:` line and exit 2, and finds the app.

`scripts/check_install.sh` does the last one in a fresh venv from PyPI's wheels (about 3 minutes); this test
reuses the test venv's dependencies, so it fits CI.
"""

from __future__ import annotations

import ast
import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import OFFLINE_ENV, ROOT
from test_layers import SOURCES, modules

tomllib = pytest.importorskip("tomllib")
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_names(requirements: list[str]) -> set[str]:
    return {_norm(re.split(r"[<>=!~\[; ]", r, maxsplit=1)[0]) for r in requirements}


def test_package_list_names_every_source_folder():
    tool = PYPROJECT["tool"]["setuptools"]
    listed, dirs = set(tool["packages"]), tool["package-dir"]
    missing = []
    for package, folder in SOURCES.items():
        for sub in [folder, *(p for p in folder.rglob("*") if p.is_dir())]:
            if sub.name == "__pycache__" or any(part.endswith(".egg-info") for part in sub.parts):
                continue
            if not any(f.is_file() and f.suffix in (".py", ".jsonl", ".json", ".yaml", ".md") for f in sub.iterdir()):
                continue
            rel = sub.relative_to(folder).parts
            name = ".".join([package, *rel])
            if package == "lingbridge" and rel and rel[0] in ("recipes", "cards", "app"):
                continue
            if name not in listed:
                missing.append(name)
    assert not missing, f"add to [tool.setuptools] packages in pyproject.toml: {missing}"
    assert set(dirs) <= listed


def _third_party_imports(path: Path) -> list[tuple[str, bool]]:
    """(top-level module, imported lazily) for each import in a file; lazy = inside a function or a `try`."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []

    def visit(node, lazy):
        for child in ast.iter_child_nodes(node):
            inner = lazy or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Try))
            if isinstance(child, ast.Import):
                found.extend((a.name.split(".")[0], lazy) for a in child.names)
            elif isinstance(child, ast.ImportFrom) and not child.level and child.module:
                found.append((child.module.split(".")[0], lazy))
            visit(child, inner)

    visit(tree, False)
    return [(m, lazy) for m, lazy in found if m not in sys.stdlib_module_names and m not in ("lingbridge", "__future__")]


def test_every_third_party_import_is_declared():
    project = PYPROJECT["project"]
    default = _requirement_names(project["dependencies"])
    extras = {name: _requirement_names(reqs) for name, reqs in project["optional-dependencies"].items()}
    optional = set().union(*(reqs for name, reqs in extras.items() if name != "dev"))
    distributions = importlib.metadata.packages_distributions()  # import name -> the distributions providing it
    wrong = []
    for name, path in sorted(modules().items()):
        for module, lazy in _third_party_imports(path):
            provided_by = {_norm(d) for d in distributions.get(module, [module])}
            if provided_by & default:
                continue
            if provided_by & optional:
                if not lazy:
                    wrong.append(f"{name} imports {module} (an optional extra) at module level: import it lazily")
                continue
            wrong.append(f"{name} imports {module} ({', '.join(sorted(provided_by))}), which no default or "
                         f"optional dependency of pyproject.toml provides")
    assert not wrong, "\n".join(wrong)


@pytest.mark.slow
def test_built_wheel_runs_outside_the_checkout(tmp_path):
    src = tmp_path / "src"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(".git", ".venv", "runs", "build", "dist", "*.egg-info",
                                                             "__pycache__", ".pytest_cache", "tests", "benchmarks",
                                                             "docs", "*.partial"))
    wheels, site, work = tmp_path / "wheels", tmp_path / "site", tmp_path / "work"
    work.mkdir()
    pip = [sys.executable, "-m", "pip", "-q", "--disable-pip-version-check"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(wheels), str(src)], check=True,
                   capture_output=True, timeout=300)
    wheel = next(wheels.glob("lingbridge-*.whl"))
    subprocess.run([*pip, "install", "--no-deps", "--target", str(site), str(wheel)], check=True, capture_output=True,
                   timeout=300)
    env = {**os.environ, **OFFLINE_ENV, "PYTHONPATH": str(site)}
    cli = [sys.executable, "-c", "import sys; from lingbridge.cli import main; sys.exit(main())"]

    def run(*args):
        return subprocess.run([*cli, *args], cwd=work, env=env, capture_output=True, text=True, timeout=600)

    where = subprocess.run([sys.executable, "-c", "import lingbridge; print(lingbridge.__file__)"], cwd=work, env=env,
                           capture_output=True, text=True, check=True).stdout.strip()
    assert where.startswith(str(site)), where
    every = ("import importlib, sys\nfor name in sys.argv[1:]:\n    m = importlib.import_module(name)\n"
             "    assert m.__file__.startswith(sys.path[1]), (name, m.__file__)")
    names = sorted(n for n in modules() if not n.startswith("lingbridge.recipes.accelerate"))
    shipped = subprocess.run([sys.executable, "-c", every, *names], cwd=work, env={**env, "PYTHONPATH": f"{site}"},
                             capture_output=True, text=True, timeout=300)
    assert shipped.returncode == 0, shipped.stderr[-3000:]  # every module of the source tree is in the wheel
    done = run("train", "pretrain", "--config", "tiny", "--max_steps", "3", "--logging_steps", "1",
               "--output_dir", str(work / "pre"), "--disable_tqdm", "true")
    assert done.returncode == 0, done.stderr[-3000:]
    assert (work / "pre" / "lingbridge_run.json").is_file() and (work / "pre" / "train_results.json").is_file()
    assert list((work / "pre" / "runs").glob("*/events.out.tfevents.*")), "TensorBoard curves are on by default"
    bad = run("train", "finetune_classification", "--config", "sentiment_tiny", "--learning_rate", "fast")
    assert bad.returncode == 2, bad.stderr[-2000:]
    assert bad.stderr.count("error:") == 1 and "Traceback" not in bad.stderr
    assert not (work / "runs").exists(), "a refused run creates nothing"
    assert run("app", "--help").returncode == 0
    assert sorted(p.name for p in work.iterdir()) == ["pre"], "nothing written beside the run"
