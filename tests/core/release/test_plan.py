"""Planning releases: real .blend files, real packing into the volume, real HTTP to the emulator.

Sources (files, folders, globs, named parts), name templates, plan files with defaults and
per-job overrides, dated names, --add, job metadata and paths on the Manager, the packed
store, 3.5 (POST /jobs/query) and 3.8, and reconciling the record with the Manager after a
crash between submission and record.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from farm_addon.core.blend.deps import trace_dependencies
from farm_addon.core.errors import BadInput
from farm_addon.core.flamenco import FlamencoClient
from farm_addon.core.fs.volume import Volume
from farm_addon.core.release import plan as plan_module
from farm_addon.core.release.plan import (
    PlanRequest,
    ReleaseExists,
    looks_like_source,
    plan_release,
    propose_release_name,
)
from farm_addon.core.release.planfile import JobSettings
from farm_addon.core.release.record import RecordStore
from farm_addon.core.session import FarmSession
from tests.core.conftest import FARM_ENV, FarmRunner, farm_jobs
from tests.emulator import Emulator

pytestmark = pytest.mark.timeout(120)

TAGS = pytest.mark.emulator(worker_tags=["gpu", "cpu"])


def request(work: Path, release: str | None, *sources: str, **kw: Any) -> PlanRequest:
    return PlanRequest(release=release, sources=list(sources), cwd=work, **kw)


def manager_jobs(emulator: Emulator) -> dict[str, Any]:
    """farm.job -> the emulator's job (one per name, asserted)."""
    jobs = farm_jobs(emulator)
    by_name = {j.metadata["farm.job"]: j for j in jobs}  # type: ignore[attr-defined]
    assert len(by_name) == len(jobs), "a job was submitted twice"
    return by_name


def on_manager(volume: Volume, path: Path) -> str:
    """A volume path as the emulated Manager stores it (two-way variable my_storage)."""
    return "{my_storage}/" + path.relative_to(volume.root).as_posix()


# --- sources ---------------------------------------------------------------------------------


def test_plan_files_metadata_paths_and_store(
    session: FarmSession, volume: Volume, emulator: Emulator, work_blend: Callable[..., Path],
    work: Path,
) -> None:
    simple = work_blend("simple")
    textured = work_blend("textured")
    result = plan_release(session, request(work, "spring", str(simple), str(textured)))
    assert result.ok and not result.resumed
    assert [(o.name, o.outcome) for o in result.jobs] == [
        ("simple", "submitted"), ("textured", "submitted")]

    jobs = manager_jobs(emulator)
    assert set(jobs) == {"simple", "textured"}
    record = RecordStore(volume).load("spring")
    for name, job in jobs.items():
        rec = record.job(name)
        assert rec.job_id == job.id and rec.current.state == "submitted"
        assert job.name == f"spring/{name}"
        assert job.type == "simple-blender-render"
        assert job.submitter_platform == "linux"
        assert job.metadata == {
            "farm.release": "spring", "farm.job": name, "farm.revision": "1",
            "farm.volume": volume.id, "project": FARM_ENV["FARM_PROJECT"],
            "user.name": FARM_ENV["FARM_USER_NAME"], "user.email": FARM_ENV["FARM_USER_EMAIL"],
        }
        stored = volume.root / "releases" / "spring" / "store" / f"{name}.blend"
        assert stored.is_file()
        assert job.settings["blendfile"] == on_manager(volume, stored)
        out = volume.root / "releases" / "spring" / "out" / name
        assert job.settings["render_output_path"] == on_manager(volume, out) + "/######"
        assert job.settings["format"] == "PNG"
        assert job.settings["image_file_extension"] == ".png"
        assert "fps" not in job.settings  # no preview video for a release
    assert jobs["simple"].settings["frames"] == "1-12"
    assert jobs["simple"].settings["scene"] == "Shot"

    # The texture travelled: the stored blend finds everything inside the store.
    deps_dir = volume.root / "releases/spring/store/textured.deps"
    assert (deps_dir / "textures" / "wood.png").is_file()
    assert any(p.name == "metal.png" for p in (deps_dir / "_outside").rglob("*"))
    deps = trace_dependencies(volume.root / "releases/spring/store/textured.blend")
    assert {d.path.name for d in deps} >= {"wood.png", "metal.png"}
    for dep in deps:
        assert dep.exists and dep.path.is_relative_to(deps_dir), dep
    rec = record.job("textured")
    assert {Path(d.path).name for d in rec.dependencies} == {"wood.png", "metal.png"}
    assert all(volume.resolve(d.stored or "").is_file() for d in rec.dependencies)
    assert rec.source == str(textured.resolve())


