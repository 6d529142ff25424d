"""The layering stays true: every import of a lingbridge module points down (or sideways), never up, and no
modules import each other in a circle. Read from the imports themselves (`ast`), function-level ones included.

The layers, bottom to top, are the table in docs/DEVELOPING.md; a new module must be placed in one.
"""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import ROOT

# bottom → top; a module may import its own layer and the ones below it
LAYERS = [
    ("foundation", ["lingbridge", "lingbridge.errors", "lingbridge.languages"]),
    ("config", ["lingbridge.config"]),
    ("data", ["lingbridge.data", "lingbridge.sample_data"]),
    ("tokenization", ["lingbridge.tokenization"]),
    ("models", ["lingbridge.models"]),
    ("tasks", ["lingbridge.tasks"]),
    ("training, evaluation, the record", ["lingbridge.training", "lingbridge.evaluation", "lingbridge.retrieval",
                                          "lingbridge.record"]),
    ("cards", ["lingbridge.cards"]),
    ("runs", ["lingbridge.runs"]),
    ("hub, vision, optimize, sweep", ["lingbridge.hub", "lingbridge.vision", "lingbridge.optimize", "lingbridge.sweep"]),
    ("recipes", ["lingbridge.recipes"]),
    ("entry points", ["lingbridge.plan", "lingbridge.quickstart", "lingbridge.suite", "lingbridge.readiness",
                      "lingbridge.app", "lingbridge.cli"]),
]
SOURCES = {"lingbridge": ROOT / "platform" / "lingbridge", "lingbridge.recipes": ROOT / "recipes",
           "lingbridge.cards": ROOT / "cards", "lingbridge.app": ROOT / "app"}


def modules() -> dict[str, Path]:
    """Every module of the installed package, by dotted name (the package-dir mapping of pyproject.toml)."""
    out = {}
    for package, folder in SOURCES.items():
        for path in folder.rglob("*.py"):
            rel = path.relative_to(folder).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            name = ".".join([package, *parts])
            if package == "lingbridge" and parts and parts[0] in ("recipes", "cards", "app"):
                continue
            out[name] = path
    return out


def imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The lingbridge modules `name` imports (a `from pkg import sub` counts as importing `pkg.sub`)."""
    is_package = path.name == "__init__.py"
    base = name if is_package else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = base.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                module = ".".join(anchor + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            targets = [f"{module}.{a.name}" if f"{module}.{a.name}" in known else module for a in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rsplit(".", 1)[0] if "." in target else ""
            if target.startswith("lingbridge") and target != name:
                found.add(target)
    return found


def layer_of(name: str) -> int:
    best, rank = -1, None
    for i, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (name == prefix or name.startswith(prefix + ".")) and len(prefix) > best:
                best, rank = len(prefix), i
    assert rank is not None, f"{name} is in no layer: add it to LAYERS here and to docs/DEVELOPING.md"
    return rank


def graph() -> dict[str, set[str]]:
    mods = modules()
    return {name: imports(name, path, set(mods)) for name, path in mods.items()}


def test_every_import_points_down():
    upward = []
    for name, targets in graph().items():
        for target in targets:
            if target != "lingbridge" and layer_of(target) > layer_of(name):
                upward.append(f"{name} ({LAYERS[layer_of(name)][0]}) imports {target} ({LAYERS[layer_of(target)][0]})")
    assert not upward, "imports that run back up:\n" + "\n".join(sorted(upward))


def test_no_import_circles():
    g = graph()
    index, low, stack, on_stack, circles, counter = {}, {}, [], set(), [], [0]

    def visit(v):  # Tarjan's strongly connected components
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in g.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for v in g:
        if v not in index:
            visit(v)
    assert not circles, f"modules that import each other in a circle: {circles}"


def test_the_checker_sees_an_upward_import(tmp_path):
    """The rule can fail: a data module importing the task registry is caught."""
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from ..tasks import get_task\n")
    known = set(modules())
    assert imports("lingbridge.data.bad", bad, known) == {"lingbridge.tasks"}
    assert layer_of("lingbridge.tasks") > layer_of("lingbridge.data.bad")
