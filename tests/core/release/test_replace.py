"""Replacing a job after its scene changed: a new revision, the old frames kept aside, the
other jobs untouched, stale jobs found, and a replace killed half-way finished by a rerun."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from farm_addon.core.errors import BadInput
from farm_addon.core.fs.volume import Volume
from farm_addon.core.release.plan import PlanRequest, plan_release
from farm_addon.core.release.record import RecordStore, UnknownJob
from farm_addon.core.release.replace import replace_job, replace_stale, stale_jobs
from farm_addon.core.session import FarmSession
from tests.core.conftest import FarmRunner, farm_jobs
from tests.emulator import Emulator

pytestmark = [pytest.mark.timeout(120), pytest.mark.emulator(worker="instant")]


@pytest.fixture
def planned(session: FarmSession, work_blend: Callable[..., Path], work: Path,
            emulator: Emulator) -> dict[str, Path]:
    """Release 'spring' with a textured job and a plain one, rendered."""
    textured = work_blend("textured")
    simple = work_blend("simple", "plain.blend")
    plan_release(session, PlanRequest(release="spring", sources=[str(textured), str(simple)],
                                      cwd=work))
    emulator.run_worker()
    return {"textured": textured, "plain": simple}


def frames(volume: Volume, job: str) -> dict[str, bytes]:
    out = volume.job_out_dir("spring", job)
    return {p.name: p.read_bytes() for p in sorted(out.iterdir())}


def test_replace_makes_a_new_revision_and_keeps_old_frames(
    session: FarmSession, volume: Volume, emulator: Emulator, planned: dict[str, Path]
) -> None:
    old_frames = frames(volume, "textured")
    plain_before = frames(volume, "plain")
    plain_id = RecordStore(volume).load("spring").job("plain").job_id
    old_id = RecordStore(volume).load("spring").job("textured").job_id
    assert old_frames and plain_before

    result = replace_job(session, "textured")

    assert (result.release, result.old_revision, result.revision) == ("spring", 1, 2)
    assert result.outcome == "submitted" and result.job_id != old_id
    # The old revision's frames are aside, byte for byte, and out/ is empty for the new one.
    aside = volume.root / str(result.moved_aside)
    assert aside == volume.release_dir("spring") / "superseded" / "textured" / "r1"
    assert {p.name: p.read_bytes() for p in aside.iterdir()} == old_frames
    assert list(volume.job_out_dir("spring", "textured").iterdir()) == []
    # The old job is gone from the Manager; the new one carries revision 2.
    emulator.process_deletions(force=True)
    jobs = farm_jobs(emulator, farm_job="textured")
    assert [j.metadata["farm.revision"] for j in jobs] == ["2"]  # type: ignore[attr-defined]
    # The other job was not disturbed.
    record = RecordStore(volume).load("spring")
    assert record.job("plain").job_id == plain_id and frames(volume, "plain") == plain_before
    job = record.job("textured")
    assert [r.state for r in job.revisions] == ["superseded", "submitted"]
    assert job.revisions[0].superseded_dir == result.moved_aside
    emulator.run_worker()
    assert set(frames(volume, "textured")) == set(old_frames)


def test_stale_jobs_are_found_and_replaced_exactly(
    session: FarmSession, volume: Volume, emulator: Emulator, planned: dict[str, Path]
) -> None:
    assert stale_jobs(session, "spring") == {}
    texture = planned["textured"].parent / "textures" / "wood.png"
    texture.write_bytes(texture.read_bytes() + b"changed")  # an artist re-exported it
    stale = stale_jobs(session, "spring")
    assert list(stale) == ["textured"] and str(texture) in stale["textured"]

    results = replace_stale(session, "spring")

    assert [(r.job, r.revision) for r in results] == [("textured", 2)]
    assert stale_jobs(session, "spring") == {}
    assert RecordStore(volume).load("spring").job("plain").revision == 1


def test_replace_from_another_file(
    session: FarmSession, volume: Volume, planned: dict[str, Path], work: Path,
    work_blend: Callable[..., Path],
) -> None:
    fixed = work_blend("simple", "plain_v2.blend", "fixes")
    result = replace_job(session, "plain", "spring", fixed)
    job = RecordStore(volume).load("spring").job("plain")
    assert result.revision == 2 and job.source == str(fixed.resolve())


def test_replace_resumes_after_a_kill_between_record_and_submission(
    session: FarmSession, volume: Volume, emulator: Emulator, planned: dict[str, Path]
) -> None:
    # The Manager drops the connection after storing the new job: the client sees an error.
    emulator.faults.add(method="POST", path="/api/v3/jobs", kind="drop_after", count=1)
    result = replace_job(session, "plain")
    assert result.ok  # found on the Manager and adopted, not failed
    jobs = farm_jobs(emulator, farm_job="plain", farm_revision="2")
    assert len(jobs) == 1
    # A rerun after a kill with revision 2 recorded but not submitted submits it once.
    store = RecordStore(volume)
    with store.transaction("spring") as record:
        job = record.job("textured")
        job.current.state = "superseded"
        job.new_revision(job.source_sha256)  # as a replace killed right after this save
    result = replace_job(session, "textured")
    assert (result.old_revision, result.revision, result.outcome) == (2, 2, "submitted")
    assert len(farm_jobs(emulator, farm_job="textured", farm_revision="2")) == 1
    again = replace_job(session, "textured")  # a normal replace then goes to revision 3
    assert again.revision == 3


def test_unknown_job_and_ambiguous_names(
    session: FarmSession, volume: Volume, planned: dict[str, Path], work: Path,
    farm: FarmRunner, tree: Callable[[Path], dict[str, str]],
) -> None:
    with pytest.raises(UnknownJob, match=r"has a job 'nope'"):
        replace_job(session, "nope")
    plan_release(session, PlanRequest(release="autumn", sources=[str(planned["plain"])],
                                      cwd=work))
    with pytest.raises(BadInput, match=r"several releases \(autumn, spring\).*--release"):
        replace_job(session, "plain")
    before = tree(volume.root)
    run = farm(["replace", "job", "plain"])
    assert run.code == 2 and "--release" in run.err
    run = farm(["replace", "job", "plain", "--release", "winter"])
    assert run.code == 2 and "no release 'winter'" in run.err.lower()
    assert tree(volume.root) == before


def test_cli_replace_and_stale(
    planned: dict[str, Path], farm: FarmRunner, volume: Volume
) -> None:
    run = farm(["replace", "spring.jobs", "--stale"])
    assert run.code == 0 and "No job of 'spring' is stale" in run.out
    shutil.copy2(planned["plain"], planned["plain"].with_suffix(".bak"))
    planned["plain"].write_bytes(planned["plain"].read_bytes() + b"changed")
    run = farm(["status", "spring", "--json"])
    rows = {j["name"]: j for j in json.loads(run.out)["jobs"]}
    assert rows["plain"]["stale"] is True and rows["textured"]["stale"] is False
    run = farm(["replace", "spring.jobs", "--stale", "--dry-run"])
    assert run.code == 0 and "plain" in run.out
    assert RecordStore(volume).load("spring").job("plain").revision == 1
    shutil.copy2(planned["plain"].with_suffix(".bak"), planned["plain"])  # valid again
    planned["plain"].touch()
    run = farm(["replace", "job", "plain", "--json"])
    assert run.code == 0, run.err
    assert RecordStore(volume).load("spring").job("plain").revision == 2
