"""Releases of many jobs: what costs once per release stays once (the record read, the
Manager's jobs listed), adding jobs is one pass, and the long loops report progress."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from farm_addon.core.errors import BadInput, Cancelled
from farm_addon.core.farmwide.kill import match_jobs
from farm_addon.core.fs.volume import Volume
from farm_addon.core.progress import Progress
from farm_addon.core.release import replace as replace_module
from farm_addon.core.release import submit as submit_module
from farm_addon.core.release.plan import PlanRequest, plan_release
from farm_addon.core.release.record import JobRecord, RecordStore, ReleaseRecord
from farm_addon.core.release.replace import replace_stale
from farm_addon.core.release.status import release_status
from farm_addon.core.session import FarmSession
from tests.emulator import Emulator

pytestmark = [pytest.mark.timeout(120), pytest.mark.emulator(worker="instant")]

JOBS = ("a", "b", "c", "d")


class Labels(Progress):
    """The labels of every loop started, with how far each went."""

    def __init__(self) -> None:
        super().__init__()
        self.loops: list[tuple[str, int]] = []
        self.messages: list[str] = []

    def on_update(self) -> None:
        if self.loops and self.loops[-1][0] == self.label and self.done:
            self.loops[-1] = (self.label, self.done)
        elif not self.done:
            self.loops.append((self.label, 0))

    def on_message(self, text: str) -> None:
        self.messages.append(text)


def job(name: str) -> JobRecord:
    return JobRecord(name=name, source=f"/src/{name}.blend", source_sha256="0" * 64,
                     stored_blend=f"releases/r/store/{name}.blend", frames="1-3", scene="S",
                     output_format="PNG", file_extension=".png",
                     output_dir=f"releases/r/out/{name}/", revisions=[])


def test_add_jobs_checks_names_in_one_pass_and_adds_none_on_a_clash() -> None:
    record = ReleaseRecord(name="r", jobs=[job("chair")])
    record.add_jobs([job("lamp"), job("table")])
    assert record.job_names == ["chair", "lamp", "table"]
    with pytest.raises(BadInput, match="same file on Windows"):
        record.add_jobs([job("sofa"), job("Chair")])
    with pytest.raises(BadInput, match="already has a job 'sofa'"):
        record.add_jobs([job("sofa"), job("sofa")])
    assert record.job_names == ["chair", "lamp", "table"]  # nothing of a refused batch
    record.add_job(job("sofa"))
    assert record.job_names[-1] == "sofa"


@pytest.fixture
def planned(session: FarmSession, work_blend: Callable[..., Path], work: Path,
            emulator: Emulator) -> dict[str, Path]:
    """Release 'many' with four plain jobs, rendered."""
    sources = {name: work_blend("simple", f"{name}.blend", "src") for name in JOBS}
    plan_release(session, PlanRequest(release="many", sources=[str(p) for p in sources.values()],
                                      cwd=work))
    emulator.run_worker()
    return sources


def test_replace_stale_reads_the_record_and_lists_the_manager_once_for_all_jobs(
    session: FarmSession, volume: Volume, planned: dict[str, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("a", "c", "d"):
        planned[name].write_bytes(planned[name].read_bytes() + b"changed")
    listings: list[str] = []
    loads: list[str] = []
    real_list, real_load = submit_module.manager_jobs, RecordStore.load

    def counting_list(session: FarmSession, release: str) -> object:
        listings.append(release)
        return real_list(session, release)

    def counting_load(self: RecordStore, release: str) -> ReleaseRecord:
        loads.append(release)
        return real_load(self, release)

    monkeypatch.setattr(replace_module, "manager_jobs", counting_list)
    monkeypatch.setattr(submit_module, "manager_jobs", counting_list)
    monkeypatch.setattr(RecordStore, "load", counting_load)
    progress = Labels()

    results = replace_stale(session, "many", progress)

    assert [(r.job, r.revision, r.outcome) for r in results] == [
        ("a", 2, "submitted"), ("c", 2, "submitted"), ("d", 2, "submitted")]
    assert all(r.changed for r in results)
    # Once to look, once under the lock; the Manager: adopt once, and submit_pending once.
    assert len(loads) == 2 and len(listings) == 2
    assert ("Checking sources", len(JOBS)) in progress.loops
    record = RecordStore(volume).load("many")
    assert [record.job(n).revision for n in JOBS] == [2, 1, 2, 2]
    assert all(record.job(n).job_id for n in JOBS)
    assert replace_stale(session, "many") == []


def test_replace_stale_cancelled_leaves_what_a_rerun_finishes(
    session: FarmSession, volume: Volume, planned: dict[str, Path],
) -> None:
    for name in ("a", "b"):
        planned[name].write_bytes(planned[name].read_bytes() + b"changed")

    class CancelAtSecond(Progress):
        def message(self, text: str) -> None:
            if text.startswith("Packing") and "of b" in text:
                self.cancel()

    with pytest.raises(Cancelled):
        replace_stale(session, "many", CancelAtSecond())
    results = replace_stale(session, "many")
    assert sorted((r.job, r.revision, r.outcome) for r in results) == [
        ("a", 2, "submitted"), ("b", 2, "submitted")]
    record = RecordStore(volume).load("many")
    assert [r.state for r in record.job("a").revisions] == ["superseded", "submitted"]


def test_status_and_matching_report_progress(
    session: FarmSession, planned: dict[str, Path]
) -> None:
    progress = Labels()
    status = release_status(session, "many", progress=progress)
    assert len(status.rows) == len(JOBS)
    assert ("Reading the jobs' frames", len(JOBS)) in progress.loops
    assert progress.messages == ["Asking the Manager about the jobs"]
    progress = Labels()
    assert len(match_jobs(session, "*", "many", progress)) == len(JOBS)
    assert progress.loops[-1][0] == "Matching" and progress.loops[-1][1] >= len(JOBS)


def test_replace_stale_killed_before_its_one_closing_save_is_finished_by_a_rerun(
    session: FarmSession, volume: Volume, planned: dict[str, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("a", "c"):
        planned[name].write_bytes(planned[name].read_bytes() + b"changed")
    real_save = RecordStore.save

    def killed(self: RecordStore, record: ReleaseRecord) -> None:
        raise KeyboardInterrupt  # as if killed: the old jobs are stopped, the frames aside

    monkeypatch.setattr(RecordStore, "save", killed)
    with pytest.raises(KeyboardInterrupt):
        replace_stale(session, "many")
    monkeypatch.setattr(RecordStore, "save", real_save)
    assert RecordStore(volume).load("many").job("a").revision == 1  # nothing recorded

    results = replace_stale(session, "many")

    assert [(r.job, r.revision, r.outcome) for r in results] == [
        ("a", 2, "submitted"), ("c", 2, "submitted")]
    record = RecordStore(volume).load("many")
    for name in ("a", "c"):
        first = record.job(name).revisions[0]
        assert first.superseded_dir == f"releases/many/superseded/{name}/r1"
        assert any((volume.root / first.superseded_dir).iterdir())  # the frames, found
