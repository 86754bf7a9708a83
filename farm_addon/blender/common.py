# SPDX-License-Identifier: GPL-3.0-or-later
"""What the features share: the facade, settings, state, selections, dialogs, the panel tab.

The core facade, the settings, ``WindowManager.farm``, the sidebar's selections, dialogs, the
saved .blend, and the sidebar tab every panel sits in.

Everything here reads memory only (``saved_blend`` saves the file, for operators alone):
panels and ``poll()`` may call the readers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import bpy

from ..core.errors import BadInput, FarmError
from ..core.settings import Settings
from .prefs import settings_from_prefs


def core_api() -> Any:
    """The core facade (imported on first use, not at registration)."""
    from . import coreapi

    return coreapi


def farm_state(context: bpy.types.Context) -> Any:
    return context.window_manager.farm


def farm_settings(context: bpy.types.Context) -> Settings:
    return settings_from_prefs(context)


# --- Selections ----------------------------------------------------------------------------


def selected_release(context: bpy.types.Context) -> str:
    """The name of the release selected in the sidebar, or ""."""
    releases = farm_state(context).releases
    index = context.scene.farm.release_index
    return releases[index].name if 0 <= index < len(releases) else ""


def selected_job(context: bpy.types.Context) -> Any:
    """The job item selected in the sidebar (of the loaded release), or None."""
    state = farm_state(context)
    index = context.scene.farm.job_index
    return state.jobs[index] if 0 <= index < len(state.jobs) else None


def require_release(name: str) -> str:
    name = name.strip()
    if not name:
        raise BadInput("Select a release in the Farm sidebar first (Refresh if the list is empty).")
    return name


# --- Operators' input ------------------------------------------------------------------------

_DIALOG_KEYWORDS = {
    p.identifier
    for p in bpy.types.WindowManager.bl_rna.functions["invoke_props_dialog"].parameters
}


def dialog(context: bpy.types.Context, operator: Any, width: int = 400, title: str = "",
           confirm_text: str = "") -> set[str]:
    """``invoke_props_dialog`` with a title and an OK button text where Blender has them."""
    extra = {k: v for k, v in (("title", title), ("confirm_text", confirm_text))
             if v and k in _DIALOG_KEYWORDS}
    return context.window_manager.invoke_props_dialog(  # type: ignore[no-any-return]
        operator, width=width, **extra
    )


def saved_blend(context: bpy.types.Context, doing: str) -> tuple[Path, str]:
    """The current file on disk, saved first if it has unsaved changes: ``(path, note)``.

    Seeding or planning the current file needs it on disk, because the farm renders the saved
    .blend. A file that was never saved is refused ("Save the file first: ..."); a saved file
    with unsaved changes is saved first (as Flamenco's own add-on does), so the farm renders
    what the artist sees, and the note says so.
    """
    if not bpy.data.filepath:
        raise BadInput(
            f"Save the file first: {doing} sends the saved .blend to the farm, and this file "
            "has never been saved (File > Save As)."
        )
    path = Path(bpy.data.filepath)
    note = ""
    if bpy.data.is_dirty:
        result = bpy.ops.wm.save_mainfile()
        if result != {"FINISHED"}:
            raise FarmError(f"Could not save {path.name} before {doing}; save it, then try again.")
        note = f"Saved {path.name} first. "
    return path, note


# --- Panels ----------------------------------------------------------------------------------


class FarmPanel:
    """The Farm tab of the 3D Viewport's sidebar: every Farm panel sits there."""

    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "Farm"


def progress_bar(layout: Any, factor: float, text: str) -> None:
    """A progress bar (``UILayout.progress``, Blender 4.0+)."""
    layout.progress(factor=factor, type="BAR", text=text)
