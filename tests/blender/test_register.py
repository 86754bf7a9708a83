"""Registration in real Blender: what farm adds, that it all goes away again, and that
registering, drawing and polling never touch the network."""

from __future__ import annotations

import sys
from types import SimpleNamespace
from typing import Any

import pytest

from tests.blender.conftest import Farm
from tests.emulator import Emulator

pytestmark = pytest.mark.blender

OPERATORS = {
    "refresh", "test_connection", "seed_job", "plan_release", "replace_job", "harvest_release",
    "archive_release", "kill_jobs", "slash_and_burn", "refresh_preview", "open_folder", "cancel",
}


def blender_snapshot(bpy: Any) -> dict[str, Any]:
    return {
        "types": set(dir(bpy.types)),
        "ops": set(dir(bpy.ops.farm)),
        "scene": hasattr(bpy.types.Scene, "farm"),
        "wm": hasattr(bpy.types.WindowManager, "farm"),
        "addons": set(bpy.context.preferences.addons.keys()),
        "wm_data": bpy.context.window_manager.get("farm") is not None,
    }


def test_enable_disable_leaves_nothing_behind(blender: Any, farm_repo: str) -> None:
    before = blender_snapshot(blender)
    assert not before["ops"] and not before["scene"] and not before["wm"]
    for _ in range(2):  # registering again after unregistering works too
        assert blender.ops.preferences.addon_enable(module=farm_repo) == {"FINISHED"}
        during = blender_snapshot(blender)
        assert during["ops"] == OPERATORS
        assert during["scene"] and during["wm"]
        blender.context.window_manager.farm.releases.add().name = "spring"
        added = during["types"] - before["types"]
        assert {"FARM_PT_manager", "FARM_PT_seed", "FARM_PT_releases", "FARM_PT_release_jobs",
                "FARM_PT_preview", "FARM_UL_releases", "FARM_UL_jobs"} <= added
        assert all(name.startswith(("FARM_", "Farm")) for name in added), added
        runner = sys.modules[f"{farm_repo}.blender.work"]
        assert blender.ops.preferences.addon_disable(module=farm_repo) == {"FINISHED"}
        assert not runner.ticker_registered()
        assert blender_snapshot(blender) == before


def test_every_operator_has_a_farm_label_and_a_tooltip(farm: Farm) -> None:
    for name in OPERATORS:
        rna = getattr(farm.bpy.ops.farm, name).get_rna_type()
        assert rna.name.startswith("Farm: "), (name, rna.name)
        assert len(rna.description) > 20 and not rna.description.endswith("."), (name,)
    labels = {getattr(farm.bpy.ops.farm, n).get_rna_type().name for n in OPERATORS}
    assert "Farm: Harvest Release" in labels


def test_preferences_id_is_the_add_on_package(farm: Farm) -> None:
    assert farm.prefs_module.FarmPreferences.bl_idname == farm.module
    assert farm.prefs is not None


def test_settings_from_preferences(farm: Farm, monkeypatch: pytest.MonkeyPatch,
                                   tmp_path: Any) -> None:
    for key in ("FARM_MANAGER_URL", "FARM_VOLUME", "FARM_PROJECT", "FARM_USER_NAME"):
        monkeypatch.delenv(key, raising=False)
    prefs = farm.prefs
    prefs.manager_url = " farm.example:8080 "
    prefs.volume = str(tmp_path)
    prefs.project = "catalogue"
    prefs.user_name = ""
    prefs.priority = 70
    prefs.chunk_size = 4
    settings = farm.prefs_module.settings_from_prefs(farm.bpy.context)
    assert settings.manager_url == "farm.example:8080"
    assert str(settings.volume) == str(tmp_path)
    assert (settings.project, settings.priority, settings.chunk_size) == ("catalogue", 70, 4)
    assert settings.user_name  # empty falls back to the login name
    monkeypatch.setenv("FARM_PROJECT", "from-env")
    prefs.project = ""
    assert farm.prefs_module.settings_from_prefs(farm.bpy.context).project == "from-env"


def test_poll_explains_missing_online_access(farm: Farm) -> None:
    bpy = farm.bpy
    bpy.context.preferences.system.use_online_access = False
    try:
        assert not bpy.app.online_access
        for name in ("refresh", "seed_job", "kill_jobs", "harvest_release", "test_connection"):
            assert not getattr(bpy.ops.farm, name).poll()
        with pytest.raises(RuntimeError, match="Allow Online Access"):
            bpy.ops.farm.refresh()
        assert farm.state.connection == "UNKNOWN"
    finally:
        bpy.context.preferences.system.use_online_access = True


class Recorder:
    """A stand-in for UILayout that accepts every call (draw code runs without a GPU)."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        def call(*args: Any, **kwargs: Any) -> Recorder:
            self.calls.append(name)
            return self

        return call

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "calls":
            object.__setattr__(self, name, value)


def draw_everything(farm: Farm) -> Recorder:
    """Draw every panel, list row and the preferences with a recording layout."""
    import bpy

    panels = farm.bpy.types
    layout = Recorder()
    for name in ("FARM_PT_manager", "FARM_PT_seed", "FARM_PT_releases", "FARM_PT_release_jobs",
                 "FARM_PT_preview"):
        cls = getattr(panels, name)
        cls.draw(SimpleNamespace(layout=layout), bpy.context)
        for extra in ("draw_header", "draw_header_preset"):
            if hasattr(cls, extra):
                getattr(cls, extra)(SimpleNamespace(layout=layout), bpy.context)
    state = farm.state
    for ul, items in (("FARM_UL_releases", state.releases), ("FARM_UL_jobs", state.jobs)):
        for item in items:
            getattr(panels, ul).draw_item(None, bpy.context, layout, state, item, 0, None, "")
    farm.prefs_module.FarmPreferences.draw(SimpleNamespace(layout=layout), bpy.context)
    ops = farm.operators
    farmwide = sys.modules[f"{farm.module}.blender.farmwide.ops"]
    dialogs = [(ops.FARM_OT_plan_release, {"source": s, "release": "x"})
               for s in ("CURRENT_FILE", "FOLDER", "PATTERN", "PLAN_FILE")]
    dialogs += [(farmwide.FARM_OT_kill_jobs, {"confirmed": c, "query": "*"})
                for c in (False, True)]
    dialogs += [(farmwide.FARM_OT_slash_and_burn, {"confirmed": c}) for c in (False, True)]
    dialogs += [(ops.FARM_OT_harvest_release, {}), (ops.FARM_OT_replace_job, {}),
                (ops.FARM_OT_archive_release, {"prune": True})]
    for cls, props in dialogs:
        cls.draw(SimpleNamespace(layout=layout, **props), bpy.context)
    return layout


def test_register_draw_and_poll_never_touch_the_network(
    configured: Farm, emulator: Emulator
) -> None:
    """With a live Manager configured, enabling, drawing and polling send no request."""
    bpy = configured.bpy
    bpy.ops.preferences.addon_disable(module=configured.module)
    bpy.ops.preferences.addon_enable(module=configured.module)
    configured.prefs.manager_url = emulator.url
    state = configured.state
    release = state.releases.add()
    release.name = "spring"
    job = state.jobs.add()
    job.name, job.status, job.stale = "chair", "active", True
    state.busy, state.status_line, state.last_error = True, "Packing", "boom"
    layout = draw_everything(configured)
    assert "progress" in layout.calls and "template_list" in layout.calls
    for name in OPERATORS:
        getattr(bpy.ops.farm, name).poll()
    assert emulator.requests == []
