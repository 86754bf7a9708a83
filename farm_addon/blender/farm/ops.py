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

from ..common import core_api, farm_settings, farm_state
from ..work import FarmOperator, Outcome, Work, summary_report
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

        def call(progress: Any) -> Any:
            return core_api().check_connection(settings)

        def apply(context: bpy.types.Context, result: Any) -> Any:
            state = farm_state(context)
            state.connection = ("CONNECTED" if result.compatible and not result.verdict
                                else "WARNING" if result.compatible else "FAILED")
            state.manager_url = result.manager_url
            state.manager_version = result.version
            state.verdict = result.verdict
            state.farm_status = result.farm_status
            state.workers_online = result.workers_online
            state.workers_total = len(result.workers)
            return summary_report(result, warn=bool(result.verdict))

        def fail(context: bpy.types.Context, error: BaseException) -> None:
            farm_state(context).connection = "FAILED"

        return Work("Testing the connection", call, apply, fail, foreground=False,
                    key="connection")


classes = (
    FARM_OT_refresh,
    FARM_OT_test_connection,
)
register, unregister = bpy.utils.register_classes_factory(classes)
