# SPDX-License-Identifier: GPL-3.0-or-later
"""Long work off the UI thread: a worker thread per job, drained on the UI thread.

``job.py`` holds a job and its messages, ``state.py`` the running jobs and their mirror in
``WindowManager.farm``, ``runner.py`` starts and ticks them (the timer), ``operator.py`` the
operators' mixin and ``ops.py`` the Cancel operator. This package's names are the ones the
features use; ``blender/__init__.py`` registers ``runner`` and ``ops``.
"""

from __future__ import annotations

from .job import (
    TICK_BUDGET,
    Applied,
    Job,
    Outcome,
    QueueProgress,
    Report,
    Work,
    describe_error,
    listed,
    summary_report,
)
from .operator import FORCED_OFFLINE_MESSAGE, OFFLINE_MESSAGE, FarmOperator, poll_farm
from .runner import (
    JOIN_TIMEOUT,
    TICK_INTERVAL,
    cancel_all,
    run_blocking,
    start,
    tick,
    ticker_registered,
)
from .state import farm_state_of, foreground_job, jobs, redraw

__all__ = [
    "FORCED_OFFLINE_MESSAGE",
    "JOIN_TIMEOUT",
    "OFFLINE_MESSAGE",
    "TICK_BUDGET",
    "TICK_INTERVAL",
    "Applied",
    "FarmOperator",
    "Job",
    "Outcome",
    "QueueProgress",
    "Report",
    "Work",
    "cancel_all",
    "describe_error",
    "farm_state_of",
    "foreground_job",
    "jobs",
    "listed",
    "poll_farm",
    "redraw",
    "run_blocking",
    "start",
    "summary_report",
    "tick",
    "ticker_registered",
]
