"""Killing jobs: find them with a query, then request their cancellation. No `bpy` module use.

Cancellation is a *request* (``cancel-requested``), sent only where Flamenco allows it
(active, failed, paused, pause-requested, queued). Every job gets its own outcome: a job
that is already finished is skipped, and one failure never hides the others.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..flamenco import Job, TransitionRefused
from ..flamenco.status import CANCELLABLE
from ..progress import Progress
from ..release.record import UnknownRelease
from ..session import FarmSession
from .query import JobFacts, parse_query


@dataclass(frozen=True)
class KillOutcome:
    job_id: str
    name: str
    release: str
    status: str
    #: "cancel requested", "skipped" or "failed"
    outcome: str
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.outcome != "failed"


class KillOutcomes(list[KillOutcome]):
    """One outcome per job, in order, with a summary of them all."""

    @property
    def ok(self) -> bool:
        return all(o.ok for o in self)

    @property
    def summary(self) -> str:
        """How many jobs were asked to cancel, skipped, or could not be."""
        requested = sum(1 for o in self if o.outcome == "cancel requested")
        skipped = sum(1 for o in self if o.outcome == "skipped")
        failed = len(self) - requested - skipped
        text = f"Requested cancellation of {requested} job(s)" + (
            f"; {skipped} skipped" if skipped else "") + "."
        if failed:
            text += f" {failed} of {len(self)} job(s) could not be cancelled; see above."
        return text


def facts(job: Job) -> JobFacts:
    return JobFacts(id=job.id, name=job.name, status=job.status, metadata=job.metadata or {})


def require_release(session: FarmSession, release: str) -> None:
    known = session.volume.list_releases()
    if release not in known:
        listed = ", ".join(known) if known else "none yet"
        raise UnknownRelease(
            f"Unknown release {release!r} on volume {session.volume.name!r}. "
            f"Releases: {listed}."
        )


def match_jobs(session: FarmSession, query: str, release: str | None = None,
               progress: Progress | None = None) -> list[Job]:
    """The Manager's jobs that match ``query`` (and belong to ``release`` when given)."""
    progress = progress or Progress()
    parsed = parse_query(query, release=release)
    if release is not None:
        require_release(session, release)
    progress.message("Asking the Manager for its jobs")
    jobs = session.client.jobs()
    if release is not None:
        volume_id = session.volume.id
        jobs = [j for j in jobs if (j.metadata or {}).get("farm.volume") == volume_id]
    matched = []
    progress.start(len(jobs), "Matching")
    for job in jobs:
        progress.check()
        if parsed.matches(facts(job)):
            matched.append(job)
        progress.advance()
    return sorted(matched, key=lambda j: (j.name, j.id))


def kill_jobs(
    session: FarmSession,
    jobs: list[Job],
    reason: str = "killed with farm",
    progress: Progress | None = None,
) -> KillOutcomes:
    """Request cancellation of ``jobs``; one outcome per job, in order."""
    progress = progress or Progress()
    outcomes: dict[str, KillOutcome] = {}
    to_cancel: list[Job] = []
    for job in jobs:
        meta = job.metadata or {}
        if job.status in CANCELLABLE:
            to_cancel.append(job)
        else:
            outcomes[job.id] = KillOutcome(
                job.id, facts(job).farm_name, meta.get("farm.release", ""), job.status,
                "skipped", f"already {job.status}",
            )
    results = session.client.cancel_many([j.id for j in to_cancel], reason, progress)
    for job, result in zip(to_cancel, results, strict=True):
        meta = job.metadata or {}
        name, release = facts(job).farm_name, meta.get("farm.release", "")
        if result.ok:
            outcomes[job.id] = KillOutcome(job.id, name, release, job.status, "cancel requested")
        elif isinstance(result.error, TransitionRefused):
            outcomes[job.id] = KillOutcome(job.id, name, release, job.status, "skipped",
                                           str(result.error))
        else:
            outcomes[job.id] = KillOutcome(job.id, name, release, job.status, "failed",
                                           str(result.error))
    return KillOutcomes(outcomes[j.id] for j in jobs)
