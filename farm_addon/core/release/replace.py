"""Replacing a job: the real scenario of an object that changed after planning.
No `bpy` module use.

``replace_job`` re-packs the job's source (or another file), asks the Manager to cancel the old
revision's job if it still runs and deletes it, moves the old revision's frames aside to
``releases/<release>/superseded/<job>/r<N>/`` (never mixed with the new ones, never deleted),
marks the job's delivered files superseded if the release was harvested (the next harvest
replaces them), bumps the revision and submits it. Each step is recorded before the next,
so a run killed half-way is finished by running the same command again: it resumes the new
revision instead of bumping once more, and adopts a job the Manager already has.

A job is *stale* when its source or one of its dependencies changed since it was packed
(:func:`stale_jobs`); ``farm replace RELEASE.jobs --stale`` replaces exactly those.

A dry run reads the record once and makes every check a real replace makes before it changes
anything (the release and the job, the file to render, the folders it writes, the Manager's
jobs of the release), then stops: nothing is stopped, moved, packed, written or submitted.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..blend.info import read_blend_info
from ..blend.packing import pack_blend, pack_warnings
from ..blend.stamps import PackResult, changed_since
from ..errors import BadInput, Cancelled, FarmError, reports_disk_errors
from ..flamenco import NotFound
from ..flamenco.status import CANCELLABLE, FINISHED
from ..fs.names import validate_name
from ..progress import Progress
from ..session import FarmSession
from .record import JobRecord, RecordStore, ReleaseRecord, UnknownJob, find_job
from .submit import SubmitOutcome, adopt, manager_jobs, submit_pending
from .superseded import mark_superseded


@dataclass(frozen=True)
class ReplaceResult:
    release: str
    job: str
    old_revision: int
    revision: int
    job_id: str | None
    outcome: str  # "submitted", "adopted", "failed"; "would replace" for a dry run
    moved_aside: str | None = None  # volume-relative folder of the old frames
    warnings: tuple[str, ...] = ()
    message: str = ""
    dry_run: bool = False
    changed: tuple[str, ...] = ()  # for a stale job: the files that changed since packing

    @property
    def ok(self) -> bool:
        return self.outcome != "failed"

    @property
    def summary(self) -> str:
        """One sentence on the replace (or, for a dry run, what it would do)."""
        if not self.ok:
            return f"Replacing {self.job!r} of release {self.release!r} failed: {self.message}"
        if self.dry_run:
            return (f"Dry run: would replace {self.job!r} of release {self.release!r} with "
                    f"revision {self.revision}; nothing was changed.")
        return (f"Replaced {self.job!r} of release {self.release!r}: revision "
                f"{self.old_revision} -> {self.revision}, {self.outcome}"
                + (f" as Flamenco job {self.job_id}" if self.job_id else "")
                + (f"; the old frames are in {self.moved_aside}" if self.moved_aside else "")
                + ".")


def locate_release(session: FarmSession, job: str, release: str | None) -> str:
    """The release of ``job``: ``release`` if given (its name checked), else the only release
    that has it."""
    if release is not None:
        return validate_name(release, "release name")
    found = find_job(session.volume, job)
    if not found:
        raise UnknownJob(f"No release on volume {session.volume.name!r} has a job {job!r}.")
    if len(found) > 1:
        releases = ", ".join(r for r, _ in found)
        raise BadInput(f"Job {job!r} is in several releases ({releases}); say which one "
                       "with --release.")
    return found[0][0]


def _stop_old_job(session: FarmSession, job_id: str, wait_seconds: float,
                  progress: Progress) -> None:
    """Cancel (if running) and delete the old revision's job; wait until it stopped
    writing frames. Raises FarmError if it does not stop in time."""
    client = session.client
    try:
        current = client.get_job(job_id)
    except NotFound:
        return  # already gone
    if current.status in CANCELLABLE:
        client.cancel_job(current, "replaced with a new revision by farm")
    deadline = time.monotonic() + wait_seconds
    while current.status not in FINISHED:
        if time.monotonic() > deadline:
            raise FarmError(
                f"The old job {job_id} is still {current.status} after the cancel request; "
                "nothing else was changed. Run the replace again once it stopped."
            )
        progress.check()
        time.sleep(0.2)
        try:
            current = client.get_job(job_id)
        except NotFound:
            return
    if current.delete_requested_at is None:
        with contextlib.suppress(NotFound):
            client.delete_job(current)


def _check_paths(session: FarmSession, record: ReleaseRecord, job: JobRecord) -> None:
    """OutsideVolume if any place the replace writes leads out of the volume, before the old
    job is stopped or a frame moved."""
    volume = session.volume
    volume.check_inside(volume.resolve(job.output_dir))
    volume.check_inside(volume.store_dir(record.name))
    volume.check_inside(volume.release_dir(record.name) / "superseded" / job.name)
    volume.check_inside(volume.dist_dir(record.name))  # the manifest marks superseded files


def _move_frames_aside(session: FarmSession, record: ReleaseRecord, job: JobRecord) -> str | None:
    volume = session.volume
    out = volume.check_inside(volume.resolve(job.output_dir))
    target = volume.check_inside(
        volume.release_dir(record.name) / "superseded" / job.name / f"r{job.revision}")
    if not out.is_dir() or not any(out.iterdir()):
        # A replace killed after moving the frames, before recording it: they are there.
        return volume.relpath(target) if target.is_dir() else None
    if target.exists():  # a killed run moved some frames already: keep both, never overwrite
        target = target.with_name(f"r{job.revision}-{time.strftime('%Y%m%d-%H%M%S')}")
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(out, target)
    out.mkdir()
    return volume.relpath(target)


def _checked(session: FarmSession, record: ReleaseRecord, job_name: str,
             from_file: Path | None, ask_manager: bool = True) -> tuple[JobRecord, Path]:
    """The job and the .blend to render, checked before anything changes: the job is in the
    record, the file is a readable .blend that renders frames, every place the replace
    writes is inside the volume, and the Manager answers (its jobs of the release are adopted
    into ``record``, which only the caller saves; without ``ask_manager`` the caller did
    that already, once for every job it replaces)."""
    job = record.job(job_name)
    source = Path(from_file) if from_file is not None else Path(job.source)
    info = read_blend_info(source, job.scene)  # BadBlendFile before anything changes
    if info.scene.is_video:
        raise BadInput(f"{source.name}: scene {job.scene!r} renders a video; farm renders "
                       "frames.")
    _check_paths(session, record, job)  # a folder linked out of the volume: refused now
    if ask_manager:
        adopt(record, manager_jobs(session, record.name))
    return job, source


@reports_disk_errors("replace the job")
def replace_job(
    session: FarmSession,
    job_name: str,
    release: str | None = None,
    from_file: Path | None = None,
    progress: Progress | None = None,
    wait_seconds: float = 60.0,
    dry_run: bool = False,
) -> ReplaceResult:
    """Re-render ``job_name`` as a new revision; with ``dry_run``, check everything a
    replace checks and stop there."""
    release = locate_release(session, job_name, release)
    return _replace(session, release, job_name, from_file, progress, wait_seconds, dry_run)


@reports_disk_errors("replace the job")
def _replace(
    session: FarmSession, release: str, job_name: str, from_file: Path | None,
    progress: Progress | None, wait_seconds: float, dry_run: bool,
) -> ReplaceResult:
    """:func:`replace_job` for the checked name of the job's release."""
    progress = progress or Progress()
    store = RecordStore(session.volume)
    if dry_run:
        return _would_replace(session, store.load(release), job_name, from_file)
    with store.transaction(release, what=f"replacing {job_name} in {release}") as record:
        step = _new_revision(session, store, record, job_name, from_file, progress,
                             wait_seconds)
        step.record_pack()
        store.save(record)
        outcomes = submit_pending(session, store, record, progress)
    return step.result(outcomes)