@pytest.mark.emulator(version="3.5.0", worker="instant")
def test_plan_on_flamenco_3_5_lists_jobs_with_query(
    session: FarmSession, volume: Volume, emulator: Emulator, blends: dict[str, Path], work: Path,
) -> None:
    result = plan_release(session, request(work, "old-manager", str(blends["exr_step"])))
    assert result.ok
    paths = {(r.method, r.path) for r in emulator.requests}
    assert ("POST", "/api/v3/jobs/query") in paths
    assert ("GET", "/api/v3/jobs") not in paths
    job = manager_jobs(emulator)["exr_step"]
    assert job.settings["frames"] == "3,5,7,9,11,13,15,17"
    assert job.settings["format"] == "OPEN_EXR" and job.settings["image_file_extension"] == ".exr"
    assert emulator.run_worker() > 0
    out = volume.root / "releases/old-manager/out/exr_step"
    assert sorted(p.name for p in out.iterdir())[:2] == ["000003.exr", "000005.exr"]


def test_plan_folder_skips_backups(
    session: FarmSession, emulator: Emulator, work_blend: Callable[..., Path], work: Path,
) -> None:
    work_blend("simple", "chair.blend", "assets/props")
    work_blend("simple", "lamp.blend", "assets")
    shutil.copy2(work / "assets" / "lamp.blend", work / "assets" / "lamp.blend1")
    result = plan_release(session, request(work, "folder", "assets"))
    assert sorted(o.name for o in result.jobs) == ["lamp", "props-chair"]
    assert set(manager_jobs(emulator)) == {"lamp", "props-chair"}


def test_plan_glob_names_matches_by_their_folders(
    session: FarmSession, emulator: Emulator, work_blend: Callable[..., Path], work: Path,
) -> None:
    for shot in ("sh010", "sh020"):
        work_blend("simple", "main.blend", f"shots/{shot}")
    work_blend("simple", "notes.blend", "shots")  # not matched: not in a shot folder
    result = plan_release(session, request(work, "globbed", "shots/*/main.blend"))
    assert sorted(o.name for o in result.jobs) == ["sh010-main", "sh020-main"]
    assert set(manager_jobs(emulator)) == {"sh010-main", "sh020-main"}


def _catalogue(work_blend: Callable[..., Path]) -> None:
    for obj, material in (("chair", "oak"), ("chair", "walnut"), ("lamp", "brass")):
        work_blend("simple", f"{material}.blend", f"assets/{obj}")


def test_named_parts_become_metadata_and_names(
    session: FarmSession, emulator: Emulator, work_blend: Callable[..., Path], work: Path,
) -> None:
    _catalogue(work_blend)
    result = plan_release(session, request(work, "cat", "assets/{object}/{material}.blend"))
    assert result.ok
    jobs = manager_jobs(emulator)
    assert set(jobs) == {"chair-oak", "chair-walnut", "lamp-brass"}
    assert jobs["lamp-brass"].metadata["object"] == "lamp"
    assert jobs["lamp-brass"].metadata["material"] == "brass"
    assert RecordStore(session.volume).load("cat").job("chair-oak").metadata == {
        "object": "chair", "material": "oak"}


def test_name_template(
    session: FarmSession, emulator: Emulator, work_blend: Callable[..., Path], work: Path,
) -> None:
    _catalogue(work_blend)
    plan_release(session, request(work, "cat", "assets/{object}/{material}.blend",
                                  name_template="{material}_{object}"))
    assert set(manager_jobs(emulator)) == {"oak_chair", "walnut_chair", "brass_lamp"}


def test_name_template_with_unknown_part(
    session: FarmSession, work_blend: Callable[..., Path], work: Path,
) -> None:
    _catalogue(work_blend)
    with pytest.raises(BadInput, match=r"\{colour\}|colour"):
        plan_release(session, request(work, "cat", "assets/{object}/{material}.blend",
                                      name_template="{object}-{colour}"))


# --- plan files ------------------------------------------------------------------------------


