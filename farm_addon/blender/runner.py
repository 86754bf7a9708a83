# SPDX-License-Identifier: GPL-3.0-or-later
"""Long work off the UI thread: a worker thread per job, drained on the UI thread.

An operator describes its work as a :class:`Work`: ``call(progress)`` runs the core on a
worker thread and never touches bpy; ``apply(context, result)`` runs on the UI thread and
puts the result into ``WindowManager.farm``. The worker reports through a
:class:`QueueProgress`, which posts small dataclass messages on a ``queue.SimpleQueue``.

On the UI thread :meth:`Job.tick` drains that queue under a time budget (a few milliseconds),
so a tick never blocks Blender however slow the Manager is. Ticks come from the operator's
modal TIMER events (:class:`FarmOperator`, in ``operators.py``) or, for work started without
an operator (a new selection in a list), from one ``bpy.app.timers`` function that
unregisters itself when nothing is left. :func:`tick` ticks every job: tests call it directly,
because neither timers nor modal events fire in the ``bpy`` module.

:func:`run_blocking` runs the same work in the calling thread, for ``execute()``, scripts and
``blender -b``.
"""

from __future__ import annotations

import queue
import sys
import threading
import time
import traceback
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import bpy
from bpy.props import BoolProperty

from ..core.errors import Cancelled, FarmError
from ..core.progress import Progress

#: Seconds a tick may spend draining messages and applying results.
TICK_BUDGET = 0.005
#: Seconds between the timer's ticks (modal timers and the background ticker).
TICK_INTERVAL = 0.1
#: Seconds ``unregister()`` waits in all for the cancelled worker threads.
JOIN_TIMEOUT = 5.0


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
    """A :class:`Work` running on a worker thread (or blocking, see :func:`run_blocking`)."""

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
            _show(context, self)
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
        _forget(self)
        if self.work.foreground and not outcome.superseded:
            _show_outcome(context, outcome)


def _success(work: Work, report: Report, result: Any) -> Outcome:
    level, text = report if isinstance(report, tuple) else ("INFO", report)
    text = text or f"{work.title}: done"
    return Outcome(level, text, level != "ERROR", result=result)


# --- The registry of running jobs ----------------------------------------------------------

_jobs: list[Job] = []


def jobs() -> list[Job]:
    """The jobs not finished yet, oldest first."""
    return list(_jobs)


def foreground_job() -> Job | None:
    """The running foreground job, if any: it makes Farm 'busy'."""
    return next((j for j in _jobs if j.work.foreground and not j.superseded), None)


def start(work: Work, context: bpy.types.Context, owned: bool = False) -> Job:
    """Start ``work`` on a worker thread. Unless an operator ``owned`` it (and ticks it from
    its modal handler), the background ticker is started to drain it."""
    if work.key:
        for other in _jobs:
            if other.work.key == work.key and not other.superseded:
                other.superseded = True
                other.cancel()
    job = Job(work, owned=owned)
    _jobs.append(job)
    if work.foreground:
        _show(context, job)
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
    for job in list(_jobs):
        left = deadline - time.perf_counter()
        if left <= 0:
            break
        job.tick(context, left)
    if not any(not j.owned for j in _jobs):
        _stop_ticker()  # nothing left for it (tests tick by hand; a timer left would hang exit)
    return bool(_jobs)


def _forget(job: Job) -> None:
    if job in _jobs:
        _jobs.remove(job)


def _background_tick() -> float | None:
    """The ``bpy.app.timers`` function: ticks jobs no operator owns; stops when none is left."""
    pending = [j for j in _jobs if not j.owned]
    if not pending:
        return None
    deadline = time.perf_counter() + TICK_BUDGET
    for job in pending:
        left = deadline - time.perf_counter()
        if left <= 0:
            break
        job.tick(bpy.context, left)
    return TICK_INTERVAL if any(not j.owned for j in _jobs) else None


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
    pending = list(_jobs)
    for job in pending:
        job.superseded = True
        job.cancel()
    deadline = time.monotonic() + wait
    stuck = [job for job in pending if not job.join(max(0.0, deadline - time.monotonic()))]
    _jobs.clear()
    _stop_ticker()
    return stuck


# --- Mirroring into WindowManager.farm -------------------------------------------------------


def _state(context: bpy.types.Context) -> Any:
    wm = getattr(context, "window_manager", None) or bpy.context.window_manager
    return getattr(wm, "farm", None)


def _show(context: bpy.types.Context, job: Job) -> None:
    state = _state(context)
    if state is None:
        return
    state.busy = True
    state.progress = min(max(job.fraction, 0.0), 1.0)
    state.status_line = job.status
    redraw(context)


def _show_outcome(context: bpy.types.Context, outcome: Outcome) -> None:
    state = _state(context)
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


