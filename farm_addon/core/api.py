"""The facade all three faces call: Blender's operators, the CLI and the headless scripts.
No `bpy` module use.

Each function takes the user's :class:`Settings` (and an optional :class:`Progress` for
long work), opens a :class:`FarmSession` for the call, and returns plain data; the results
of plan, seed, replace, harvest, archive, kill, slash-and-burn and the connection test carry
their own ``summary`` text, which every face shows as it is. They block:
Blender runs them on a worker thread, the CLI and scripts call them directly. Errors are
:class:`~.errors.FarmError` with messages fit for a status bar.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from .archive import run as archive
from .archive.run import ArchiveResult
from .farmwide import kill, reset
from .farmwide.kill import KillOutcome, KillOutcomes
from .farmwide.query import HELP as QUERY_HELP
from .farmwide.reset import INCLUDABLE, ResetPlan, ResetReport
from .flamenco import FlamencoClient, IncompatibleManager, Job, WorkerSummary, WorkerTag
from .flamenco.errors import FlamencoError
from .fs.names import safe_name
from .fs.volume import Volume
from .harvest import run as harvest
from .harvest.run import HarvestIncomplete, HarvestResult
from .progress import Progress
from .release import plan, replace, seed, status
from .release.plan import PlanRequest, PlanResult, looks_like_source
from .release.planfile import JobSettings
from .release.replace import ReplaceResult
from .release.seed import SeedResult
from .release.status import Overview, ReleaseStatus
from .session import FarmSession
from .settings import Settings


def init_volume(path: Path | str, name: str | None = None) -> Volume:
    """Make ``path`` a farm volume (safe to run again on one)."""
    return Volume.init(path, name)


def release_folders(volume: Path | str, releases: Iterable[str]) -> dict[str, tuple[Path, Path]]:
    """Each release's render output and delivery folders on the volume at ``volume``."""
    vol = Volume.open(volume)
    return {name: (vol.out_dir(name), vol.dist_dir(name)) for name in releases}


def safe_job_name(text: str) -> str:
    """A valid job name made from ``text`` (a file's name, say): what seeding calls it."""
    return safe_name(text)


@dataclass(frozen=True)
class Connection:
    """What the Manager answered to a connection test."""

    manager_url: str
    version: str
    compatible: bool
    verdict: str  # "" when fine, else a warning or why the Manager is refused
    farm_status: str
    workers: list[WorkerSummary] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.compatible

    @property
    def workers_online(self) -> int:
        return sum(1 for w in self.workers if w.status not in ("offline", "error"))

    @property
    def summary(self) -> str:
        """The Manager's version and the farm in one line, then the verdict if any."""
        text = (f"Flamenco Manager {self.version} at {self.manager_url}: farm "
                f"{self.farm_status}, {self.workers_online} of {len(self.workers)} workers "
                "online")
        return f"{text}. {self.verdict}" if self.verdict else text


def check_connection(settings: Settings) -> Connection:
    """Ask the Manager of ``settings`` for its version, the farm's status and its workers
    (one try, no retries; an incompatible Manager is reported, not refused)."""
    with FlamencoClient(settings.manager_url, retries=1) as client:
        handshake = client.handshake()
        return Connection(settings.manager_url, handshake.version.version,
                          handshake.compatible, handshake.message,
                          client.farm_status().status, client.workers())


def overview(settings: Settings) -> Overview:
    """The Manager (version, farm status, workers) and the volume's releases."""
    with FarmSession(settings) as session:
        return status.overview(session)


def release_status(settings: Settings, release: str, check_stale: bool = True,
                   progress: Progress | None = None) -> ReleaseStatus:
    with FarmSession(settings) as session:
        return status.release_status(session, release, check_stale, progress)


def worker_tags(settings: Settings, *, optional: bool = False) -> list[WorkerTag]:
    """The Manager's worker tags; with ``optional``, a Manager without them gives []."""
    with FarmSession(settings) as session:
        try:
            return session.client.worker_tags()
        except IncompatibleManager:
            if optional:
                return []
            raise


def last_rendered_image(settings: Settings, job_id: str | None = None) -> bytes | None:
    """The farm's last rendered image (of ``job_id``, or of any job), or None."""
    with FarmSession(settings) as session:
        return session.client.last_rendered_image(job_id)


def seed_job(
    settings: Settings,
    file: Path | None,
    job_name: str,
    *,
    frames: str | None = None,
    chunk_size: int | None = None,
    priority: int | None = None,
    worker_tag: str | None = None,
    scene: str | None = None,
    progress: Progress | None = None,
    dry_run: bool = False,
) -> SeedResult:
    """Seed ``file`` (None: the only .blend in the current folder) as the quick job
    ``job_name`` (see :mod:`.seed`); ``dry_run`` checks everything and seeds nothing."""
    with FarmSession(settings) as session:
        return seed.seed_job(session, job_name, file, frames=frames, chunk_size=chunk_size,
                             priority=priority, worker_tag=worker_tag, scene=scene,
                             progress=progress, dry_run=dry_run)


