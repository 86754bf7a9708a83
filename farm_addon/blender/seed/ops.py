# SPDX-License-Identifier: GPL-3.0-or-later
"""The Seed Job operator: the current file (saved first if it has changes) as one ad-hoc job."""

from __future__ import annotations

from typing import Any

import bpy
from bpy.types import Operator

from ..common import core_api, farm_settings, saved_blend
from ..farm.ops import FarmChanging
from ..props import ANY_TAG
from ..work import Work, summary_report


class FARM_OT_seed_job(FarmChanging, Operator):
    """Send the current file to the farm as one ad-hoc job (saved first if it has changes)"""

    bl_idname = "farm.seed_job"
    bl_label = "Farm: Seed Job"
    bl_options = {"REGISTER"}

    def work(self, context: bpy.types.Context) -> Work:
        props = context.scene.farm
        settings = farm_settings(context)
        blend, note = saved_blend(context, "seeding")
        job_name = props.seed_job_name.strip() or core_api().safe_job_name(blend.stem)
        frames = props.seed_frames.strip() or None
        chunk = props.seed_chunk_size if props.seed_override_chunk_size else None
        priority = props.seed_priority if props.seed_override_priority else None
        tag = props.seed_worker_tag
        tag = None if tag in ("", ANY_TAG) else tag
        scene = context.scene.name

        def call(progress: Any) -> Any:
            return core_api().seed_job(settings, blend, job_name, frames=frames,
                                       chunk_size=chunk, priority=priority, worker_tag=tag,
                                       scene=scene, progress=progress)

        def apply(context: bpy.types.Context, result: Any) -> Any:
            return summary_report(result, f"{note}Seeded {result.job} as job {result.job_id[:8]}",
                                  [f"warning: {w}" for w in result.warnings],
                                  warn=bool(result.warnings))

        return Work(f"Seeding {job_name}", call, apply)


classes = (
    FARM_OT_seed_job,
)
register, unregister = bpy.utils.register_classes_factory(classes)
