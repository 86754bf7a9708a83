# SPDX-License-Identifier: GPL-3.0-or-later
"""The add-on's preferences: which Manager, which volume, who submits.

``settings_from_prefs(context)`` turns them into the core's :class:`Settings`, the same model
the CLI fills from its options and the environment. Drawing the preferences reads memory
only; "Test Connection" runs on a worker thread like every other network operator.
"""

from __future__ import annotations

from typing import Any

import bpy
from bpy.props import IntProperty, StringProperty
from pydantic import ValidationError

from ..core.errors import BadInput
from ..core.settings import DEFAULT_MANAGER_URL, Settings

#: The add-on's module name: ``bl_ext.<repo>.farm`` when installed as an extension.
ADDON_ID = __package__.rpartition(".")[0]


class FarmPreferences(bpy.types.AddonPreferences):
    bl_idname = ADDON_ID

    manager_url: StringProperty(  # type: ignore[valid-type]
        name="Manager URL",
        description="Address of the Flamenco Manager, like http://manager:8080",
        default=DEFAULT_MANAGER_URL,
    )
    volume: StringProperty(  # type: ignore[valid-type]
        name="Volume",
        description=(
            "The farm volume as this computer mounts it (the folder holding farm.volume). "
            "Leave empty to use the Manager's shared storage"
        ),
        subtype="DIR_PATH",
    )
    project: StringProperty(  # type: ignore[valid-type]
        name="Project", description="Project name, recorded on every job"
    )
    user_name: StringProperty(  # type: ignore[valid-type]
        name="Name", description="Your name, recorded on every job (empty: your login name)"
    )
    user_email: StringProperty(  # type: ignore[valid-type]
        name="E-mail", description="Your e-mail address, recorded on every job"
    )
    priority: IntProperty(  # type: ignore[valid-type]
        name="Priority",
        description="Default priority of new jobs (higher renders first)",
        default=50,
        min=0,
        max=100,
    )
    chunk_size: IntProperty(  # type: ignore[valid-type]
        name="Chunk Size",
        description="Default number of frames a worker renders per task",
        default=1,
        min=1,
        soft_max=100,
    )

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        layout.use_property_split = True
        layout.use_property_decorate = False

        col = layout.column(heading="Flamenco")
        col.prop(self, "manager_url")
        col.prop(self, "volume")

        state = getattr(context.window_manager, "farm", None)
        if state is not None:
            sub = col.row()
            sub.alignment = "RIGHT"
            if state.busy and state.status_line:
                sub.label(text=state.status_line, icon="SORTTIME")
            elif state.connection == "CONNECTED":
                sub.label(text=f"Flamenco Manager {state.manager_version}, farm "
                               f"{state.farm_status}", icon="CHECKMARK")
            elif state.connection == "FAILED" and state.last_error:
                sub.label(text=state.last_error.splitlines()[0], icon="ERROR")
        if not bpy.app.online_access:
            sub = col.row()
            sub.alignment = "RIGHT"
            sub.label(text="Enable Allow Online Access in Preferences > System", icon="INFO")
        col.operator("farm.test_connection", icon="PLUGIN")

        col = layout.column(heading="Submitter")
        col.prop(self, "project")
        col.prop(self, "user_name")
        col.prop(self, "user_email")

        col = layout.column(heading="New Jobs")
        col.prop(self, "priority")
        col.prop(self, "chunk_size")


def preferences(context: bpy.types.Context | None = None) -> Any:
    """The add-on's preferences, or None when it is not enabled as an add-on."""
    context = context or bpy.context
    addon = context.preferences.addons.get(ADDON_ID)
    return addon.preferences if addon is not None else None


def settings_from_prefs(context: bpy.types.Context | None = None) -> Settings:
    """The core's :class:`Settings` from the preferences.

    A preference left empty falls back to the environment (``FARM_VOLUME`` ...), as the CLI
    does; without the add-on enabled, everything comes from the environment. Raises
    :class:`BadInput` with a message pointing at the preference to fix.
    """
    prefs = preferences(context)
    if prefs is None:
        values: dict[str, object] = {}
    else:
        volume = prefs.volume.strip()
        values = {
            "manager_url": prefs.manager_url.strip() or None,
            "volume": bpy.path.abspath(volume) if volume else None,
            "project": prefs.project.strip() or None,
            "user_name": prefs.user_name.strip() or None,
            "user_email": prefs.user_email.strip() or None,
            "priority": prefs.priority,
            "chunk_size": prefs.chunk_size,
        }
    try:
        return Settings.from_env(**values)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise BadInput(
            f"Farm preference {where!r} is not valid ({first['msg']}). "
            "Fix it in Preferences > Add-ons > Farm."
        ) from exc


classes = (FarmPreferences,)
register, unregister = bpy.utils.register_classes_factory(classes)
