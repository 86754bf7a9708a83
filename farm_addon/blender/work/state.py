# SPDX-License-Identifier: GPL-3.0-or-later
"""The running jobs, and their mirror in ``WindowManager.farm`` (busy, progress, status line).

The UI thread alone reads and changes these: workers only post messages (see ``job.py``).
"""

from __future__ import annotations

from typing import Any, Protocol

import bpy


class Job(Protocol):
    """What this module reads of a running job (``job.Job``); job.py imports this module, so
    the type is described here rather than imported back."""

    work: Any
    superseded: bool
    fraction: float
    status: str


class Outcome(Protocol):
    """What this module reads of how a job ended (``job.Outcome``)."""

    ok: bool
    text: str
    level: str

# --- The registry of running jobs ----------------------------------------------------------

_jobs: list[Job] = []


def jobs() -> list[Job]:
    """The jobs not finished yet, oldest first."""
    return list(_jobs)


def foreground_job() -> Job | None:
    """The running foreground job, if any: it makes Farm 'busy'."""
    return next((j for j in _jobs if j.work.foreground and not j.superseded), None)


def add(job: Job) -> None:
    _jobs.append(job)


def forget(job: Job) -> None:
    if job in _jobs:
        _jobs.remove(job)


def forget_all() -> None:
    _jobs.clear()


# --- Mirroring into WindowManager.farm -------------------------------------------------------


def farm_state_of(context: bpy.types.Context) -> Any:
    """``WindowManager.farm``, or None while the add-on is not registered."""
    wm = getattr(context, "window_manager", None) or bpy.context.window_manager
    return getattr(wm, "farm", None)


def show(context: bpy.types.Context, job: Job) -> None:
    state = farm_state_of(context)
    if state is None:
        return
    state.busy = True
    state.progress = min(max(job.fraction, 0.0), 1.0)
    state.status_line = job.status
    redraw(context)


def show_outcome(context: bpy.types.Context, outcome: Outcome) -> None:
    state = farm_state_of(context)
    if state is None:
        return
    state.busy = foreground_job() is not None
    state.progress = 1.0 if outcome.ok else state.progress
    state.status_line = outcome.text.splitlines()[0] if outcome.text else ""
    state.last_error = outcome.text if outcome.level == "ERROR" else ""
    redraw(context)


def redraw(context: bpy.types.Context | None = None) -> None:
    """Tag the sidebars and the preferences for redraw (cheap; no drawing happens here)."""
    wm = getattr(context, "window_manager", None) or bpy.context.window_manager
    for window in wm.windows:
        screen = window.screen
        if screen is None:
            continue
        for area in screen.areas:
            if area.type in {"VIEW_3D", "PREFERENCES"}:
                area.tag_redraw()
