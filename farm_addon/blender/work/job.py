# SPDX-License-Identifier: GPL-3.0-or-later
"""A job: one piece of core work on a worker thread, the messages it posts, and how it ended.

An operator describes its work as a :class:`Work`: ``call(progress)`` runs the core on a
worker thread and never touches bpy; ``apply(context, result)`` runs on the UI thread and
puts the result into ``WindowManager.farm``. The worker reports through a
:class:`QueueProgress`, which posts small dataclass messages on a ``queue.SimpleQueue``;
:meth:`Job.tick` drains that queue on the UI thread under a time budget (a few milliseconds),
so a tick never blocks Blender however slow the Manager is.
"""

from __future__ import annotations

import queue
import sys
import threading
import time
import traceback
import types
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import bpy

from ...core.errors import Cancelled, FarmError
from ...core.progress import Progress
from .state import forget, show, show_outcome

#: Seconds a tick may spend draining messages and applying results.
TICK_BUDGET = 0.005


# --- Messages from the worker thread -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Step:
    """Progress: ``done`` of ``total`` units of the step called ``label``."""

    done: int
    total: int
    label: str


@dataclass(frozen=True, slots=True)
class Note:
    """A line for the status bar."""

    text: str


@dataclass(frozen=True, slots=True)
class Done:
    result: Any


@dataclass(frozen=True, slots=True)
class Failed:
    error: BaseException
    trace: str = ""


Message = Step | Note | Done | Failed


class QueueProgress(Progress):
    """A :class:`Progress` that posts every update on a queue; safe to call from any thread."""

    def __init__(self, messages: queue.SimpleQueue[Message]) -> None:
        super().__init__()
        self._messages = messages

    def on_update(self) -> None:
        self._messages.put(Step(self.done, self.total, self.label))

    def on_message(self, text: str) -> None:
        self._messages.put(Note(text))


# --- Work and its outcome ------------------------------------------------------------------

#: A report: its text (level INFO), or ``(level, text)`` with level 'INFO', 'WARNING' or
#: 'ERROR' (an ERROR report makes the operator return CANCELLED).
Report = str | tuple[str, str] | None
#: ``apply`` returns a report, or a generator that yields while it fills large collections
#: (the runner resumes it on the next tick when the budget is spent) and returns the report.
Applied = Report | Iterator[None]


#: Lines of failures listed in a report at most (the rest are counted).
LISTED = 10


def listed(lines: Iterable[str], limit: int = LISTED) -> list[str]:
    """``lines``, the first ``limit`` of them and a count of the others."""
    lines = list(lines)
    extra = [f"... and {len(lines) - limit} more"] if len(lines) > limit else []
    return lines[:limit] + extra


def summary_report(result: Any, headline: str = "", before: Iterable[str] = (),
                   after: Iterable[str] = (), *, warn: bool = False,
                   summary: str | None = None) -> Report:
    """The report of a core verb: the result's own ``summary`` (or ``summary``, a variant of
    it the result gives), after ``headline`` (the status bar's line, when the operator has a
    short one) and the ``before`` lines, then the ``after`` lines. ERROR when the result is not
    ``ok``, WARNING when ``warn``, else INFO."""
    text = result.summary if summary is None else summary
    lines = [line for line in (headline, *before, text, *after) if line]
    level = "ERROR" if not getattr(result, "ok", True) else "WARNING" if warn else "INFO"
    return level, "\n".join(lines)


@dataclass
class Work:
    """One piece of core work, as an operator describes it."""

    #: Shown in the status line while it runs ("Harvesting release spring").
    title: str
    #: Runs on the worker thread: core calls only, never bpy. Takes the progress reporter.
    call: Callable[[Progress], Any]
    #: Runs on the UI thread with the result: updates ``WindowManager.farm``.
    apply: Callable[[bpy.types.Context, Any], Applied] | None = None
    #: Runs on the UI thread when ``call`` raised a :class:`FarmError` (after the report).
    fail: Callable[[bpy.types.Context, BaseException], None] | None = None
    #: Foreground work shows progress in the panel, sets ``busy`` and can be cancelled with
    #: Esc; background work (refreshes, previews) is silent.
    foreground: bool = True
    #: A job with the same key still running is superseded by this one (its result dropped).
    key: str = ""


@dataclass(frozen=True)
class Outcome:
    """How a job ended, as one report."""

    level: str  # 'INFO', 'WARNING' or 'ERROR'
    text: str
    ok: bool
    cancelled: bool = False
    superseded: bool = False
    result: Any = None

    @property
    def operator_result(self) -> set[str]:
        return {"FINISHED"} if self.ok else {"CANCELLED"}


def describe_error(error: BaseException, trace: str = "") -> str:
    """The core's message for a :class:`FarmError`; a pointer to the console for a bug."""
    if isinstance(error, FarmError):
        return str(error)
    if trace:
        print(trace, file=sys.stderr)
    return f"Farm: internal error ({type(error).__name__}: {error}); details in the console."