def _would_replace(session: FarmSession, record: ReleaseRecord, job_name: str,
                   from_file: Path | None, ask_manager: bool = True) -> ReplaceResult:
    """What a replace of ``job_name`` would do, checked as a replace checks; nothing saved."""
    job, _ = _checked(session, record, job_name, from_file, ask_manager)
    old = job.current
    resuming = old.job_id is None and old.number > 1
    return ReplaceResult(record.name, job_name, old.number,
                         old.number if resuming else old.number + 1, old.job_id,
                         "would replace", dry_run=True)


@dataclass
class _Step:
    """A job brought to its new revision and packed; the pack not yet recorded (until then
    the job stays stale, so a replace killed before submitting repeats it), not submitted."""

    release: str
    job: JobRecord
    old_number: int
    moved: str | None
    source: Path
    packed: PackResult

    @property
    def warnings(self) -> tuple[str, ...]:
        return tuple(pack_warnings(self.packed))

    def record_pack(self) -> None:
        self.job.source = str(self.source.resolve())
        self.job.record_pack(self.packed)

    def result(self, outcomes: list[SubmitOutcome]) -> ReplaceResult:
        mine = next((o for o in outcomes if o.name == self.job.name),
                    SubmitOutcome(self.job.name, self.job.revision, self.job.job_id, "adopted"))
        return ReplaceResult(self.release, self.job.name, self.old_number, self.job.revision,
                             mine.job_id, mine.outcome, self.moved,
                             self.warnings, mine.message)


