# SPDX-License-Identifier: GPL-3.0-or-later
"""The Manager connection's operators (Refresh, Test Connection), and ``FarmChanging``.

:class:`FarmChanging` is the mixin of the operators that change the farm: they refresh the
sidebar after.

Each operator gathers its input on the UI thread, names the core function to call with which
arguments, and says how its result lands in ``WindowManager.farm``; ``work.FarmOperator``
does the rest. The class docstring is the tooltip; F3 finds them as "Farm: ...".
"""

from __future__ import annotations

from typing import Any

import bpy
from bpy.types import Operator

from ..common import farm_settings, farm_state
from ..work import FarmOperator, Outcome, Work
from .fetch import refresh_work, start_refresh


class FarmChanging(FarmOperator):
    """An operator that changes the farm: refresh the sidebar when a person ran it."""

    def refresh_after(self, context: bpy.types.Context, outcome: Outcome) -> str:
        return ""

    def done(self, context: bpy.types.Context, outcome: Outcome) -> None:
        if self.interactive and not bpy.app.background and not outcome.cancelled:
            start_refresh(context, self.refresh_after(context, outcome))


class FARM_OT_refresh(FarmOperator, Operator):
    """Ask the Manager and the volume for the farm's state: version, workers, releases, jobs"""

    bl_idname = "farm.refresh"
    bl_label = "Farm: Refresh"
    bl_options = {"REGISTER"}
    exclusive = False

    def work(self, context: bpy.types.Context) -> Work:
        return refresh_work(context)


class FARM_OT_test_connection(FarmOperator, Operator):
    """Check that the Manager in the preferences answers; report its version and farm status"""

    bl_idname = "farm.test_connection"
    bl_label = "Farm: Test Connection"
    bl_options = {"REGISTER"}
    exclusive = False

    def work(self, context: bpy.types.Context) -> Work:
        settings = farm_settings(context)

        def call(progress: Any) -> tuple[Any, str, list[Any]]:
            from ...core.flamenco import FlamencoClient

            with FlamencoClient(settings.manager_url, retries=1) as client:
                handshake = client.handshake()
                status = client.farm_status().status
                workers = client.workers()
            return handshake, status, workers

        def apply(context: bpy.types.Context, result: tuple[Any, str, list[Any]]) -> Any:
            handshake, status, workers = result
            state = farm_state(context)
            online = sum(1 for w in workers if w.status not in ("offline", "error"))
            state.connection = ("CONNECTED" if handshake.compatible and not handshake.message
                                else "WARNING" if handshake.compatible else "FAILED")
            state.manager_url = settings.manager_url
            state.manager_version = handshake.version.version
            state.verdict = handshake.message
            state.farm_status = status
            state.workers_online = online
            state.workers_total = len(workers)
            text = (f"Flamenco Manager {handshake.version.version} at {settings.manager_url}: "
                    f"farm {status}, {online} of {len(workers)} workers online")
            if not handshake.compatible:
                return ("ERROR", f"{text}. {handshake.message}")
            return ("WARNING", f"{text}. {handshake.message}") if handshake.message else text

        def fail(context: bpy.types.Context, error: BaseException) -> None:
            farm_state(context).connection = "FAILED"

        return Work("Testing the connection", call, apply, fail, foreground=False,
                    key="connection")


classes = (
    FARM_OT_refresh,
    FARM_OT_test_connection,
)
register, unregister = bpy.utils.register_classes_factory(classes)
