"""Every operator's blocking ``execute()`` in real Blender against the Manager emulator:
what it does on the farm and in ``WindowManager.farm``, and how it reports failures."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from farm_addon.core import api
from farm_addon.core.fs.volume import Volume
from farm_addon.core.release.plan import PlanRequest
from farm_addon.core.settings import Settings
from tests.blender.conftest import FARM_ENV, Farm
from tests.emulator import Emulator

pytestmark = [pytest.mark.blender, pytest.mark.timeout(180)]


def settings_for(emulator: Emulator, volume: Volume) -> Settings:
    return Settings(manager_url=emulator.url, volume=volume.root,
                    project=FARM_ENV["FARM_PROJECT"], user_name=FARM_ENV["FARM_USER_NAME"])


def plan(emulator: Emulator, volume: Volume, release: str, *blends: Path,
         add: bool = False) -> Any:
    """Plan a release with the core directly (the set-up of a test, not what it tests)."""
    request = PlanRequest(release=release, sources=[str(b) for b in blends],
                          cwd=blends[0].parent, add=add)
    return api.plan_release(settings_for(emulator, volume), request)


def farm_jobs(emulator: Emulator) -> list[Any]:
    with emulator.store.lock:
        return [j for j in emulator.jobs.values() if "farm.job" in j.metadata]


# --- Manager and refresh --------------------------------------------------------------------


def test_test_connection_reports_version_and_status(configured: Farm, emulator: Emulator) -> None:
    assert configured.bpy.ops.farm.test_connection() == {"FINISHED"}
    state = configured.state
    assert state.connection == "CONNECTED"
    assert state.manager_version == emulator.version
    assert state.farm_status
    assert state.workers_total >= 1


def test_manager_down_is_reported_cleanly(configured: Farm, emulator: Emulator) -> None:
    url = emulator.url
    emulator.stop()
    configured.prefs.manager_url = url
    for name in ("test_connection", "refresh"):
        with pytest.raises(RuntimeError, match="Cannot reach Flamenco Manager"):
            getattr(configured.bpy.ops.farm, name)()
        assert configured.state.connection == "FAILED"
        assert "Cannot reach" in configured.state.last_error


def test_bad_manager_url_is_reported(configured: Farm) -> None:
    configured.prefs.manager_url = "ftp://nowhere"
    with pytest.raises(RuntimeError, match="not a Flamenco Manager URL"):
        configured.bpy.ops.farm.test_connection()


def test_refresh_fills_releases_and_jobs(
    configured: Farm, emulator: Emulator, volume: Volume, blend_copy: Callable[..., Path]
) -> None:
    plan(emulator, volume, "spring", blend_copy("simple", "a/chair.blend"),
         blend_copy("simple", "a/table.blend"))
    assert configured.bpy.ops.farm.refresh() == {"FINISHED"}
    state = configured.state
    assert state.connection == "CONNECTED"
    assert state.manager_version == emulator.version
    assert [r.name for r in state.releases] == ["spring"]
    release = state.releases["spring"]
    assert release.jobs == 2 and release.frames_total == 24
    assert release.output_dir == str(volume.out_dir("spring"))
    assert release.delivery_dir == str(volume.dist_dir("spring"))
    assert state.jobs_release == "spring"
    assert sorted(j.name for j in state.jobs) == ["chair", "table"]
    chair = state.jobs["chair"]
    assert chair.status == "queued" and chair.revision == 1 and not chair.stale
    assert chair.frames_total == 12 and chair.job_id
    assert not state.busy


@pytest.mark.emulator(worker_tags=["gpu", "cpu"])
def test_refresh_fills_the_worker_tag_menu(configured: Farm) -> None:
    configured.bpy.ops.farm.refresh()
    items = configured.props.worker_tag_items(None, configured.bpy.context)
    assert [i[0] for i in items] == ["ANY", "cpu", "gpu"] or [i[0] for i in items] == [
        "ANY", "gpu", "cpu"]
    configured.scene.seed_worker_tag = "gpu"
    assert configured.scene.seed_worker_tag == "gpu"


# --- Seed -----------------------------------------------------------------------------------


def test_seed_refuses_an_untitled_file(configured: Farm) -> None:
    bpy = configured.bpy
    bpy.ops.wm.read_homefile(use_empty=True)
    try:
        assert not bpy.data.filepath
        with pytest.raises(RuntimeError, match="Save the file first"):
            bpy.ops.farm.seed_job()
        with pytest.raises(RuntimeError, match="Save the file first"):
            bpy.ops.farm.plan_release(release="x", source="CURRENT_FILE")
    finally:
        bpy.ops.wm.read_homefile()


def test_seed_saves_a_changed_file_then_submits_it(
    configured: Farm, emulator: Emulator, blend_copy: Callable[..., Path],
    open_blend: Callable[[Path], None],
) -> None:
    bpy = configured.bpy
    blend = blend_copy("simple", "shot 010.blend")
    open_blend(blend)
    bpy.context.scene.frame_end = 5
    assert bpy.data.is_dirty
    props = configured.scene
    props.seed_override_priority, props.seed_priority = True, 80
    assert bpy.ops.farm.seed_job() == {"FINISHED"}
    [job] = [j for j in emulator.jobs.values() if j.name.startswith("quick/")]
    assert job.name == "quick/shot-010"  # the file's name, made safe
    assert job.settings["frames"] == "1-5"  # read from the file on disk: it was saved
    assert job.priority == 80
    assert job.metadata["project"] == "catalogue"
    status = configured.state.status_line
    assert status.startswith("Saved shot 010.blend first. Seeded shot-010"), status


def test_seed_with_a_bad_frame_range_is_refused(
    configured: Farm, emulator: Emulator, blend_copy: Callable[..., Path],
    open_blend: Callable[[Path], None],
) -> None:
    open_blend(blend_copy("simple"))
    configured.scene.seed_frames = "10-1"
    with pytest.raises(RuntimeError, match="10-1"):
        configured.bpy.ops.farm.seed_job()
    assert not emulator.jobs


# --- Plan -----------------------------------------------------------------------------------


def test_plan_release_from_a_folder(
    configured: Farm, emulator: Emulator, volume: Volume, blend_copy: Callable[..., Path]
) -> None:
    chair = blend_copy("simple", "assets/chair.blend")
    blend_copy("simple", "assets/table.blend")
    result = configured.bpy.ops.farm.plan_release(
        release="autumn", source="FOLDER", folder=str(chair.parent))
    assert result == {"FINISHED"}
    assert sorted(j.metadata["farm.job"] for j in farm_jobs(emulator)) == ["chair", "table"]
    assert volume.list_releases() == ["autumn"]
    assert "Planned release autumn: 2 job(s)" in configured.state.status_line


def test_plan_release_from_the_current_file_and_a_pattern(
    configured: Farm, emulator: Emulator, blend_copy: Callable[..., Path],
    open_blend: Callable[[Path], None],
) -> None:
    bpy = configured.bpy
    main = blend_copy("simple", "shots/s010/main.blend")
    blend_copy("simple", "shots/s020/main.blend")
    open_blend(main)
    assert bpy.ops.farm.plan_release(release="one", source="CURRENT_FILE") == {"FINISHED"}
    open_blend(main.parent.parent.parent / "shots" / "s020" / "main.blend")
    assert bpy.ops.farm.plan_release(
        release="two", source="PATTERN", pattern="//../*/main.blend") == {"FINISHED"}
    releases = sorted(j.metadata["farm.release"] for j in farm_jobs(emulator))
    assert releases == ["one", "two", "two"]


def test_plan_release_reports_bad_input(configured: Farm, tmp_path: Path) -> None:
    bpy = configured.bpy
    with pytest.raises(RuntimeError, match="Choose the folder"):
        bpy.ops.farm.plan_release(release="x", source="FOLDER", folder="")
    with pytest.raises(RuntimeError, match="release name"):
        bpy.ops.farm.plan_release(release="bad/name", source="FOLDER", folder=str(tmp_path))


# --- Kill -----------------------------------------------------------------------------------


def test_kill_lists_the_matches_first_then_kills(
    configured: Farm, emulator: Emulator, volume: Volume, blend_copy: Callable[..., Path]
) -> None:
    plan(emulator, volume, "spring", blend_copy("simple", "a/chair.blend"),
         blend_copy("simple", "a/table.blend"))
    bpy = configured.bpy
    state = configured.state
    # What a person sees first: the matching jobs, and nothing cancelled yet.
    assert bpy.ops.farm.kill_jobs(query="chair", release="spring", interactive=True) == {
        "FINISHED"}
    assert [(m.name, m.status, m.release) for m in state.matches] == [
        ("chair", "queued", "spring")]
    assert all(j.status == "queued" for j in farm_jobs(emulator))
    # Confirmed: the kill.
    assert bpy.ops.farm.kill_jobs(query="chair", release="spring", confirmed=True) == {
        "FINISHED"}
    statuses = {j.metadata["farm.job"]: j.status for j in farm_jobs(emulator)}
    assert statuses["table"] == "queued"
    assert statuses["chair"] in ("cancel-requested", "canceled")
    assert "Cancel requested for 1 job(s)" in state.status_line
    assert not state.matches


def test_kill_cancels_only_the_jobs_that_were_shown(
    configured: Farm, emulator: Emulator, volume: Volume, blend_copy: Callable[..., Path]
) -> None:
    plan(emulator, volume, "spring", blend_copy("simple", "a/chair.blend"))
    bpy, state = configured.bpy, configured.state
    assert bpy.ops.farm.kill_jobs(query="*", release="spring", interactive=True) == {"FINISHED"}
    assert [m.name for m in state.matches] == ["chair"]
    # While the dialog is open, another job starts matching the query.
    plan(emulator, volume, "spring", blend_copy("simple", "b/lamp.blend"), add=True)
    assert bpy.ops.farm.kill_jobs(query="*", release="spring", confirmed=True) == {"FINISHED"}
    statuses = {j.metadata["farm.job"]: j.status for j in farm_jobs(emulator)}
    assert statuses["lamp"] == "queued"
    assert statuses["chair"] in ("cancel-requested", "canceled")


def test_kill_reports_bad_query_and_unknown_release(
    configured: Farm, emulator: Emulator, volume: Volume, blend_copy: Callable[..., Path]
) -> None:
    plan(emulator, volume, "spring", blend_copy("simple", "a/chair.blend"))
    bpy = configured.bpy
    with pytest.raises(RuntimeError, match="Unknown query key"):
        bpy.ops.farm.kill_jobs(query="colour:red")
    with pytest.raises(RuntimeError, match="Unknown release 'winter'"):
        bpy.ops.farm.kill_jobs(query="*", release="winter")
    with pytest.raises(RuntimeError, match="query is empty"):
        bpy.ops.farm.kill_jobs(query="  ")
    assert all(j.status == "queued" for j in farm_jobs(emulator))
    assert "Unknown" in configured.state.last_error or "empty" in configured.state.last_error


def test_kill_with_no_match_warns(configured: Farm, emulator: Emulator) -> None:
    assert configured.bpy.ops.farm.kill_jobs(query="nothing-*", interactive=True) == {
        "FINISHED"}
    assert len(configured.state.matches) == 0
    assert "No job matches" in configured.state.status_line


# --- Slash and burn -------------------------------------------------------------------------


def test_slash_and_burn_names_what_will_be_lost_then_deletes(
    configured: Farm, emulator: Emulator, volume: Volume, blend_copy: Callable[..., Path]
) -> None:
    plan(emulator, volume, "spring", blend_copy("simple", "a/chair.blend"))
    bpy = configured.bpy
    assert bpy.ops.farm.slash_and_burn(interactive=True) == {"FINISHED"}
    summary = configured.state.reset_summary
    assert "1 job(s) on the Manager will be cancelled and deleted" in summary
    assert "spring/chair" in summary
    assert len(farm_jobs(emulator)) == 1  # nothing done yet
    assert bpy.ops.farm.slash_and_burn(confirmed=True) == {"FINISHED"}
    emulator.process_deletions()
    assert farm_jobs(emulator) == []
    assert volume.list_releases() == ["spring"]  # releases stay unless included
    assert "deleted 1 job(s)" in configured.state.status_line


# --- Harvest, replace, archive --------------------------------------------------------------


@pytest.mark.emulator(worker="instant")
def test_harvest_then_archive_a_finished_release(
    configured: Farm, emulator: Emulator, volume: Volume, blend_copy: Callable[..., Path]
) -> None:
    plan(emulator, volume, "spring", blend_copy("simple", "a/chair.blend"))
    emulator.run_worker()
    bpy = configured.bpy
    assert bpy.ops.farm.harvest_release(release="spring") == {"FINISHED"}
    delivered = sorted(volume.dist_dir("spring").rglob("*.png"))
    assert len(delivered) == 12
    assert "Harvested spring: 12 frame(s)" in configured.state.status_line
    assert bpy.ops.farm.archive_release(release="spring") == {"FINISHED"}
    assert volume.archive_path("spring").is_file()
    assert "Archived spring" in configured.state.status_line


@pytest.mark.emulator(worker="instant")
def test_harvest_with_a_frame_rewritten_meanwhile_warns(
    configured: Farm, emulator: Emulator, volume: Volume, blend_copy: Callable[..., Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A frame re-rendered between the check and its move is held back in out/; the status
    line says which, as a warning, and the other frames are delivered."""
    plan(emulator, volume, "spring", blend_copy("simple", "a/chair.blend"))
    emulator.run_worker()
    file_ops = sys.modules[f"{configured.module}.core.fs.mover"].FileOps
    original = file_ops.move

    def move(self: Any, src: Any, dst: Any) -> None:
        if str(src).endswith("000003.png"):
            with open(src, "ab") as f:
                f.write(b"a worker writing the frame again")
        original(self, src, dst)

    monkeypatch.setattr(file_ops, "move", move)
    bpy = configured.bpy
    assert bpy.ops.farm.harvest_release(release="spring") == {"FINISHED"}
    assert len(list(volume.dist_dir("spring").rglob("*.png"))) == 11
    line = configured.state.status_line
    assert "11 frame(s) delivered" in line and "job 'chair' frames 3" in line, line
    assert (volume.job_out_dir("spring", "chair") / "000003.png").is_file()