@reports_disk_errors("replace the job")
def _new_revision(
    session: FarmSession, store: RecordStore, record: ReleaseRecord, job_name: str,
    from_file: Path | None, progress: Progress, wait_seconds: float,
) -> _Step:
    """Inside the caller's transaction: stop the old revision, move its frames aside, record
    the new revision (saved before anything new exists), pack it. The caller records the
    pack, saves and submits."""
    closed = _close_old(session, record, job_name, from_file, progress, wait_seconds)
    if not closed.resuming:
        store.save(record)  # the old revision is closed before anything new exists
    return _pack_new(session, record, closed, progress)


@dataclass
class _Closed:
    """A job whose old revision is closed (``resuming``: a killed run had closed it)."""

    job: JobRecord
    source: Path
    old_number: int
    moved: str | None
    resuming: bool = False


@reports_disk_errors("replace the job")
def _close_old(
    session: FarmSession, record: ReleaseRecord, job_name: str, from_file: Path | None,
    progress: Progress, wait_seconds: float, ask_manager: bool = True,
) -> _Closed:
    """Check the job, stop its old revision, move its frames aside, start its new revision in
    ``record`` (the caller saves it before anything new exists)."""
    release = record.name
    job, source = _checked(session, record, job_name, from_file, ask_manager)
    old = job.current
    if old.job_id is None and old.number > 1:
        return _Closed(job, source, old.number, None, resuming=True)
    if old.job_id is not None:
        progress.message(f"Stopping revision {old.number} of {job_name}")
        _stop_old_job(session, old.job_id, wait_seconds, progress)
    moved = _move_frames_aside(session, record, job)
    delivered = mark_superseded(session.volume, release, job.name, old.number)
    if delivered:
        progress.message(f"{delivered} delivered file(s) of {job_name} are marked "
                         "superseded; the next harvest replaces them.")
    old.state = "superseded"
    old.superseded_dir = moved
    job.new_revision(old.source_sha256)
    return _Closed(job, source, old.number, moved)


@reports_disk_errors("replace the job")
def _pack_new(session: FarmSession, record: ReleaseRecord, closed: _Closed,
              progress: Progress) -> _Step:
    job = closed.job
    progress.message(f"Packing {closed.source.name} as revision {job.revision} of {job.name}")
    packed = pack_blend(closed.source, session.volume, session.volume.store_dir(record.name),
                        job.name, progress, replace=True)
    return _Step(record.name, job, closed.old_number, closed.moved, closed.source, packed)


def stale_jobs(session: FarmSession, release: str,
               progress: Progress | None = None) -> dict[str, list[str]]:
    """Jobs of ``release`` whose source or dependencies changed since packing, with the
    files that changed."""
    return _stale_in(RecordStore(session.volume).load(release), progress or Progress())


