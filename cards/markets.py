"""The model card's "Markets" section, from a run's `markets.json` (written by `lingbridge readiness`).

Here, at the cards layer, so that the card renderer can use it; `lingbridge.readiness` re-exports it.
"""

from __future__ import annotations

import json
from pathlib import Path

MARKETS_FILE = "markets.json"


def _pct(v: float) -> str:
    return f"{100 * v:.1f}%"


def markets_markdown(markets: dict) -> str:
    """The "Markets" section of a model card: the table and the chart (`markets.png`, beside the card)."""
    metric, t = markets["metric"], markets["threshold"]
    s = markets.get("summary") or {}
    glance = " · ".join(f"**{label}**: {', '.join(s.get(key) or []) or 'none'}"
                        for key, label in (("ready", "Ready"), ("close", "Close"), ("not ready", "Not ready")))
    lines = ["## Markets", "",
             f"Which languages the model can serve at {metric} ≥ {_pct(t)}"
             + (f" on `{markets['task']}`" if markets.get("task") else "") + f". {glance}", "",
             f"{round(100 * markets['confidence'])}% intervals: {markets.get('interval', '')}. **Ready**: the whole "
             f"interval clears the threshold; **close**: the interval reaches it or ends within "
             f"{_pct(markets['close_margin'])} of it; **not ready**: below that. *Local data needed*: from few-shot "
             "finetunes on that language and a fitted learning curve (`lingbridge readiness`).", "",
             f"| market | status | {metric} | interval | n | local data needed |", "|---|---|---|---|---|---|"]
    for lang, e in markets["markets"].items():
        need = (e.get("data_needed") or {}).get("verdict") or ("—" if e["status"] == "ready" else "not estimated")
        lines.append(f"| {lang} | {e['status']} | {_pct(e['value'])} | {_pct(e['lower'])}–{_pct(e['upper'])} | "
                     f"{e['n']} | {need} |")
    lines += ["", "![Markets: per-language score, interval and threshold](markets.png)"]
    lines += [f"\n{n}" for n in markets.get("notes", [])]
    return "\n".join(lines) + "\n"


def markets_section(run_dir: str | Path) -> str:
    """The section for the run in `run_dir`, or "" when it has no (readable) markets.json."""
    path = Path(run_dir) / MARKETS_FILE
    if not path.is_file():
        return ""
    try:
        return markets_markdown(json.loads(path.read_text(encoding="utf-8")))
    except (json.JSONDecodeError, KeyError, TypeError):
        return ""  # a damaged file must not stop the card; `lingbridge readiness` rewrites it
