"""The emulated Manager's database: jobs, tasks, workers and worker tags, behind one lock."""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

JOB_STATUSES = ("active", "canceled", "completed", "failed", "paused", "pause-requested",
                "queued", "cancel-requested", "requeueing", "under-construction")
TASK_STATUSES = ("active", "canceled", "completed", "failed", "queued", "soft-failed", "paused")


def utcnow() -> datetime:
    return datetime.now(UTC)


def timestamp(moment: datetime) -> str:
    """RFC 3339 with microseconds, as the API sends date-times."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def new_uuid() -> str:
    return str(uuid.uuid4())


def is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return len(text) == 36


@dataclass
class Task:
    """One task of a job, before variable expansion."""

    id: str
    job_id: str
    name: str
    task_type: str
    index_in_job: int
    commands: list[dict[str, Any]]
    steps_total: int
    priority: int = 50
    status: str = "queued"
    activity: str = ""
    steps_completed: int = 0
    depends_on: list[str] = field(default_factory=list)
    worker_id: str | None = None
    created: datetime = field(default_factory=utcnow)
    updated: datetime = field(default_factory=utcnow)
    last_touched: datetime | None = None
    failed_by_workers: list[str] = field(default_factory=list)
    log: list[str] = field(default_factory=list)

    def touch(self) -> None:
        self.updated = utcnow()

    def add_log(self, line: str) -> None:
        for part in line.rstrip("\n").split("\n"):
            self.log.append(f"{timestamp(utcnow())}: {part}")


@dataclass
class Job:
    """One job as the Manager stores it (settings already rewritten for two-way variables)."""

    id: str
    name: str
    type: str
    priority: int
    submitter_platform: str
    settings: dict[str, Any]
    metadata: dict[str, str]
    type_etag: str | None = None
    worker_tag: str | None = None
    shaman_checkout_id: str | None = None
    status: str = "under-construction"
    activity: str = ""
    created: datetime = field(default_factory=utcnow)
    updated: datetime = field(default_factory=utcnow)
    delete_requested_at: datetime | None = None
    task_ids: list[str] = field(default_factory=list)
    last_rendered: bytes | None = None  # PNG of the last frame a worker produced
    last_rendered_path: str | None = None  # where that frame was written

    def touch(self) -> None:
        self.updated = utcnow()


@dataclass
class WorkerTag:
    id: str
    name: str
    description: str = ""


@dataclass
class Worker:
    id: str
    name: str
    status: str = "awake"
    platform: str = "linux"
    tag_ids: list[str] = field(default_factory=list)
    supported_task_types: list[str] = field(
        default_factory=lambda: ["blender", "ffmpeg", "file-management", "misc"])
    current_task: str | None = None
    last_seen: datetime = field(default_factory=utcnow)
    status_change: dict[str, Any] | None = None
    sleep_schedule: dict[str, Any] | None = None


@dataclass
class Store:
    """All state, guarded by ``lock`` (re-entrant; hold it for every read-modify-write)."""

    lock: threading.RLock = field(default_factory=threading.RLock)
    jobs: dict[str, Job] = field(default_factory=dict)
    tasks: dict[str, Task] = field(default_factory=dict)
    workers: dict[str, Worker] = field(default_factory=dict)
    tags: dict[str, WorkerTag] = field(default_factory=dict)
    last_rendered_job: str | None = None

    def job_tasks(self, job: Job) -> list[Task]:
        return [self.tasks[tid] for tid in job.task_ids if tid in self.tasks]

    def delete_job(self, job_id: str) -> Job | None:
        """Really remove a job and its tasks (render output on disk stays)."""
        job = self.jobs.pop(job_id, None)
        if job is None:
            return None
        for tid in job.task_ids:
            self.tasks.pop(tid, None)
        if self.last_rendered_job == job_id:
            self.last_rendered_job = None
        return job

    def find_tag(self, id_or_name: str) -> WorkerTag | None:
        if id_or_name in self.tags:
            return self.tags[id_or_name]
        return next((t for t in self.tags.values() if t.name == id_or_name), None)
