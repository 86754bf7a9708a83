"""Submitting a release's jobs, and reconciling the record with the Manager. No `bpy` module use.

The record says what farm intended; the Manager says what happened. A job's revision is
marked ``submitting`` (and the record saved) before it is sent, and gets its Flamenco id after.
If farm dies in between, or the connection drops after the Manager stored the job, the next
command finds that job by its metadata (``farm.release``, ``farm.job``, ``farm.revision``,
``farm.volume``) and adopts it. A job is never submitted twice.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from ..errors import BadInput, FarmError
from ..flamenco import FlamencoClient, Job, NotFound, SubmittedJob, current_platform
from ..fs.volume import Volume
from ..progress import Progress
from ..session import FarmSession
from ..settings import Settings
from .record import JobRecord, RecordStore, ReleaseRecord, now


@dataclass(frozen=True)
class SubmitOutcome:
    name: str
    revision: int
    job_id: str | None
    #: "submitted", "adopted" (found on the Manager after a crash) or "failed"
    outcome: str
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.outcome != "failed"


def user_metadata(settings: Settings) -> dict[str, str]:
    """Flamenco's conventional ``project``, ``user.name`` and ``user.email``, where set."""
    return {
        key: value
        for key, value in (
            ("project", settings.project),
            ("user.name", settings.user_name),
            ("user.email", settings.user_email),
        )
        if value
    }


def job_metadata(
    record: ReleaseRecord, job: JobRecord, settings: Settings, volume: Volume
) -> dict[str, str]:
    """The metadata a job carries on the Manager.

    The job's own metadata (from the plan) may set ``project`` or ``user.*``; the ``farm.*``
    keys that tie a Manager job to this record always win.
    """
    metadata = user_metadata(settings)
    metadata.update(job.metadata)
    metadata.update({
        "farm.release": record.name,
        "farm.job": job.name,
        "farm.revision": str(job.revision),
        "farm.volume": volume.id,
    })
    return metadata


def require_job_type(client: FlamencoClient, job_type: str) -> None:
    """BadInput unless the Manager knows ``job_type`` (checked before anything is written)."""
    try:
        client.job_type(job_type)
    except NotFound as exc:
        raise BadInput(f"The Manager has no job type {job_type!r}, which farm "
                       "submits. Check the Manager's job types.") from exc


def job_settings(volume: Volume, job: JobRecord) -> dict[str, object]:
    """The ``simple-blender-render`` settings for ``job``, with paths as this machine sees the
    volume (the Manager's two-way variables map them for workers on other systems).

    No ``fps`` is sent, so Flamenco makes no preview video: a release delivers frames."""
    return render_settings(
        out_dir=volume.resolve(job.output_dir), blendfile=volume.resolve(job.stored_blend),
        frames=job.frames, chunk_size=job.chunk_size, fmt=job.output_format,
        extension=job.file_extension, has_previews=job.has_previews, scene=job.scene,
    )


def render_settings(
    *, out_dir: Path, blendfile: Path, frames: str, chunk_size: int, fmt: str, extension: str,
    has_previews: bool, scene: str,
) -> dict[str, object]:
    """Settings of Flamenco's ``simple-blender-render`` that render ``frames`` of ``blendfile``
    to ``out_dir/######<extension>``."""
    return {
        "frames": frames,
        "chunk_size": chunk_size,
        "render_output_root": str(out_dir),
        "add_path_components": 0,
        "render_output_path": str(out_dir / "######"),
        "blendfile": str(blendfile),
        "format": fmt,
        "image_file_extension": extension,
        "has_previews": has_previews,
        "scene": scene,
    }


def submission(
    session: FarmSession, record: ReleaseRecord, job: JobRecord, tag_ids: dict[str, str]
) -> SubmittedJob:
    return SubmittedJob(
        name=f"{record.name}/{job.name}",
        type=job.job_type,
        priority=job.priority,
        submitter_platform=current_platform(),
        settings=job_settings(session.volume, job),
        metadata=job_metadata(record, job, session.settings, session.volume),
        worker_tag=tag_ids[job.worker_tag] if job.worker_tag else None,
    )


def manager_jobs(session: FarmSession, release: str) -> list[Job]:
    """The Manager's jobs of ``release`` on this volume (not those awaiting deletion)."""
    return session.client.jobs(
        metadata={"farm.release": release, "farm.volume": session.volume.id}
    )


def adopt(record: ReleaseRecord, found: list[Job]) -> list[str]:
    """Give each job whose current revision has no Flamenco id the id of the Manager job made
    for it. Returns the names of the jobs adopted."""
    by_key = {((j.metadata or {}).get("farm.job"), (j.metadata or {}).get("farm.revision")): j
              for j in sorted(found, key=lambda j: j.created)}
    adopted: list[str] = []
    for job in record.jobs:
        revision = job.current
        if revision.job_id is not None:
            continue
        match = by_key.get((job.name, str(job.revision)))
        if match is not None:
            revision.job_id = match.id
            revision.state = "submitted"
            revision.submitted_at = match.created
            adopted.append(job.name)
    return adopted


def pending(record: ReleaseRecord) -> list[JobRecord]:
    """Jobs whose current revision has not reached the Manager yet."""
    return [job for job in record.jobs if job.current.job_id is None]


def submit_pending(
    session: FarmSession,
    store: RecordStore,
    record: ReleaseRecord,
    progress: Progress | None = None,
    skip: Collection[str] = (),
) -> list[SubmitOutcome]:
    """Submit every job of ``record`` not yet on the Manager (but those named in ``skip``).
    The caller holds the record's lock (inside ``store.transaction``); the record is saved
    before and after sending."""
    progress = progress or Progress()
    outcomes: list[SubmitOutcome] = []
    first = adopt(record, manager_jobs(session, record.name))
    if first:
        by_name = {job.name: job for job in record.jobs}
        for name in first:
            job = by_name[name]
            outcomes.append(SubmitOutcome(name, job.revision, job.job_id, "adopted"))
    todo = [job for job in pending(record) if job.name not in skip]
    if not todo:
        store.save(record)
        return outcomes
    client = session.client
    tags = sorted({job.worker_tag for job in todo if job.worker_tag})
    tag_ids = {tag: client.worker_tag_id(tag) for tag in tags}
    bodies = [submission(session, record, job, tag_ids) for job in todo]
    for job in todo:
        job.current.state = "submitting"
    store.save(record)  # from here on, a crash is healed by adopt()
    results = client.submit_many(bodies, progress)
    failed: list[tuple[JobRecord, BaseException | None]] = []
    for job, result in zip(todo, results, strict=True):
        if result.ok and result.value is not None:
            revision = job.current
            revision.job_id = result.value.id
            revision.state = "submitted"
            revision.submitted_at = now()
            outcomes.append(SubmitOutcome(job.name, job.revision, result.value.id, "submitted"))
        else:
            failed.append((job, result.error))
    if failed:
        # The Manager may have stored a job although the answer was lost: look before
        # calling it failed, so that the next run does not submit it again.
        try:
            adopted = set(adopt(record, manager_jobs(session, record.name)))
        except FarmError:  # the Manager is gone again; the next run adopts
            adopted = set()
        for job, error in failed:
            if job.name in adopted:
                outcomes.append(SubmitOutcome(job.name, job.revision, job.job_id, "adopted"))
            else:
                job.current.state = "planned"
                outcomes.append(SubmitOutcome(job.name, job.revision, None, "failed", str(error)))
    store.save(record)
    return outcomes