def test_harvest_of_an_unfinished_or_unknown_release_fails_cleanly(
    configured: Farm, emulator: Emulator, volume: Volume, blend_copy: Callable[..., Path]
) -> None:
    plan(emulator, volume, "spring", blend_copy("simple", "a/chair.blend"))
    bpy = configured.bpy
    with pytest.raises(RuntimeError, match="chair"):
        bpy.ops.farm.harvest_release(release="spring")
    with pytest.raises(RuntimeError, match="winter"):
        bpy.ops.farm.harvest_release(release="winter")
    with pytest.raises(RuntimeError, match="Select a release"):
        bpy.ops.farm.harvest_release(release="")
    with pytest.raises(RuntimeError, match="winter"):
        bpy.ops.farm.archive_release(release="winter")


def test_replace_job_submits_a_new_revision(
    configured: Farm, emulator: Emulator, volume: Volume, blend_copy: Callable[..., Path]
) -> None:
    plan(emulator, volume, "spring", blend_copy("simple", "a/chair.blend"))
    bpy = configured.bpy
    assert bpy.ops.farm.replace_job(job="chair", release="spring") == {"FINISHED"}
    assert "Replaced chair of spring: revision 2" in configured.state.status_line
    bpy.ops.farm.refresh()
    assert configured.state.jobs["chair"].revision == 2
    with pytest.raises(RuntimeError, match="sofa"):
        bpy.ops.farm.replace_job(job="sofa", release="spring")


