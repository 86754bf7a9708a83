# SPDX-License-Identifier: GPL-3.0-or-later
"""The Refresh Preview operator: fetch the farm's last rendered image of the selected job."""

from __future__ import annotations

import bpy
from bpy.types import Operator

from ..work import FarmOperator, Work
from .fetch import preview_work


class FARM_OT_refresh_preview(FarmOperator, Operator):
    """Fetch the farm's last rendered image of the selected job (of any job if none is
    selected)"""

    bl_idname = "farm.refresh_preview"
    bl_label = "Farm: Refresh Preview"
    bl_options = {"REGISTER"}
    exclusive = False

    def work(self, context: bpy.types.Context) -> Work:
        return preview_work(context)


classes = (
    FARM_OT_refresh_preview,
)
register, unregister = bpy.utils.register_classes_factory(classes)
