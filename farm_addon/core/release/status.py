"""Where a release stands: one row per job, from the record, the Manager and the disk.
No `bpy` module use.

Frames done are counted on the volume (the files in ``out/<job>/`` that the job's frame range
and ``######`` numbering expect), so progress is right whatever the Manager version. A job is
*stale* when its source .blend or one of its dependencies changed since it was packed.
Reading the status writes nothing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from ..blend.stamps import changed_since
from ..errors import FarmError
from ..flamenco import Job, WorkerSummary
from ..flamenco.status import FINISHED, JobStatus
from ..frames import frame_filename, parse_frames
from ..fs.volume import Volume
from ..progress import Progress
from ..session import FarmSession
from .record import JobRecord, RecordStore, ReleaseRecord
from .submit import adopt, manager_jobs


@dataclass(frozen=True)
class JobRow:
    name: str
    status: str  # the Manager's status; "planned" before submission; "missing" if deleted
    frames_done: int
    frames_total: int
    revision: int
    job_id: str | None
    stale: tuple[str, ...] = ()  # the files that changed since packing

    @property
    def finished(self) -> bool:
        return self.status in FINISHED or self.status == "missing"

    def as_dict(self) -> dict[str, object]:
        return {
            "name": self.name, "status": self.status, "job_id": self.job_id,
            "frames_done": self.frames_done, "frames_total": self.frames_total,
            "revision": self.revision, "stale": bool(self.stale),
            "stale_files": list(self.stale),
        }


@dataclass(frozen=True)
class ReleaseStatus:
    release: str
    rows: list[JobRow]

    @property
    def frames_done(self) -> int:
        return sum(r.frames_done for r in self.rows)

    @property
    def frames_total(self) -> int:
        return sum(r.frames_total for r in self.rows)

    @property
    def finished(self) -> bool:
        return all(r.finished for r in self.rows)

    @property
    def all_completed(self) -> bool:
        return bool(self.rows) and all(r.status == JobStatus.COMPLETED for r in self.rows)

    @property
    def progress(self) -> float:
        return self.frames_done / self.frames_total if self.frames_total else 0.0

    def count(self, status: str) -> int:
        return sum(1 for r in self.rows if r.status == status)

    @property
    def summary(self) -> str:
        """The release's progress in one line (the head of its table)."""
        return (f"Release {self.release}: {self.frames_done}/{self.frames_total} frames, "
                f"{self.count('completed')}/{len(self.rows)} jobs completed")

    def as_dict(self) -> dict[str, object]:
        return {
            "release": self.release, "frames_done": self.frames_done,
            "frames_total": self.frames_total, "finished": self.finished,
            "all_completed": self.all_completed, "jobs": [r.as_dict() for r in self.rows],
        }


def frames_on_disk(volume: Volume, job: JobRecord) -> tuple[int, int]:
    """(frames found, frames expected) in the job's output folder."""
    expected = parse_frames(job.frames)
    folder = volume.resolve(job.output_dir)
    try:
        present = {e.name for e in os.scandir(folder) if e.is_file()}
    except OSError:
        present = set()
    done = sum(1 for f in expected if frame_filename(folder, f, job.file_extension).name in present)
    return done, len(expected)


def _rows(volume: Volume, record: ReleaseRecord, jobs: dict[str, Job],
          check_stale: bool, progress: Progress) -> list[JobRow]:
    rows = []
    progress.start(len(record.jobs), "Reading the jobs' frames")
    for job in record.jobs:
        progress.check()
        job_id = job.job_id
        status: str
        if job_id is None:
            status = job.current.state
        elif job_id in jobs:
            status = jobs[job_id].status
        else:
            status = "missing"
        done, total = frames_on_disk(volume, job)
        stale = tuple(changed_since(job.fingerprint())) if check_stale else ()
        rows.append(JobRow(job.name, status, done, total, job.revision, job_id, stale))
        progress.advance()
    return rows


def release_status(session: FarmSession, release: str, check_stale: bool = True,
                   progress: Progress | None = None) -> ReleaseStatus:
    """The status of every job of ``release``, at its current revision."""
    progress = progress or Progress()
    volume = session.volume
    record = RecordStore(volume).load(release)  # a fresh copy: adopt() below changes only it
    progress.message("Asking the Manager about the jobs")
    found = manager_jobs(session, release)
    adopt(record, found)  # show jobs a crashed run submitted; the next writer records them
    return ReleaseStatus(release, _rows(volume, record, {j.id: j for j in found}, check_stale,
                                        progress))


@dataclass(frozen=True)
class ReleaseSummary:
    name: str
    jobs: int
    completed: int
    frames_done: int
    frames_total: int
    error: str = ""

    @property
    def progress(self) -> float:
        return self.frames_done / self.frames_total if self.frames_total else 0.0


@dataclass(frozen=True)
class Overview:
    manager_url: str
    version: str
    verdict: str  # "" when fine, else a warning or why it is refused
    farm_status: str
    workers: list[WorkerSummary] = field(default_factory=list)
    releases: list[ReleaseSummary] = field(default_factory=list)
    volume: str = ""

    @property
    def workers_online(self) -> int:
        return sum(1 for w in self.workers if w.status not in ("offline", "error"))

    def as_dict(self) -> dict[str, object]:
        return {
            "manager": {"url": self.manager_url, "version": self.version,
                        "verdict": self.verdict, "farm_status": self.farm_status,
                        "workers": [{"name": w.name, "status": w.status} for w in self.workers],
                        "workers_online": self.workers_online},
            "volume": self.volume,
            "releases": [
                {"name": r.name, "jobs": r.jobs, "completed": r.completed,
                 "frames_done": r.frames_done, "frames_total": r.frames_total,
                 "error": r.error}
                for r in self.releases
            ],
        }


def overview(session: FarmSession) -> Overview:
    """The Manager (version, farm status, workers) and the volume's releases with progress."""
    client = session.client
    handshake = client.handshake()
    volume = session.volume
    store = RecordStore(volume)
    statuses = {j.id: j.status for j in client.jobs(metadata={"farm.volume": volume.id})}
    releases = []
    for name in volume.list_releases():
        try:
            record = store.load(name)
        except FarmError as exc:
            releases.append(ReleaseSummary(name, 0, 0, 0, 0, error=str(exc)))
            continue
        done = total = completed = 0
        for job in record.jobs:
            d, t = frames_on_disk(volume, job)
            done, total = done + d, total + t
            completed += statuses.get(job.job_id or "") == JobStatus.COMPLETED
        releases.append(ReleaseSummary(name, len(record.jobs), completed, done, total))
    return Overview(
        manager_url=client.base_url, version=handshake.version.version,
        verdict=handshake.message, farm_status=client.farm_status().status,
        workers=client.workers(), releases=releases, volume=str(volume.root),
    )
