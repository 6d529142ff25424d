"""User mistakes: one clear line on stderr and exit status 2, never a traceback."""

from __future__ import annotations

import functools
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
            print(f"error: {err}", file=sys.stderr, flush=True)
            sys.exit(2)

    return wrapper
