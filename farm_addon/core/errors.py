"""The project's own exceptions. No `bpy` module use.

Every failure that reaches a face (the CLI, a Blender operator, a headless script) is a
:class:`FarmError`. Its ``str()`` is one or two sentences that read well in a Blender
status bar and in a terminal: what went wrong, then how to fix it. ``exit_code`` follows
the CLI convention: 1 the operation failed, 2 bad input or usage.
"""

from __future__ import annotations

import errno
import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar


class FarmError(Exception):
    """Base of every error farm raises on purpose."""

    exit_code: int = 1


class BadInput(FarmError):
    """The user's input is wrong: a name, a path, a query, a plan file. Nothing was changed."""

    exit_code = 2


class Cancelled(FarmError):
    """The user cancelled a long operation (ESC in Blender, Ctrl+C in a terminal)."""

    exit_code = 1


class DiskError(FarmError):
    """A file operation on the volume failed: a full disk, missing permissions, a read-only
    mount. What was done before it is kept; the command can be run again once it is fixed."""


_DISK_HINTS = {
    errno.ENOSPC: "free some space on the volume",
    errno.EDQUOT: "free some space (your disk quota is used up)",
    errno.EACCES: "check the permissions of the volume's folders",
    errno.EPERM: "check the permissions of the volume's folders",
    errno.EROFS: "the volume is mounted read-only; mount it writable",
}


def disk_error(exc: OSError, doing: str) -> DiskError:
    """A :class:`DiskError` saying what failed, on which file, and what to do."""
    where = f" ({exc.filename})" if exc.filename else ""
    hint = _DISK_HINTS.get(exc.errno or 0, "fix that")
    return DiskError(
        f"Could not {doing}: {exc.strerror or exc}{where}. What was done before is kept; "
        f"{hint}, then run the same command again."
    )


P = ParamSpec("P")
R = TypeVar("R")


def reports_disk_errors(doing: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorate a core operation so that an ``OSError`` leaving it becomes a
    :class:`DiskError` (faces show FarmErrors as messages; anything else is a bug)."""

    def decorate(fn: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return fn(*args, **kwargs)
            except OSError as exc:
                raise disk_error(exc, doing) from exc

        return wrapper

    return decorate
