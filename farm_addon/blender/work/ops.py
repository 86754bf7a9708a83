# SPDX-License-Identifier: GPL-3.0-or-later
"""The Cancel operator: stops the running foreground job, as Esc does."""

from __future__ import annotations

import bpy
from bpy.types import Operator

from .state import foreground_job


class FARM_OT_cancel(Operator):
    """Cancel the running Farm operation (same as pressing Esc while it runs)"""

    bl_idname = "farm.cancel"
    bl_label = "Farm: Cancel"
    bl_options = {"REGISTER"}

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        if foreground_job() is None:
            cls.poll_message_set("No Farm operation is running")
            return False
        return True

    def execute(self, context: bpy.types.Context) -> set[str]:
        job = foreground_job()
        if job is None:
            return {"CANCELLED"}
        job.cancel()
        self.report({"INFO"}, f"Cancelling: {job.work.title}")
        return {"FINISHED"}


classes = (FARM_OT_cancel,)
register, unregister = bpy.utils.register_classes_factory(classes)
