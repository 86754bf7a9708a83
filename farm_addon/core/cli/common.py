"""Helpers every verb uses: tables, confirmation, targets like ``RELEASE.jobs``.
No `bpy` module use."""

from __future__ import annotations

import sys

from ..errors import BadInput
from .context import Context


def confirm(ctx: Context, question: str) -> bool:
    """Ask ``question``; ``--yes`` answers yes. Without a terminal to ask, refuse."""
    if ctx.yes:
        return True
    if not sys.stdin.isatty():
        raise BadInput(f"{question} Pass --yes to confirm when not running in a terminal.")
    answer = input(f"{question} [y/N] ").strip().lower()
    return answer in ("y", "yes")


def split_jobs_target(target: str, verb: str) -> str | None:
    """``jobs`` -> None (every release); ``RELEASE.jobs`` -> RELEASE."""
    if target == "jobs":
        return None
    if target.endswith(".jobs") and len(target) > len(".jobs"):
        return target[: -len(".jobs")]
    raise BadInput(
        f"`farm {verb} {target}`: say `farm {verb} jobs QUERY` or `farm {verb} RELEASE.jobs QUERY`."
    )
