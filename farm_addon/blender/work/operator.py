# SPDX-License-Identifier: GPL-3.0-or-later
"""The operator side of the runner: the ``FarmOperator`` mixin and the common ``poll()``.

:class:`FarmOperator` is the mixin of every Farm operator that runs core work;
:func:`poll_farm` is their ``poll()``.
"""

from __future__ import annotations

from typing import Any

import bpy
from bpy.props import BoolProperty

from ...core.errors import FarmError
from .job import Job, Outcome, Work
from .runner import TICK_INTERVAL, run_blocking, start
from .state import farm_state_of, foreground_job, forget, show

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
    reported with the core's message (see :meth:`report_outcome`). ``execute()`` (scripts,
    ``blender -b``, F3 redo) runs the same work blocking. An operator that shows a dialog
    first sets ``self.interactive`` in ``invoke()`` and returns the dialog; the dialog's OK
    then calls ``execute()``, which starts the modal run.
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
            show(context, job)
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
            forget(job)
        self._stop_timer(context)

    def finish(self, context: bpy.types.Context, outcome: Outcome) -> set[str]:
        if not outcome.superseded:
            if outcome.level == "ERROR":
                state = farm_state_of(context)
                if state is not None:
                    state.last_error = outcome.text
            self.report_outcome(outcome)
        self.done(context, outcome)
        return outcome.operator_result

    def report_outcome(self, outcome: Outcome) -> None:
        """Report ``outcome``: an error, or a one-line text, as it is; else the lines after
        the first as INFO, then the first at the outcome's level, so the status bar (which
        shows the last report) shows the first line and the Info log holds the whole text."""
        report = self.report  # type: ignore[attr-defined]
        head, _, rest = outcome.text.partition("\n")
        if outcome.level == "ERROR" or not rest.strip():
            report({outcome.level}, outcome.text)
            return
        report({"INFO"}, rest)
        report({outcome.level}, head)