# --- Jobs ----------------------------------------------------------------------------------


class Job:
    """A :class:`Work` running on a worker thread (or blocking, see ``runner.run_blocking``)."""

    def __init__(self, work: Work, owned: bool = False) -> None:
        self.work = work
        #: True when an operator's modal handler ticks it; else the background ticker does.
        self.owned = owned
        self.messages: queue.SimpleQueue[Message] = queue.SimpleQueue()
        self.progress = QueueProgress(self.messages)
        self.thread: threading.Thread | None = None
        self.outcome: Outcome | None = None
        self.superseded = False
        self.fraction = 0.0
        self.status = work.title
        self._ending: Message | None = None
        self._applying: Iterator[None] | None = None

    def __repr__(self) -> str:
        state = "done" if self.outcome else "running"
        return f"<farm Job {self.work.title!r} {state}>"

    @property
    def finished(self) -> bool:
        return self.outcome is not None

    # The worker thread ---------------------------------------------------------------------

    def start(self) -> None:
        self.thread = threading.Thread(
            target=self._run, name=f"farm: {self.work.title}", daemon=True
        )
        self.thread.start()

    def _run(self) -> None:
        try:
            result = self.work.call(self.progress)
        except BaseException as exc:  # everything reaches the UI thread as a message
            trace = "" if isinstance(exc, FarmError) else traceback.format_exc()
            self.messages.put(Failed(exc, trace))
        else:
            self.messages.put(Done(result))

    def cancel(self) -> None:
        """Ask the core to stop at its next check; the job ends when the thread returns."""
        self.progress.cancel()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the worker thread; True when it is gone."""
        if self.thread is not None:
            self.thread.join(timeout)
            return not self.thread.is_alive()
        return True

    # The UI thread -------------------------------------------------------------------------

    def tick(self, context: bpy.types.Context, budget: float = TICK_BUDGET) -> bool:
        """Drain messages and apply the result within ``budget`` seconds; True once finished."""
        if self.outcome is not None:
            return True
        deadline = time.perf_counter() + budget
        changed = False
        while self._ending is None and time.perf_counter() < deadline:
            try:
                message = self.messages.get_nowait()
            except queue.Empty:
                break
            if isinstance(message, Step):
                self.fraction = message.done / message.total if message.total else 0.0
                if message.label:
                    self.status = f"{self.work.title}: {message.label}"
                changed = True
            elif isinstance(message, Note):
                self.status = message.text
                changed = True
            else:
                self._ending = message
        if changed and self.work.foreground and not self.superseded:
            show(context, self)
        if self._ending is not None:
            self._end(context, deadline)
        return self.outcome is not None

    def _end(self, context: bpy.types.Context, deadline: float) -> None:
        ending = self._ending
        if self.superseded:
            self._finish(context, Outcome("INFO", f"{self.work.title}: superseded", False,
                                          superseded=True))
            return
        try:
            if isinstance(ending, Failed):
                self._failed(context, ending)
            else:
                assert isinstance(ending, Done)
                self._apply(context, ending, deadline)
        except Exception as exc:  # a bug in apply/fail: report it, never leave a modal stuck
            trace = traceback.format_exc()
            self._finish(context, Outcome("ERROR", describe_error(exc, trace), False))

    def _failed(self, context: bpy.types.Context, ending: Failed) -> None:
        error = ending.error
        if isinstance(error, Cancelled):
            self._finish(context, Outcome("WARNING", str(error), False, cancelled=True))
            return
        outcome = Outcome("ERROR", describe_error(error, ending.trace), False)
        if self.work.fail is not None:
            self.work.fail(context, error)
        self._finish(context, outcome)

    def _apply(self, context: bpy.types.Context, ending: Done, deadline: float) -> None:
        if self._applying is None:
            applied = self.work.apply(context, ending.result) if self.work.apply else None
            if not isinstance(applied, types.GeneratorType):
                self._finish(context, _success(self.work, applied, ending.result))
                return
            self._applying = applied
        while time.perf_counter() < deadline:
            try:
                next(self._applying)
            except StopIteration as stop:
                self._finish(context, _success(self.work, stop.value, ending.result))
                return

    def _finish(self, context: bpy.types.Context, outcome: Outcome) -> None:
        self.outcome = outcome
        self.fraction = 1.0 if outcome.ok else self.fraction
        forget(self)
        if self.work.foreground and not outcome.superseded:
            show_outcome(context, outcome)


def _success(work: Work, report: Report, result: Any) -> Outcome:
    level, text = report if isinstance(report, tuple) else ("INFO", report)
    text = text or f"{work.title}: done"
    return Outcome(level, text, level != "ERROR", result=result)
