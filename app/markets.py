"""The app's Markets tab: which languages a model can serve, from a run's `markets.json`
(written by `lingbridge readiness RUN --metric accuracy --threshold 0.85`).

Per language: a bar coloured ready / close / not ready with its confidence interval and the threshold line,
and a table with the local labelled data each weak market would need. Built inside the app's
`gr.Blocks` context with `add_markets_tab(registry)`; it only reads run directories.
"""

from __future__ import annotations

import json
from pathlib import Path

from lingbridge.errors import UserError

MARKETS_FILE = "markets.json"
NO_MARKETS = """### No market-readiness results yet

Run `lingbridge readiness` on a run directory, then reload the app:

```
lingbridge readiness runs/<run> --metric accuracy --threshold 0.85 --markets de,fr,ja
```
"""
COLUMNS = ["market", "status", "score", "interval", "n", "local data needed"]


def runs_with_markets(registry) -> list[str]:
    """Names of the registry's runs whose folder holds a markets.json."""
    return [name for name, run in registry.runs.items() if (Path(run.path) / MARKETS_FILE).is_file()]


def read_markets(registry, name: str | None) -> dict:
    """The markets.json of run `name` (read on every call: a new readiness result shows without a restart)."""
    if not name or name not in registry.runs:
        raise UserError(f"unknown run '{name}'; pick one from the list")
    path = Path(registry.runs[name].path) / MARKETS_FILE
    if not path.is_file():
        raise UserError(f"{name} has no {MARKETS_FILE}; run `lingbridge readiness` on it first")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise UserError(f"{path}: not valid JSON ({err})") from None


def markets_rows(markets: dict) -> list[list]:
    """One table row per market: status, score and interval in %, item count, data-needed estimate."""
    rows = []
    for lang, e in markets["markets"].items():
        need = (e.get("data_needed") or {}).get("verdict") or ("—" if e["status"] == "ready" else "not estimated")
        rows.append([lang, e["status"], round(100 * e["value"], 1),
                     f"{100 * e['lower']:.1f}–{100 * e['upper']:.1f}", e["n"], need])
    return rows


def headline(markets: dict) -> str:
    """One glance: where can we launch?"""
    s = markets.get("summary") or {}
    parts = [f"**{label}**: {', '.join(s.get(key) or []) or 'none'}"
             for key, label in (("ready", "Ready"), ("close", "Close"), ("not ready", "Not ready"))]
    return (f"{markets['metric']} ≥ {100 * markets['threshold']:.1f}% on `{markets.get('task') or ''}` "
            f"({round(100 * markets['confidence'])}% intervals, {markets.get('interval', '')}). " + " · ".join(parts))


def show_markets(registry, name: str):
    """(figure, headline markdown, table rows) for run `name`: the tab's outputs."""
    import matplotlib.pyplot as plt

    from lingbridge.readiness import markets_figure

    markets = read_markets(registry, name)
    plt.close("all")  # one figure per request; gradio renders it and it is dropped
    return markets_figure(markets), headline(markets), markets_rows(markets)


def add_markets_tab(registry):
    """Add the "Markets" tab to the enclosing `gr.Blocks` (call inside `with gr.Blocks():`)."""
    import gradio as gr

    names = runs_with_markets(registry)

    def errors(fn):
        def wrapper(*args):
            try:
                return fn(*args)
            except UserError as err:
                raise gr.Error(str(err), print_exception=False) from None
        return wrapper

    with gr.Tab("Markets"):
        if not names:
            gr.Markdown(NO_MARKETS)
        run = gr.Dropdown(choices=names, value=names[0] if names else None, label="Run with a readiness result")
        first = (None, "", [])
        if names:
            try:
                first = show_markets(registry, names[0])
            except UserError as err:  # a broken file shows as a message, the app still starts
                first = (None, f"⚠️ {err}", [])
        summary = gr.Markdown(first[1])
        plot = gr.Plot(first[0], label="Per market: score, interval, threshold")
        table = gr.Dataframe(first[2], headers=COLUMNS, interactive=False, label="Markets")

        def refresh(name):
            if not name:
                return None, "", []
            return show_markets(registry, name)

        run.change(errors(refresh), run, [plot, summary, table], api_name="markets")
    return run, plot, summary, table