def _stale_in(record: ReleaseRecord, progress: Progress) -> dict[str, list[str]]:
    stale = {}
    progress.start(len(record.jobs), "Checking sources")
    for job in record.jobs:
        progress.check()
        changed = changed_since(job.fingerprint())
        if changed:
            stale[job.name] = changed
        progress.advance()
    return stale


@reports_disk_errors("replace the stale jobs")
def replace_stale(
    session: FarmSession, release: str, progress: Progress | None = None,
    wait_seconds: float = 60.0, dry_run: bool = False,
) -> list[ReplaceResult]:
    """Replace exactly the stale jobs of ``release``; one result each (failures included),
    with the files that changed.

    One transaction for them all: the record is read once and the Manager's jobs listed once
    (not once per stale job), each job's old revision is closed and saved before its new one
    is packed, and the new revisions are submitted together at the end."""
    release = validate_name(release, "release name")
    progress = progress or Progress()
    store = RecordStore(session.volume)
    if dry_run:
        record = store.load(release)
        stale = _stale_in(record, progress)
        if stale:
            adopt(record, manager_jobs(session, release))
        return [_one_stale(lambda name: _would_replace(session, record, name, None, False),
                           release, name, changed, dry_run)
                for name, changed in stale.items()]
    if not _stale_in(store.load(release), progress):  # nothing to do: no lock, no write
        return []
    with store.transaction(release, what=f"replacing the stale jobs of {release}") as record:
        stale = _stale_in(record, progress)  # again under the lock: what another one did
        adopt(record, manager_jobs(session, release))
        steps: dict[str, _Step] = {}
        results: dict[str, ReplaceResult] = {}
        changes = {name: tuple(changed) for name, changed in stale.items()}

        def failed(name: str, exc: FarmError) -> None:
            results[name] = ReplaceResult(release, name, 0, 0, None, "failed",
                                          message=str(exc), changed=changes[name])

        # 1. Every old revision closed, then saved once (not once per job: each save writes
        # the whole record). A run killed before that save leaves old revisions whose jobs
        # are gone and whose frames are aside; the next run finds both and closes them.
        closed: list[_Closed] = []
        refused: BadInput | None = None
        try:
            for name in stale:
                progress.check()
                try:
                    closed.append(_close_old(session, record, name, None, progress,
                                             wait_seconds, ask_manager=False))
                except BadInput as exc:  # checked before it changed anything: stop at this
                    refused = exc        # job; the jobs before it are still replaced
                    break
                except Cancelled:
                    raise
                except FarmError as exc:
                    failed(name, exc)
        finally:
            if closed:
                store.save(record)  # also when cancelled: what was closed is recorded
        # 2. Each new revision packed (recorded below, just before the one submission).
        for one in closed:
            progress.check()
            try:
                steps[one.job.name] = _pack_new(session, record, one, progress)
            except Cancelled:
                raise
            except FarmError as exc:
                failed(one.job.name, exc)
        # The packs are recorded only now: the closing save of one job writes the others
        # too, and a job recorded as packed but not submitted would no longer look stale.
        for step in steps.values():
            step.record_pack()
        # A job whose replace failed stays as recorded (the next replace resumes it).
        outcomes = (submit_pending(session, store, record, progress, skip=set(results))
                    if steps else [])
    if refused is not None:
        raise refused
    done = {name: dataclasses.replace(step.result(outcomes), changed=changes[name])
            for name, step in steps.items()}
    return [done.get(name) or results[name] for name in stale if name in done or name in results]


def _one_stale(replace: Callable[[str], ReplaceResult], release: str, name: str,
               changed: list[str], dry_run: bool) -> ReplaceResult:
    """``replace(name)`` with the changed files; a FarmError becomes a failed result (bad
    input still stops everything)."""
    try:
        result = replace(name)
    except (BadInput, Cancelled):
        raise
    except FarmError as exc:
        result = ReplaceResult(release, name, 0, 0, None, "failed", message=str(exc),
                               dry_run=dry_run)
    return dataclasses.replace(result, changed=tuple(changed))
