"""User mistakes: one clear line on stderr and exit status 2, never a traceback."""

from __future__ import annotations

import functools
import os
import sys


class UserError(ValueError):
    """A mistake the user can fix (bad path, column, label, config key or value)."""


def exit_on_user_error(fn):
    """Decorate an entry point so that a `UserError` prints `error: ...` and exits with status 2."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except UserError as err:
            # Under several processes every rank runs the same checks on the same input and stops with the
            # same message: rank 0 prints it, so the user reads one line.
            if os.environ.get("RANK", "0") == "0":
                print(f"error: {err}", file=sys.stderr, flush=True)
            sys.exit(2)

    return wrapper
