"""The project's own exceptions. No `bpy` module use.

Every failure that reaches a face (the CLI, a Blender operator, a headless script) is a
:class:`FarmError`. Its ``str()`` is one or two sentences that read well in a Blender
status bar and in a terminal: what went wrong, then how to fix it. ``exit_code`` follows
the CLI convention: 1 the operation failed, 2 bad input or usage.
"""

from __future__ import annotations


class FarmError(Exception):
    """Base of every error farm raises on purpose."""

    exit_code: int = 1


class BadInput(FarmError):
    """The user's input is wrong: a name, a path, a query, a plan file. Nothing was changed."""

    exit_code = 2


class Cancelled(FarmError):
    """The user cancelled a long operation (ESC in Blender, Ctrl+C in a terminal)."""

    exit_code = 1