# --- Registration --------------------------------------------------------------------------


def register() -> None:
    """Nothing to register: jobs and the ticker start on demand."""


def unregister() -> None:
    stuck = cancel_all()
    for job in stuck:
        print(f"Farm: {job.work.title} is still running and will be abandoned.", file=sys.stderr)


# --- The operator side -----------------------------------------------------------------------

OFFLINE_MESSAGE = (
    "Farm talks to Flamenco Manager over the network: "
    "enable Allow Online Access in Preferences > System"
)
FORCED_OFFLINE_MESSAGE = (
    "Blender was started in offline mode (--offline-mode); Farm needs the network"
)


def poll_farm(cls: Any, context: bpy.types.Context, online: bool, exclusive: bool) -> bool:
    """The common ``poll()``: online access for network work, one foreground job at a time.
    Reads memory only: no network, no disk."""
    if online and not bpy.app.online_access:
        forced = getattr(bpy.app, "online_access_override", False)
        cls.poll_message_set(FORCED_OFFLINE_MESSAGE if forced else OFFLINE_MESSAGE)
        return False
    if exclusive:
        job = foreground_job()
        if job is not None:
            cls.poll_message_set(f"Farm is busy: {job.work.title}. Wait, or press Esc to cancel it")
            return False
    return True


class FarmOperator:
    """Mixin for operators that run core work: declare :meth:`work`, get the rest.

    ``invoke()`` (a person clicking) runs the work on a worker thread and returns
    RUNNING_MODAL; the modal handler ticks it on TIMER events, Esc cancels it, and the end is
    reported with the core's message. ``execute()`` (scripts, ``blender -b``, F3 redo) runs
    the same work blocking. An operator that shows a dialog first sets ``self.interactive``
    in ``invoke()`` and returns the dialog; the dialog's OK then calls ``execute()``, which
    starts the modal run.
    """

    #: Set by ``invoke()`` (and kept through a dialog): run on a worker thread, modal.
    interactive: BoolProperty(options={"HIDDEN", "SKIP_SAVE"})  # type: ignore[valid-type]

    #: The work talks to the Manager: ``poll()`` requires Blender's online access.
    online: bool = True
    #: Refused while another foreground job runs.
    exclusive: bool = True

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return poll_farm(cls, context, cls.online, cls.exclusive)

    # What an operator declares ---------------------------------------------------------------

    def work(self, context: bpy.types.Context) -> Work:
        """Gather input on the UI thread (raise FarmError to refuse) and describe the work."""
        raise NotImplementedError

    def done(self, context: bpy.types.Context, outcome: Outcome) -> None:
        """Called on the UI thread after the report (to chain a confirmation, say)."""

    # The machinery ---------------------------------------------------------------------------

    def execute(self, context: bpy.types.Context) -> set[str]:
        try:
            work = self.work(context)
        except FarmError as exc:
            return self.finish(context, Outcome("ERROR", str(exc), False))
        if self.interactive and context.window is not None and not bpy.app.background:
            return self._start_modal(context, work)
        return self.finish(context, run_blocking(work, context))

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        self.interactive = True
        return self.execute(context)

    def _start_modal(self, context: bpy.types.Context, work: Work) -> set[str]:
        self._job = start(work, context, owned=True)
        wm = context.window_manager
        self._timer = wm.event_timer_add(TICK_INTERVAL, window=context.window)
        wm.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def _stop_timer(self, context: bpy.types.Context) -> None:
        timer = getattr(self, "_timer", None)
        if timer is not None:
            context.window_manager.event_timer_remove(timer)
            self._timer = None

    def modal(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        job: Job = self._job
        if event.type == "ESC" and event.value == "PRESS" and job.work.foreground:
            job.cancel()
            job.status = f"{job.work.title}: cancelling..."
            _show(context, job)
            return {"RUNNING_MODAL"}
        if event.type != "TIMER":
            return {"PASS_THROUGH"}
        if not job.tick(context):
            return {"PASS_THROUGH"}
        self._stop_timer(context)
        assert job.outcome is not None
        return self.finish(context, job.outcome)

    def cancel(self, context: bpy.types.Context) -> None:
        """Blender ends the modal operator (a file is loaded, Blender quits)."""
        job = getattr(self, "_job", None)
        if job is not None:
            job.cancel()
            job.superseded = True
            _forget(job)
        self._stop_timer(context)

    def finish(self, context: bpy.types.Context, outcome: Outcome) -> set[str]:
        if not outcome.superseded:
            if outcome.level == "ERROR":
                state = _state(context)
                if state is not None:
                    state.last_error = outcome.text
            self.report({outcome.level}, outcome.text)  # type: ignore[attr-defined]
        self.done(context, outcome)
        return outcome.operator_result