# --- Preview and folders --------------------------------------------------------------------


@pytest.mark.emulator(worker="instant")
def test_refresh_preview_loads_the_last_rendered_image(
    configured: Farm, emulator: Emulator, volume: Volume, blend_copy: Callable[..., Path]
) -> None:
    bpy = configured.bpy
    plan(emulator, volume, "spring", blend_copy("simple", "a/chair.blend"))
    bpy.ops.farm.refresh()
    assert bpy.ops.farm.refresh_preview() == {"FINISHED"}
    assert configured.state.preview_message.startswith("Nothing rendered yet")
    emulator.run_worker()
    assert bpy.ops.farm.refresh_preview() == {"FINISHED"}
    state = configured.state
    image = bpy.data.images[state.preview_image]
    assert image.name == "Farm Preview" and tuple(image.size) != (0, 0)
    assert state.preview_job == state.jobs["chair"].job_id
    assert Path(image.filepath).parent == Path(bpy.app.tempdir)


def test_open_folder(configured: Farm, emulator: Emulator, volume: Volume,
                     blend_copy: Callable[..., Path], monkeypatch: pytest.MonkeyPatch) -> None:
    bpy = configured.bpy
    assert not bpy.ops.farm.open_folder.poll()  # no releases listed yet
    plan(emulator, volume, "spring", blend_copy("simple", "a/chair.blend"))
    bpy.ops.farm.refresh()
    opened: list[str] = []
    monkeypatch.setattr(configured.operators, "open_path",
                        lambda path: opened.append(path) or {"FINISHED"})
    assert bpy.ops.farm.open_folder(kind="OUTPUT") == {"CANCELLED"}  # nothing rendered yet
    volume.out_dir("spring").mkdir(parents=True, exist_ok=True)
    assert bpy.ops.farm.open_folder(kind="OUTPUT") == {"FINISHED"}
    assert opened == [str(volume.out_dir("spring"))]
    # Not delivered yet: a warning, nothing opened.
    assert bpy.ops.farm.open_folder(kind="DELIVERY") == {"CANCELLED"}
    assert len(opened) == 1
    with pytest.raises(RuntimeError, match="Unknown release 'winter'"):
        bpy.ops.farm.open_folder(kind="OUTPUT", release="winter")