@TAGS
def test_plan_file_defaults_and_overrides(
    session: FarmSession, volume: Volume, emulator: Emulator, work_blend: Callable[..., Path],
    work: Path,
) -> None:
    _catalogue(work_blend)
    work_blend("multiscene", "lamp_v3.blend", "extras")
    plan = work / "spring.toml"
    plan.write_text(
        'release = "spring"\n'
        'sources = ["assets/{object}/{material}.blend"]\n'
        'naming = "{job}_{frame:03d}{ext}"\n'
        "\n[defaults]\n"
        'frames = "1-4"\nchunk_size = 2\npriority = 60\nworker_tag = "cpu"\n'
        'output_format = "JPEG"\n'
        "\n[jobs.chair-oak]\n"
        'frames = "5-6"\nchunk_size = 1\npriority = 80\nworker_tag = "gpu"\n'
        'output_format = "OPEN_EXR"\n'
        "\n[jobs.lamp]\n"
        'source = "extras/lamp_v3.blend"\nscene = "Preview"\n'
        'metadata = { object = "lamp", note = "hero" }\n',
        encoding="utf-8",
    )
    result = plan_release(session, PlanRequest(plan_file=plan, cwd=work / "assets"))
    assert result.release == "spring" and result.ok
    jobs = manager_jobs(emulator)
    assert set(jobs) == {"chair-oak", "chair-walnut", "lamp-brass", "lamp"}
    walnut, oak, lamp = jobs["chair-walnut"], jobs["chair-oak"], jobs["lamp"]
    assert (walnut.settings["frames"], walnut.settings["chunk_size"], walnut.priority) == (
        "1-4", 2, 60)
    assert walnut.worker_tag == emulator.tag_id("cpu")
    assert (walnut.settings["format"], walnut.settings["image_file_extension"]) == (
        "JPEG", ".jpg")
    assert (oak.settings["frames"], oak.settings["chunk_size"], oak.priority) == ("5-6", 1, 80)
    assert oak.worker_tag == emulator.tag_id("gpu")
    assert (oak.settings["format"], oak.settings["image_file_extension"]) == ("OPEN_EXR", ".exr")
    assert lamp.settings["scene"] == "Preview"
    assert lamp.metadata["note"] == "hero" and lamp.metadata["object"] == "lamp"
    record = RecordStore(volume).load("spring")
    assert record.naming_template == "{job}_{frame:03d}{ext}"
    assert record.planned_from.plan_file == str(plan)
    assert record.job("lamp").source == str((work / "extras/lamp_v3.blend").resolve())


@TAGS
def test_command_line_settings_apply_to_every_job(
    session: FarmSession, emulator: Emulator, blends: dict[str, Path], work: Path,
) -> None:
    overrides = JobSettings(frames="2-3", chunk_size=5, priority=10, worker_tag="GPU",
                            output_format="png")
    plan_release(session, request(work, "cli", str(blends["simple"]), str(blends["exr_step"]),
                                  overrides=overrides))
    for job in manager_jobs(emulator).values():
        assert job.settings["frames"] == "2-3" and job.settings["chunk_size"] == 5
        assert job.priority == 10 and job.worker_tag == emulator.tag_id("gpu")
        assert job.settings["format"] == "PNG"


def test_plan_file_job_without_source_is_refused(
    session: FarmSession, emulator: Emulator, blends: dict[str, Path], work: Path,
) -> None:
    plan = work / "p.toml"
    plan.write_text(f'sources = ["{blends["simple"]}"]\n\n[jobs.nope]\nframes = "1"\n')
    with pytest.raises(BadInput, match=r"'nope'.*Jobs: simple"):
        plan_release(session, PlanRequest(release="x", plan_file=plan, cwd=work))
    assert not emulator.jobs


# --- names of releases, --add, dry run ---------------------------------------------------------


def test_propose_release_name() -> None:
    when = datetime(2026, 11, 27, 9, 30)
    assert propose_release_name([], when) == "release-2026-11-27"
    assert propose_release_name(["release-2026-11-27"], when) == "release-2026-11-27-2"
    taken = ["release-2026-11-27", "release-2026-11-27-2", "release-2026-11-27-3"]
    assert propose_release_name(taken, when) == "release-2026-11-27-4"


def test_looks_like_source(work: Path) -> None:
    (work / "spring").mkdir()
    assert looks_like_source("a.blend", work) and looks_like_source("x/*.blend", work)
    assert looks_like_source("spring", work)  # an existing folder is a source
    assert not looks_like_source("summer", work)


def test_dated_release_name_when_none_given(
    farm_inproc: FarmRunner, volume: Volume, blends: dict[str, Path],
) -> None:
    today = f"release-{datetime.now():%Y-%m-%d}"
    first = farm_inproc(["plan", "release", str(blends["simple"])])
    assert first.code == 0, first.text
    assert f"planning {today!r}" in first.err
    second = farm_inproc(["plan", "release", str(blends["simple"])])
    assert second.code == 0, second.text
    assert volume.list_releases() == [today, f"{today}-2"]


