"""Model cards: rendered from a run's `lingbridge_run.json` by the template beside this file.

Installed as `lingbridge.cards` (from the top-level `cards/` folder, like `app/` → `lingbridge.app`).
"""

from .render import render_card, usage_snippet, validate_card, write_card

__all__ = ["render_card", "usage_snippet", "validate_card", "write_card"]
