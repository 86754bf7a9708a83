# SPDX-License-Identifier: GPL-3.0-or-later
"""Starting jobs and ticking them: worker threads drained on the UI thread by a timer.

Ticks come from the operator's modal TIMER events (``FarmOperator``, in ``operator.py``)
or, for work started without an operator (a new selection in a list), from one
``bpy.app.timers`` function that unregisters itself when nothing is left. :func:`tick` ticks
every job: tests call it directly, because neither timers nor modal events fire in the
``bpy`` module.

:func:`run_blocking` runs the same work in the calling thread, for ``execute()``, scripts and
``blender -b``.
"""

from __future__ import annotations

import sys
import time

import bpy

from .job import TICK_BUDGET, Job, Outcome, Work
from .state import add, forget_all, jobs, show

#: Seconds between the timer's ticks (modal timers and the background ticker).
TICK_INTERVAL = 0.1
#: Seconds ``unregister()`` waits in all for the cancelled worker threads.
JOIN_TIMEOUT = 5.0


def start(work: Work, context: bpy.types.Context, owned: bool = False) -> Job:
    """Start ``work`` on a worker thread. Unless an operator ``owned`` it (and ticks it from
    its modal handler), the background ticker is started to drain it."""
    if work.key:
        for other in jobs():
            if other.work.key == work.key and not other.superseded:
                other.superseded = True
                other.cancel()
    job = Job(work, owned=owned)
    add(job)
    if work.foreground:
        show(context, job)
    job.start()
    if not owned:
        _ensure_ticker()
    return job


def run_blocking(work: Work, context: bpy.types.Context) -> Outcome:
    """Run ``work`` in this thread, then apply it: ``execute()``, scripts, ``blender -b``."""
    job = Job(work)
    job._run()
    while not job.tick(context, budget=3600.0):
        pass
    assert job.outcome is not None
    return job.outcome


def tick(context: bpy.types.Context | None = None, budget: float = TICK_BUDGET) -> bool:
    """Tick every running job (owned or not) within ``budget`` seconds in all.

    Returns True while jobs remain. The background ticker calls it; so do tests, since no
    timer or modal event fires in the ``bpy`` module.
    """
    context = context or bpy.context
    deadline = time.perf_counter() + budget
    for job in jobs():
        left = deadline - time.perf_counter()
        if left <= 0:
            break
        job.tick(context, left)
    if not any(not j.owned for j in jobs()):
        _stop_ticker()  # nothing left for it (tests tick by hand; a timer left would hang exit)
    return bool(jobs())


def _background_tick() -> float | None:
    """The ``bpy.app.timers`` function: ticks jobs no operator owns; stops when none is left."""
    pending = [j for j in jobs() if not j.owned]
    if not pending:
        return None
    deadline = time.perf_counter() + TICK_BUDGET
    for job in pending:
        left = deadline - time.perf_counter()
        if left <= 0:
            break
        job.tick(bpy.context, left)
    return TICK_INTERVAL if any(not j.owned for j in jobs()) else None


def _ensure_ticker() -> None:
    if not bpy.app.timers.is_registered(_background_tick):
        # Persistent: a job started before a file is loaded still needs draining after it.
        bpy.app.timers.register(_background_tick, first_interval=TICK_INTERVAL, persistent=True)


def _stop_ticker() -> None:
    if bpy.app.timers.is_registered(_background_tick):
        bpy.app.timers.unregister(_background_tick)


def ticker_registered() -> bool:
    return bool(bpy.app.timers.is_registered(_background_tick))


def cancel_all(wait: float = JOIN_TIMEOUT) -> list[Job]:
    """Cancel every job and wait up to ``wait`` seconds in all for their threads; return
    the jobs whose thread is still alive. Their results are dropped. Used by
    ``unregister()`` and by tests."""
    pending = jobs()
    for job in pending:
        job.superseded = True
        job.cancel()
    deadline = time.monotonic() + wait
    stuck = [job for job in pending if not job.join(max(0.0, deadline - time.monotonic()))]
    forget_all()
    _stop_ticker()
    return stuck


def register() -> None:
    """Nothing to register: jobs and the ticker start on demand."""


def unregister() -> None:
    stuck = cancel_all()
    for job in stuck:
        print(f"Farm: {job.work.title} is still running and will be abandoned.", file=sys.stderr)