def test_add_to_existing_release(
    session: FarmSession, volume: Volume, emulator: Emulator, work_blend: Callable[..., Path],
    work: Path, tree: Callable[[Path], dict[str, str]],
) -> None:
    a = work_blend("simple", "a.blend")
    b = work_blend("simple", "b.blend")
    c = work_blend("simple", "c.blend")
    plan_release(session, request(work, "spring", str(a)))
    before = tree(volume.root)
    with pytest.raises(ReleaseExists, match="--add"):
        plan_release(session, request(work, "spring", str(b)))
    with pytest.raises(BadInput, match="already has job"):
        plan_release(session, request(work, "spring", str(a), add=True))
    assert tree(volume.root) == before
    result = plan_release(session, request(work, "spring", str(b), str(c), add=True))
    assert [o.name for o in result.jobs] == ["b", "c"]
    assert RecordStore(volume).load("spring").job_names == ["a", "b", "c"]
    assert set(manager_jobs(emulator)) == {"a", "b", "c"}


def test_dry_run_changes_nothing(
    session: FarmSession, volume: Volume, emulator: Emulator, blends: dict[str, Path],
    work: Path, tree: Callable[[Path], dict[str, str]],
) -> None:
    before = tree(volume.root)
    result = plan_release(session, request(work, "dry", str(blends["textured"])), dry_run=True)
    assert result.dry_run and [j.name for j in result.planned] == ["textured"]
    assert tree(volume.root) == before
    assert not emulator.jobs


# --- reconciling the record with the Manager ---------------------------------------------------


def test_lost_answer_is_adopted_not_resubmitted(
    session: FarmSession, volume: Volume, emulator: Emulator, blends: dict[str, Path],
    work: Path,
) -> None:
    """The Manager stores the job but the answer is lost: farm finds and adopts it."""
    emulator.faults.add(method="POST", path="/api/v3/jobs", kind="drop_after", count=1)
    result = plan_release(session, request(work, "crash", str(blends["simple"]),
                                           str(blends["exr_step"])))
    assert result.ok
    assert sorted(o.outcome for o in result.jobs) == ["adopted", "submitted"]
    jobs = manager_jobs(emulator)
    assert len(emulator.jobs) == 2
    record = RecordStore(volume).load("crash")
    assert {j.name: j.job_id for j in record.jobs} == {n: j.id for n, j in jobs.items()}


