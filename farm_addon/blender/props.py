# SPDX-License-Identifier: GPL-3.0-or-later
"""The state the panels draw: the property groups ``Scene.farm`` and ``WindowManager.farm``.

``Scene.farm`` is what the user sets, saved with the file; ``WindowManager.farm`` is what
the farm reported, runtime only.

Panels draw only these. They are filled on the UI thread by the runner from results the
worker threads fetched; nothing here touches the network or the disk. Selecting a release
or a job starts a background fetch (its jobs, its preview) on a worker thread.
"""

from __future__ import annotations

from typing import Any

import bpy
from bpy.props import (
    BoolProperty,
    CollectionProperty,
    EnumProperty,
    FloatProperty,
    IntProperty,
    PointerProperty,
    StringProperty,
)

ANY_TAG = "ANY"


# --- WindowManager.farm: what the farm reported --------------------------------------------


class FarmReleaseItem(bpy.types.PropertyGroup):
    """One release of the volume (``name`` is the release's name)."""

    jobs: IntProperty(name="Jobs")  # type: ignore[valid-type]
    completed: IntProperty(name="Completed Jobs")  # type: ignore[valid-type]
    frames_done: IntProperty(name="Frames Done")  # type: ignore[valid-type]
    frames_total: IntProperty(name="Frames")  # type: ignore[valid-type]
    progress: FloatProperty(  # type: ignore[valid-type]
        name="Progress", subtype="FACTOR", min=0.0, max=1.0
    )
    error: StringProperty(name="Error")  # type: ignore[valid-type]
    output_dir: StringProperty(name="Output Folder", subtype="DIR_PATH")  # type: ignore[valid-type]
    delivery_dir: StringProperty(  # type: ignore[valid-type]
        name="Delivery Folder", subtype="DIR_PATH"
    )


class FarmJobItem(bpy.types.PropertyGroup):
    """One job of the selected release (``name`` is the job's name in the release)."""

    status: StringProperty(name="Status")  # type: ignore[valid-type]
    frames_done: IntProperty(name="Frames Done")  # type: ignore[valid-type]
    frames_total: IntProperty(name="Frames")  # type: ignore[valid-type]
    progress: FloatProperty(  # type: ignore[valid-type]
        name="Progress", subtype="FACTOR", min=0.0, max=1.0
    )
    revision: IntProperty(name="Revision")  # type: ignore[valid-type]
    stale: BoolProperty(  # type: ignore[valid-type]
        name="Stale", description="Its .blend or a dependency changed since it was packed"
    )
    stale_files: StringProperty(name="Changed Files")  # type: ignore[valid-type]
    job_id: StringProperty(name="Job ID")  # type: ignore[valid-type]


class FarmMatchItem(bpy.types.PropertyGroup):
    """A job a query matched, shown before it is killed (``name`` is its name)."""

    status: StringProperty(name="Status")  # type: ignore[valid-type]
    release: StringProperty(name="Release")  # type: ignore[valid-type]
    job_id: StringProperty(name="Job ID")  # type: ignore[valid-type]


class FarmTagItem(bpy.types.PropertyGroup):
    """A worker tag of the Manager (``name`` is its name)."""

    tag_id: StringProperty(name="Tag ID")  # type: ignore[valid-type]
    description: StringProperty(name="Description")  # type: ignore[valid-type]


CONNECTION_ITEMS = [
    ("UNKNOWN", "Not Checked", "Farm has not asked the Manager yet", "QUESTION", 0),
    ("CONNECTED", "Connected", "The Manager answered", "CHECKMARK", 1),
    ("WARNING", "Connected", "The Manager answered, with a warning", "ERROR", 2),
    ("FAILED", "Not Connected", "The Manager could not be reached or used", "CANCEL", 3),
]


