# SPDX-License-Identifier: GPL-3.0-or-later
"""The Seed panel of the Farm sidebar: the seed job's settings and its button.

Panels draw ``Scene.farm`` and ``WindowManager.farm`` and nothing else: no network, no
disk, no bpy.ops.
"""

from __future__ import annotations

from typing import Any

import bpy
from bpy.types import Panel

from ..common import FarmPanel

_HAS_PLACEHOLDER = "placeholder" in bpy.types.UILayout.bl_rna.functions["prop"].parameters


def prop_hinted(layout: Any, data: Any, prop: str, hint: str) -> None:
    """A text field showing ``hint`` while empty (placeholders need Blender 4.1+)."""
    if _HAS_PLACEHOLDER:
        layout.prop(data, prop, placeholder=hint)
    else:
        layout.prop(data, prop)


class FARM_PT_seed(FarmPanel, Panel):
    """Seed: send the current file as one ad-hoc job."""

    bl_label = "Seed"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        layout.use_property_split = True
        layout.use_property_decorate = False
        scene = context.scene
        props = scene.farm
        filepath = bpy.data.filepath
        col = layout.column()
        stem = bpy.path.display_name_from_filepath(filepath) if filepath else "the file's name"
        prop_hinted(col, props, "seed_job_name", stem)
        prop_hinted(col, props, "seed_frames", f"{scene.frame_start}-{scene.frame_end}")
        row = col.row(heading="Chunk Size")
        row.prop(props, "seed_override_chunk_size", text="")
        sub = row.row()
        sub.active = props.seed_override_chunk_size
        sub.prop(props, "seed_chunk_size", text="")
        row = col.row(heading="Priority")
        row.prop(props, "seed_override_priority", text="")
        sub = row.row()
        sub.active = props.seed_override_priority
        sub.prop(props, "seed_priority", text="")
        col.prop(props, "seed_worker_tag")
        if not filepath:
            layout.label(text="Save the file first", icon="ERROR")
        elif bpy.data.is_dirty:
            layout.label(text="Unsaved changes are saved before seeding", icon="INFO")
        layout.operator("farm.seed_job", icon="EXPORT")


classes = (
    FARM_PT_seed,
)
register, unregister = bpy.utils.register_classes_factory(classes)