@pytest.mark.parametrize("version", ["3.8.5", "3.5.0"])
def test_rerun_finishes_an_interrupted_plan(
    version: str, emulator_factory: Callable[..., Emulator], farm_inproc: FarmRunner,
    blends: dict[str, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:
    """The answer to a submission is lost and the Manager cannot be asked either: the job
    is left for the next run, which adopts it; nothing is submitted twice."""
    emu = emulator_factory(version=version)
    vol = Volume.init(emu.storage)
    monkeypatch.setenv("FARM_MANAGER_URL", emu.url)
    monkeypatch.setenv("FARM_VOLUME", str(vol.root))
    listing = ("POST", "/api/v3/jobs/query") if version == "3.5.0" else ("GET", "/api/v3/jobs")
    emu.faults.add(method="POST", path="/api/v3/jobs", kind="drop_after", count=1)
    submit_many = FlamencoClient.submit_many

    def then_listing_fails(self: FlamencoClient, *args: Any, **kwargs: Any) -> Any:
        results = submit_many(self, *args, **kwargs)
        emu.faults.add(method=listing[0], path=listing[1], kind="500", count=1)
        return results

    monkeypatch.setattr(FlamencoClient, "submit_many", then_listing_fails)
    args = ["plan", "release", "spring", str(blends["simple"]), str(blends["multiscene"])]
    first = farm_inproc(args, cwd=tmp_path)
    assert first.code == 1, first.text
    assert "run the same command again" in first.out
    record = RecordStore(vol).load("spring")
    assert sum(1 for j in record.jobs if j.job_id is None) == 1
    assert len(emu.jobs) == 2  # the Manager has both
    status = json.loads(farm_inproc(["status", "spring", "--json"], cwd=tmp_path).out)
    assert {j["job_id"] for j in status["jobs"]} == set(emu.jobs)  # shown, adopted in view
    assert RecordStore(vol).load("spring") == record  # reading the status writes nothing

    monkeypatch.setattr(FlamencoClient, "submit_many", submit_many)
    second = farm_inproc(["plan", "release", "spring"], cwd=tmp_path)
    assert second.code == 0, second.text
    assert "Finished planning" in second.out and "adopted" in second.out
    assert len(emu.jobs) == 2
    record = RecordStore(vol).load("spring")
    assert {j.name: j.job_id for j in record.jobs} == {
        j.metadata["farm.job"]: j.id for j in emu.jobs.values()}
    assert all(j.current.state == "submitted" for j in record.jobs)


def test_crash_after_recording_before_sending(
    session: FarmSession, volume: Volume, emulator: Emulator, blends: dict[str, Path],
    work: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Killed after the record says 'submitting' and before anything was sent."""
    client = session.client

    def killed(*args: object, **kwargs: object) -> object:
        raise KeyboardInterrupt

    monkeypatch.setattr(client, "submit_many", killed)
    with pytest.raises(KeyboardInterrupt):
        plan_release(session, request(work, "spring", str(blends["simple"])))
    record = RecordStore(volume).load("spring")
    assert record.job("simple").current.state == "submitting" and not emulator.jobs
    assert (volume.root / "releases/spring/store/simple.blend").is_file()  # kept: recorded
    monkeypatch.undo()
    result = plan_release(session, request(work, "spring"))
    assert result.resumed and [o.outcome for o in result.jobs] == ["submitted"]
    assert len(emulator.jobs) == 1


@pytest.mark.parametrize("form", ["plan-file", "add"])
def test_the_same_command_again_finishes_the_plan(
    form: str, session: FarmSession, volume: Volume, emulator: Emulator,
    blends: dict[str, Path], work: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    if form == "plan-file":
        plan = work / "spring.toml"
        plan.write_text(f'release = "spring"\nsources = ["{blends["simple"]}"]\n')
        again = PlanRequest(plan_file=plan, cwd=work)
    else:
        plan_release(session, request(work, "spring", str(blends["exr_step"])))
        again = request(work, "spring", str(blends["simple"]), add=True)
    monkeypatch.setattr(session.client, "submit_many", _raise_interrupt)
    with pytest.raises(KeyboardInterrupt):
        plan_release(session, again)
    monkeypatch.undo()
    assert RecordStore(volume).load("spring").job("simple").job_id is None
    result = plan_release(session, again)
    assert result.resumed and [(o.name, o.outcome) for o in result.jobs] == [
        ("simple", "submitted")]
    assert set(manager_jobs(emulator)) == {"simple"} | ({"exr_step"} if form == "add" else set())


def test_crash_while_packing_leaves_nothing_that_blocks_a_rerun(
    session: FarmSession, volume: Volume, emulator: Emulator, blends: dict[str, Path],
    work: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A plan killed after packing and before its record: the rerun packs again."""
    monkeypatch.setattr(plan_module, "_undo_packing", lambda *a: None)  # killed: no clean-up
    monkeypatch.setattr(plan_module.RecordStore, "save", _raise_interrupt)  # packed, unrecorded
    with pytest.raises(KeyboardInterrupt):
        plan_release(session, request(work, "spring", str(blends["simple"])))
    assert (volume.root / "releases/spring/store/simple.blend").is_file()
    assert not RecordStore(volume).exists("spring")
    monkeypatch.undo()
    result = plan_release(session, request(work, "spring", str(blends["simple"])))
    assert result.ok and len(emulator.jobs) == 1


def _raise_interrupt(*args: object, **kwargs: object) -> Any:
    raise KeyboardInterrupt


def test_failed_pack_restores_the_store(
    session: FarmSession, volume: Volume, emulator: Emulator, blends: dict[str, Path],
    work_blend: Callable[..., Path], work: Path, tree: Callable[[Path], dict[str, str]],
) -> None:
    """The second source lacks its linked library: the first one's pack is removed again."""
    plan_release(session, request(work, "before", str(blends["simple"])))
    linked = work_blend("linked")
    shutil.rmtree(linked.parent.parent / "lib")
    before = tree(volume.root)
    jobs_before = len(emulator.jobs)
    for release in ("fresh", "before"):
        with pytest.raises(BadInput, match="missing library"):
            plan_release(session, request(work, release, str(blends["exr_step"]), str(linked),
                                          add=release == "before"))
        assert tree(volume.root) == before
        assert len(emulator.jobs) == jobs_before


@pytest.mark.emulator(worker="instant")
def test_planned_release_renders_into_the_volume(
    farm_inproc: FarmRunner, volume: Volume, emulator: Emulator, blends: dict[str, Path],
) -> None:
    res = farm_inproc(["plan", "release", "spring", str(blends["simple"]), "--json"])
    assert res.code == 0, res.text
    data = json.loads(res.out)
    assert data["release"] == "spring" and data["jobs"][0]["outcome"] == "submitted"
    emulator.run_worker()
    out = volume.root / "releases/spring/out/simple"
    assert sorted(os.listdir(out)) == [f"{n:06d}.png" for n in range(1, 13)]
