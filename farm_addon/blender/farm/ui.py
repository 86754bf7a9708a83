# SPDX-License-Identifier: GPL-3.0-or-later
"""The Manager panel of the Farm sidebar (3D Viewport > Sidebar > Farm).

Panels draw ``Scene.farm`` and ``WindowManager.farm`` and nothing else: no network, no
disk, no bpy.ops.
"""

from __future__ import annotations

import bpy
from bpy.types import Panel

from ..common import FarmPanel, farm_state, progress_bar

CONNECTION_ICONS = {"UNKNOWN": "QUESTION", "CONNECTED": "CHECKMARK", "WARNING": "ERROR",
                    "FAILED": "CANCEL"}


class FARM_PT_manager(FarmPanel, Panel):
    """The Manager: connection, farm status, workers, and the running operation."""

    bl_label = "Manager"

    def draw_header_preset(self, context: bpy.types.Context) -> None:
        self.layout.operator("farm.refresh", text="", icon="FILE_REFRESH", emboss=False)

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        state = farm_state(context)
        if not bpy.app.online_access:
            box = layout.box()
            box.label(text="Online access is off", icon="INTERNET_OFFLINE")
            box.operator("screen.userpref_show", text="Open Preferences").section = "SYSTEM"
        col = layout.column(align=True)
        if state.connection in ("CONNECTED", "WARNING"):
            col.label(text=f"Flamenco {state.manager_version}",
                      icon=CONNECTION_ICONS[state.connection])
            col.label(text=f"Farm {state.farm_status}", icon="WORLD")
            col.label(text=f"{state.workers_online} of {state.workers_total} workers online",
                      icon="COMMUNITY")
            if state.verdict:
                col.label(text=state.verdict, icon="ERROR")
        elif state.connection == "FAILED":
            col.label(text="Not connected", icon="CANCEL")
        else:
            col.label(text="Not checked yet: press Refresh", icon="QUESTION")
        layout.operator("farm.refresh", icon="FILE_REFRESH")
        if state.busy:
            row = layout.row(align=True)
            progress_bar(row, state.progress, state.status_line)
            row.operator("farm.cancel", text="", icon="X")
        elif state.last_error:
            box = layout.box()
            col = box.column(align=True)
            for n, line in enumerate(state.last_error.splitlines()[:4]):
                col.label(text=line, icon="ERROR" if n == 0 else "BLANK1")
        elif state.status_line:
            layout.label(text=state.status_line)


classes = (
    FARM_PT_manager,
)
register, unregister = bpy.utils.register_classes_factory(classes)