class FarmWMProps(bpy.types.PropertyGroup):
    """What the farm reported. Runtime state: filled by the runner, drawn by the panels."""

    # The Manager
    connection: EnumProperty(  # type: ignore[valid-type]
        name="Connection", items=CONNECTION_ITEMS, default="UNKNOWN"
    )
    manager_url: StringProperty(name="Manager URL")  # type: ignore[valid-type]
    manager_version: StringProperty(name="Manager Version")  # type: ignore[valid-type]
    verdict: StringProperty(name="Compatibility")  # type: ignore[valid-type]
    farm_status: StringProperty(name="Farm Status")  # type: ignore[valid-type]
    workers_online: IntProperty(name="Workers Online")  # type: ignore[valid-type]
    workers_total: IntProperty(name="Workers")  # type: ignore[valid-type]
    volume: StringProperty(name="Volume", subtype="DIR_PATH")  # type: ignore[valid-type]
    worker_tags: CollectionProperty(type=FarmTagItem)  # type: ignore[valid-type]

    # The running job
    busy: BoolProperty(name="Busy")  # type: ignore[valid-type]
    progress: FloatProperty(  # type: ignore[valid-type]
        name="Progress", subtype="FACTOR", min=0.0, max=1.0
    )
    status_line: StringProperty(name="Status")  # type: ignore[valid-type]
    last_error: StringProperty(name="Last Error")  # type: ignore[valid-type]

    # Releases and the selected release's jobs
    releases: CollectionProperty(type=FarmReleaseItem)  # type: ignore[valid-type]
    jobs: CollectionProperty(type=FarmJobItem)  # type: ignore[valid-type]
    jobs_release: StringProperty(name="Release of the Jobs")  # type: ignore[valid-type]
    jobs_loading: BoolProperty(name="Loading Jobs")  # type: ignore[valid-type]

    # Kill and Slash and Burn confirmations
    matches: CollectionProperty(type=FarmMatchItem)  # type: ignore[valid-type]
    matches_query: StringProperty(name="Query")  # type: ignore[valid-type]
    reset_summary: StringProperty(name="What Will Be Lost")  # type: ignore[valid-type]
    reset_jobs: IntProperty(name="Jobs to Delete")  # type: ignore[valid-type]

    # Preview
    preview_image: StringProperty(name="Preview Image")  # type: ignore[valid-type]
    preview_job: StringProperty(name="Preview Job")  # type: ignore[valid-type]
    preview_message: StringProperty(name="Preview Message")  # type: ignore[valid-type]


# --- Scene.farm: what the user sets ----------------------------------------------------------

# Blender keeps no reference to the strings of dynamic enum items: keep them alive here.
_tag_items: list[tuple[str, str, str]] = []


def worker_tag_items(self: Any, context: bpy.types.Context | None) -> list[tuple[str, str, str]]:
    """The worker tags the last refresh fetched (memory only, never the network)."""
    items = [(ANY_TAG, "Any Worker", "Any worker can render this job")]
    wm = getattr(context, "window_manager", None) if context is not None else None
    state = getattr(wm, "farm", None)
    if state is not None:
        items += [(t.name, t.name, t.description or f"Only workers tagged {t.name}")
                  for t in state.worker_tags]
    _tag_items[:] = items
    return _tag_items


def _release_selected(self: Any, context: bpy.types.Context) -> None:
    from .farm import fetch

    fetch.load_selected_release(context)


def _job_selected(self: Any, context: bpy.types.Context) -> None:
    from .preview import fetch

    fetch.load_preview(context)


class FarmSceneProps(bpy.types.PropertyGroup):
    """What the user set for this file: the seed job and the selections in the lists."""

    seed_job_name: StringProperty(  # type: ignore[valid-type]
        name="Job Name", description="Name of the job (empty: the file's name)"
    )
    seed_frames: StringProperty(  # type: ignore[valid-type]
        name="Frames",
        description="Frames to render, like 1-250 or 1-100x2,120 (empty: the scene's range)",
    )
    seed_override_chunk_size: BoolProperty(  # type: ignore[valid-type]
        name="Override Chunk Size", description="Use this chunk size, not the preferences'"
    )
    seed_chunk_size: IntProperty(  # type: ignore[valid-type]
        name="Chunk Size", description="Frames a worker renders per task", default=1,
        min=1, soft_max=100,
    )
    seed_override_priority: BoolProperty(  # type: ignore[valid-type]
        name="Override Priority", description="Use this priority, not the preferences'"
    )
    seed_priority: IntProperty(  # type: ignore[valid-type]
        name="Priority", description="Higher renders first", default=50, min=0, max=100
    )
    seed_worker_tag: EnumProperty(  # type: ignore[valid-type]
        name="Worker Tag",
        description="Only workers with this tag render the job (Refresh to update the list)",
        items=worker_tag_items,
    )
    release_index: IntProperty(  # type: ignore[valid-type]
        name="Release", description="The selected release", update=_release_selected
    )
    job_index: IntProperty(  # type: ignore[valid-type]
        name="Job", description="The selected job", update=_job_selected
    )


classes = (
    FarmReleaseItem,
    FarmJobItem,
    FarmMatchItem,
    FarmTagItem,
    FarmWMProps,
    FarmSceneProps,
)
_register_classes, _unregister_classes = bpy.utils.register_classes_factory(classes)


def register() -> None:
    _register_classes()
    bpy.types.Scene.farm = PointerProperty(type=FarmSceneProps)
    bpy.types.WindowManager.farm = PointerProperty(type=FarmWMProps)


def _forget_runtime_state() -> None:
    """Drop ``WindowManager.farm``'s data: it described this session's farm only."""
    try:
        managers = list(bpy.data.window_managers)
    except AttributeError:  # restricted data while Blender starts or quits
        return
    for wm in managers:
        if wm.get("farm") is not None:
            del wm["farm"]


def unregister() -> None:
    _forget_runtime_state()
    del bpy.types.WindowManager.farm
    del bpy.types.Scene.farm
    _unregister_classes()
    _tag_items.clear()
