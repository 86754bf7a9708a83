# SPDX-License-Identifier: GPL-3.0-or-later
"""The Farm sidebar: 3D Viewport > Sidebar > Farm.

Panels draw ``Scene.farm`` and ``WindowManager.farm`` and nothing else: no network, no disk,
no bpy.ops. The job list is a UIList, so drawing costs the same for 10 jobs or 10,000 (only
the visible rows are drawn).
"""

from __future__ import annotations

from typing import Any

import bpy
from bpy.types import Panel, UIList

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
CONNECTION_ICONS = {"UNKNOWN": "QUESTION", "CONNECTED": "CHECKMARK", "WARNING": "ERROR",
                    "FAILED": "CANCEL"}


_HAS_PLACEHOLDER = "placeholder" in bpy.types.UILayout.bl_rna.functions["prop"].parameters


def prop_hinted(layout: Any, data: Any, prop: str, hint: str) -> None:
    """A text field showing ``hint`` while empty (placeholders need Blender 4.1+)."""
    if _HAS_PLACEHOLDER:
        layout.prop(data, prop, placeholder=hint)
    else:
        layout.prop(data, prop)


def progress_bar(layout: Any, factor: float, text: str) -> None:
    """A progress bar (``UILayout.progress``, Blender 4.0+)."""
    layout.progress(factor=factor, type="BAR", text=text)


def _state(context: bpy.types.Context) -> Any:
    return context.window_manager.farm


class FarmPanel:
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "Farm"


class FARM_PT_manager(FarmPanel, Panel):
    """The Manager: connection, farm status, workers, and the running operation."""

    bl_label = "Manager"

    def draw_header_preset(self, context: bpy.types.Context) -> None:
        self.layout.operator("farm.refresh", text="", icon="FILE_REFRESH", emboss=False)

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        state = _state(context)
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
        state = _state(context)
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
        state = _state(context)
        if state.jobs_release:
            self.layout.label(text=f"of {state.jobs_release}")

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        state = _state(context)
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


class FARM_PT_preview(FarmPanel, Panel):
    """The farm's last rendered image of the selected job."""

    bl_label = "Preview"
    bl_options = {"DEFAULT_CLOSED"}

    def draw_header_preset(self, context: bpy.types.Context) -> None:
        self.layout.operator("farm.refresh_preview", text="", icon="FILE_REFRESH", emboss=False)

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        state = _state(context)
        image = bpy.data.images.get(state.preview_image) if state.preview_image else None
        if image is not None:
            layout.template_icon(icon_value=layout.icon(image), scale=10.0)
        if state.preview_message:
            layout.label(text=state.preview_message)
        layout.operator("farm.refresh_preview", icon="IMAGE_DATA")


classes = (
    FARM_UL_releases,
    FARM_UL_jobs,
    FARM_PT_manager,
    FARM_PT_seed,
    FARM_PT_releases,
    FARM_PT_release_jobs,
    FARM_PT_preview,
)
register, unregister = bpy.utils.register_classes_factory(classes)
