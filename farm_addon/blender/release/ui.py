# SPDX-License-Identifier: GPL-3.0-or-later
"""The Releases panel of the Farm sidebar and its Jobs subpanel, with their lists.

Panels draw ``Scene.farm`` and ``WindowManager.farm`` and nothing else: no network, no
disk, no bpy.ops. The job list is a UIList, so drawing costs the same for 10 jobs or
10,000 (only the visible rows are drawn).
"""

from __future__ import annotations

from typing import Any

import bpy
from bpy.types import Panel, UIList

from ..common import FarmPanel, farm_state, progress_bar

STATUS_ICONS = {
    "active": "PLAY",
    "queued": "SORTTIME",
    "completed": "CHECKMARK",
    "failed": "ERROR",
    "canceled": "CANCEL",
    "cancel-requested": "CANCEL",
    "paused": "PAUSE",
    "pause-requested": "PAUSE",
    "requeueing": "FILE_REFRESH",
    "under-construction": "MODIFIER",
    "planned": "TIME",
    "missing": "GHOST_DISABLED",
}


class FARM_UL_releases(UIList):
    """The volume's releases with their progress."""

    bl_idname = "FARM_UL_releases"

    def draw_item(self, context: Any, layout: Any, data: Any, item: Any, icon: Any,
                  active_data: Any, active_property: Any, index: int = 0,
                  flt_flag: int = 0) -> None:
        row = layout.row(align=True)
        if item.error:
            row.label(text=item.name, icon="ERROR")
            return
        row.label(text=item.name, icon="RENDERLAYERS")
        progress_bar(row, item.progress, f"{item.completed}/{item.jobs} jobs")


class FARM_UL_jobs(UIList):
    """The selected release's jobs: status, progress, revision and a stale marker."""

    bl_idname = "FARM_UL_jobs"

    def draw_item(self, context: Any, layout: Any, data: Any, item: Any, icon: Any,
                  active_data: Any, active_property: Any, index: int = 0,
                  flt_flag: int = 0) -> None:
        row = layout.row(align=True)
        row.label(text=item.name, icon=STATUS_ICONS.get(item.status, "DOT"))
        progress_bar(row, item.progress, f"{item.frames_done}/{item.frames_total}")
        sub = row.row(align=True)
        sub.alignment = "RIGHT"
        sub.label(text=f"r{item.revision}")
        sub.label(text="", icon="ERROR" if item.stale else "BLANK1")


class FARM_PT_releases(FarmPanel, Panel):
    """Releases: the volume's releases and what can be done to them."""

    bl_label = "Releases"

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        state = farm_state(context)
        props = context.scene.farm
        row = layout.row()
        row.template_list("FARM_UL_releases", "", state, "releases", props, "release_index",
                          rows=4)
        col = row.column(align=True)
        col.operator("farm.plan_release", text="", icon="ADD")
        col.operator("farm.refresh", text="", icon="FILE_REFRESH")
        index = props.release_index
        item = state.releases[index] if 0 <= index < len(state.releases) else None
        if item is None:
            return
        if item.error:
            layout.label(text=item.error, icon="ERROR")
        else:
            progress_bar(layout, item.progress,
                         f"{item.frames_done} of {item.frames_total} frames")
        grid = layout.grid_flow(row_major=True, columns=2, even_columns=True, align=True)
        grid.operator("farm.harvest_release", text="Harvest", icon="IMPORT").release = item.name
        grid.operator("farm.archive_release", text="Archive", icon="PACKAGE").release = item.name
        kill = grid.operator("farm.kill_jobs", text="Kill", icon="CANCEL")
        kill.release = item.name
        kill.query = "*"
        grid.operator("farm.replace_job", text="Replace Job", icon="FILE_REFRESH")
        row = layout.row(align=True)
        op = row.operator("farm.open_folder", text="Output", icon="FILE_FOLDER")
        op.kind, op.release = "OUTPUT", item.name
        op = row.operator("farm.open_folder", text="Delivery", icon="FOLDER_REDIRECT")
        op.kind, op.release = "DELIVERY", item.name


class FARM_PT_release_jobs(FarmPanel, Panel):
    """The selected release's jobs."""

    bl_label = "Jobs"
    bl_parent_id = "FARM_PT_releases"

    def draw_header(self, context: bpy.types.Context) -> None:
        state = farm_state(context)
        if state.jobs_release:
            self.layout.label(text=f"of {state.jobs_release}")

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        state = farm_state(context)
        if state.jobs_loading:
            layout.label(text="Loading...", icon="SORTTIME")
        layout.template_list("FARM_UL_jobs", "", state, "jobs", context.scene.farm,
                             "job_index", rows=6)
        index = context.scene.farm.job_index
        job = state.jobs[index] if 0 <= index < len(state.jobs) else None
        if job is None:
            return
        col = layout.column(align=True)
        col.label(text=f"{job.name}: {job.status}, revision {job.revision}")
        if job.stale:
            col.label(text=f"Stale: {job.stale_files}", icon="ERROR")
        if job.job_id:
            col.label(text=f"Job {job.job_id}", icon="LINENUMBERS_ON")


classes = (
    FARM_UL_releases,
    FARM_UL_jobs,
    FARM_PT_releases,
    FARM_PT_release_jobs,
)
register, unregister = bpy.utils.register_classes_factory(classes)