def plan_release(
    settings: Settings,
    request: PlanRequest,
    progress: Progress | None = None,
    dry_run: bool = False,
) -> PlanResult:
    with FarmSession(settings) as session:
        return plan.plan_release(session, request, progress, dry_run)


def match_jobs(settings: Settings, query: str, release: str | None = None,
               progress: Progress | None = None) -> list[Job]:
    with FarmSession(settings) as session:
        return kill.match_jobs(session, query, release, progress)


def kill_jobs(
    settings: Settings, query: str, release: str | None = None,
    progress: Progress | None = None, only_ids: Collection[str] | None = None,
    reason: str = "killed with farm",
) -> KillOutcomes:
    """Request cancellation of every job ``query`` matches (see :mod:`.query`). With
    ``only_ids`` (the jobs a person confirmed), a job that started matching since is left."""
    with FarmSession(settings) as session:
        jobs = kill.match_jobs(session, query, release, progress)
        if only_ids is not None:
            jobs = [j for j in jobs if j.id in only_ids]
        return kill.kill_jobs(session, jobs, reason, progress)


def slash_and_burn_plan(settings: Settings, include: tuple[str, ...] = ()) -> ResetPlan:
    with FarmSession(settings) as session:
        return reset.reset_plan(session, include)


def slash_and_burn(
    settings: Settings, include: tuple[str, ...] = (), progress: Progress | None = None,
    plan: ResetPlan | None = None,
) -> ResetReport:
    """Reset the farm. With ``plan`` (what a person was shown and confirmed), exactly that is
    removed; without, the plan is made now."""
    with FarmSession(settings) as session:
        return reset.slash_and_burn(session, plan or reset.reset_plan(session, include),
                                    progress)


def replace_job(
    settings: Settings, job: str, *, release: str | None = None,
    from_file: Path | None = None, progress: Progress | None = None, dry_run: bool = False,
) -> ReplaceResult:
    """Re-render ``job`` as a new revision (see :mod:`.replace`); ``dry_run`` checks
    everything and changes nothing."""
    with FarmSession(settings) as session:
        return replace.replace_job(session, job, release, from_file, progress,
                                   dry_run=dry_run)


def replace_stale(
    settings: Settings, release: str, progress: Progress | None = None, dry_run: bool = False,
) -> list[ReplaceResult]:
    """Replace the jobs of ``release`` whose source or dependencies changed since packing."""
    with FarmSession(settings) as session:
        return replace.replace_stale(session, release, progress, dry_run=dry_run)


def harvest_release(
    settings: Settings, release: str, *, template: str | None = None,
    data_file: Path | None = None, renamer: Path | None = None, partial: bool = False,
    dry_run: bool = False, progress: Progress | None = None,
) -> HarvestResult:
    """Check, rename and move a release's frames into ``dist/`` (see :mod:`.harvest`)."""
    with FarmSession(settings) as session:
        return harvest.harvest_release(session.volume, session.client, release,
                                       template=template, data_file=data_file,
                                       renamer=renamer, partial=partial, dry_run=dry_run,
                                       progress=progress)


def archive_release(
    settings: Settings, release: str, *, force: bool = False, prune: bool = False,
    dry_run: bool = False, progress: Progress | None = None,
) -> ArchiveResult:
    """Write and check ``archives/<release>.tar.gz`` (see :mod:`.archive`)."""
    with FarmSession(settings) as session:
        return archive.archive_release(session.volume, release, force=force, prune=prune,
                                       progress=progress, dry_run=dry_run)


__all__ = [
    "INCLUDABLE",
    "QUERY_HELP",
    "ArchiveResult",
    "Connection",
    "FlamencoError",
    "HarvestIncomplete",
    "HarvestResult",
    "JobSettings",
    "KillOutcome",
    "KillOutcomes",
    "Overview",
    "PlanRequest",
    "PlanResult",
    "ReleaseStatus",
    "ReplaceResult",
    "ResetPlan",
    "ResetReport",
    "SeedResult",
    "archive_release",
    "check_connection",
    "harvest_release",
    "init_volume",
    "kill_jobs",
    "last_rendered_image",
    "looks_like_source",
    "match_jobs",
    "overview",
    "plan_release",
    "release_folders",
    "release_status",
    "replace_job",
    "replace_stale",
    "safe_job_name",
    "seed_job",
    "slash_and_burn",
    "slash_and_burn_plan",
    "worker_tags",
]
