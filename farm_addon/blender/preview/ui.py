# SPDX-License-Identifier: GPL-3.0-or-later
"""The Preview panel of the Farm sidebar: the farm's last rendered image of the selected job.

Panels draw ``Scene.farm`` and ``WindowManager.farm`` and nothing else: no network, no
disk, no bpy.ops.
"""

from __future__ import annotations

import bpy
from bpy.types import Panel

from ..common import FarmPanel, farm_state


class FARM_PT_preview(FarmPanel, Panel):
    """The farm's last rendered image of the selected job."""

    bl_label = "Preview"
    bl_options = {"DEFAULT_CLOSED"}

    def draw_header_preset(self, context: bpy.types.Context) -> None:
        self.layout.operator("farm.refresh_preview", text="", icon="FILE_REFRESH", emboss=False)

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        state = farm_state(context)
        image = bpy.data.images.get(state.preview_image) if state.preview_image else None
        if image is not None:
            layout.template_icon(icon_value=layout.icon(image), scale=10.0)
        if state.preview_message:
            layout.label(text=state.preview_message)
        layout.operator("farm.refresh_preview", icon="IMAGE_DATA")


classes = (
    FARM_PT_preview,
)
register, unregister = bpy.utils.register_classes_factory(classes)
