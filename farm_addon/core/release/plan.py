"""Planning a release: sources and plan files -> checked jobs -> packed store -> submissions.
No `bpy` module use.

Order matters, so that a mistake costs nothing:

1. every source is expanded, named, read (frame range, scene, output format, with Blender
   Asset Tracer) and checked, and every job is dry-compiled by the Manager (``jobs/check``);
2. every .blend is packed with its dependencies into ``store/``; if one fails, what this run
   packed is removed again and nothing is recorded or submitted;
3. the record is written, then the jobs are submitted (see :mod:`.submit`).

A plan interrupted after step 3 began is finished by running the same command again.

Data flows one way: :func:`plan_release` reads the plan file and the release's record once,
checks the release's name once, and hands the checked values down; only the transaction
reads the record again, under the release's lock, to see what another process did meanwhile.
"""

from __future__ import annotations

import contextlib
import functools
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from ..blend.info import BlendInfo, read_blend_info
from ..blend.packing import pack_blend, pack_warnings, remove_packed, sweep_store
from ..errors import BadInput, reports_disk_errors
from ..flamenco.bulk import run_bulk
from ..fs.atomic import sweep_temps
from ..fs.names import casefold_collisions, fold, validate_name
from ..fs.pool import sweep_unused
from ..fs.volume import Volume
from ..progress import Progress
from ..session import FarmSession
from .jobspec import job_record, merge_settings
from .planfile import JobSettings, PlanFile, load_plan_file
from .record import DEFAULT_JOB_TYPE, JobRecord, PlannedFrom, RecordStore, ReleaseRecord
from .sources import Source, expand_sources
from .submit import SubmitOutcome, pending, require_job_type, submission, submit_pending


class ReleaseExists(BadInput):
    """Planning a release that already exists, without ``add``."""


@dataclass
class PlanRequest:
    """What the user asked for, from the CLI or Blender's Plan Release dialog."""

    release: str | None = None
    sources: list[str] = field(default_factory=list)
    plan_file: Path | None = None
    add: bool = False
    cwd: Path = field(default_factory=Path.cwd)
    name_template: str | None = None
    naming: str | None = None
    #: Settings for every job; a plan file's [jobs.NAME] tables still win for their job.
    overrides: JobSettings = field(default_factory=JobSettings)


@dataclass
class PlanResult:
    release: str
    jobs: list[SubmitOutcome]
    warnings: list[str]
    resumed: bool = False
    dry_run: bool = False
    planned: list[JobRecord] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(o.ok for o in self.jobs)

    @property
    def summary(self) -> str:
        """One sentence on what was planned (or, for a dry run, what would be)."""
        if self.dry_run:
            return (f"Dry run: release {self.release!r} would get {len(self.planned)} job(s); "
                    "nothing was packed or submitted.")
        done = sum(1 for o in self.jobs if o.ok)
        verb = "Finished planning" if self.resumed else "Planned"
        text = f"{verb} release {self.release!r}: {done} of {len(self.jobs)} job(s) on the farm."
        failed = [o for o in self.jobs if not o.ok]
        if failed:
            text += (f" {len(failed)} could not be submitted; run the same command again to "
                     "retry them (nothing is submitted twice).")
        return text


def propose_release_name(existing: list[str], when: datetime | None = None) -> str:
    """``release-2026-11-27``, or ``release-2026-11-27-2`` when that exists."""
    base = f"release-{(when or datetime.now()):%Y-%m-%d}"
    taken = set(existing)
    if base not in taken:
        return base
    n = 2
    while f"{base}-{n}" in taken:
        n += 1
    return f"{base}-{n}"


def looks_like_source(text: str, cwd: Path) -> bool:
    """Whether a positional argument is a source rather than a release name."""
    return (
        any(ch in text for ch in "/\\*?[{")
        or text.lower().endswith(".blend")
        or (cwd / text).exists()
    )


@dataclass
class _Planned:
    source: Source
    info: BlendInfo
    record: JobRecord


def _collect_sources(request: PlanRequest, plan: PlanFile | None) -> list[Source]:
    sources: list[Source] = []
    template = request.name_template or (plan.name if plan else None)
    if request.sources:
        sources += expand_sources(request.sources, request.cwd, template)
    if plan is not None:
        if plan.sources:
            sources += expand_sources(plan.sources, plan.base_dir, template)
        known = {s.name for s in sources}
        for name, override in plan.jobs.items():
            if override.source is not None:
                found = expand_sources([override.source], plan.base_dir)
                if len(found) != 1:
                    raise BadInput(f"[jobs.{name}] source {override.source!r} must name one "
                                   f".blend file; it gives {len(found)}.")
                src = found[0]
                sources = [s for s in sources if s.name != name]
                sources.append(Source(path=src.path, name=name, metadata=dict(src.metadata),
                                      given_as=override.source))
            elif name not in known:
                raise BadInput(
                    f"The plan file has settings for job {name!r}, but no source makes a job "
                    f"of that name. Jobs: {', '.join(sorted(known)) or 'none'}."
                )
    if not sources:
        raise BadInput("Nothing to plan: give .blend files, folders or patterns, or --from "
                       "PLAN.toml.")
    return sources


def _check_names(sources: list[Source], existing: list[str]) -> None:
    seen: dict[str, Source] = {}
    for src in sources:
        validate_name(src.name, f"job name (from {src.given_as or src.path})")
        if src.name in seen:
            raise BadInput(
                f"Two sources make the job {src.name!r}: {seen[src.name].path} and {src.path}. "
                "Rename one, or use a pattern with named parts and a name template."
            )
        seen[src.name] = src
    for group in casefold_collisions([*existing, *seen]):
        raise BadInput(
            f"Job names {', '.join(repr(n) for n in group)} differ only in case; they would "
            "be the same folder on Windows and macOS. Rename one."
        )


def release_name(volume: Volume, request: PlanRequest, plan: PlanFile | None,
                 progress: Progress) -> str:
    """The release's name, checked: the request's, the plan file's, or a dated one proposed."""
    release = request.release or (plan.release if plan else None)
    if release is None:
        release = propose_release_name(volume.list_releases())
        progress.message(f"No release name given: planning {release!r}.")
    return validate_name(release, "release name")


def prepare(
    session: FarmSession, request: PlanRequest, plan: PlanFile | None, release: str,
    existing: ReleaseRecord | None, progress: Progress, sources: list[Source] | None = None,
) -> list[_Planned]:
    """Step 1: everything checked, nothing written. Raises on the first problem.

    ``plan`` is the request's plan file as read, ``release`` the checked name, ``existing``
    its record as read (None if it has none) and ``sources`` the request's sources when the
    caller collected them already."""
    volume = session.volume
    twin = next((r for r in volume.list_releases() if r != release and fold(r) == fold(release)),
                None)
    if twin is not None:
        raise BadInput(
            f"Release {release!r} differs only in case from the existing release {twin!r}; "
            "they would be the same folder on Windows and macOS. Use that name (with --add) "
            "or another one."
        )
    client = session.client
    defaults = plan.defaults if plan else JobSettings()
    if existing is not None and not request.add:
        raise ReleaseExists(
            f"Release {release!r} already exists with {len(existing.jobs)} job(s). "
            "Use --add to add jobs to it, or `farm replace job JOB` to re-render one."
        )
    if sources is None:
        sources = _collect_sources(request, plan)
    if existing is not None:
        recorded = set(existing.job_names)
        clash = [s.name for s in sources if s.name in recorded]
        if clash:
            raise BadInput(f"Release {release!r} already has job(s) {', '.join(clash)}; "
                           "use `farm replace job` for those.")
    _check_names(sources, existing.job_names if existing else [])
    require_job_type(client, DEFAULT_JOB_TYPE)
    planned: list[_Planned] = []
    progress.start(len(sources), "Reading")
    for src in sources:
        progress.check()
        override = plan.jobs.get(src.name) if plan else None
        settings = merge_settings(defaults, request.overrides, override or JobSettings())
        info = read_blend_info(src.path, settings.scene)
        record = job_record(release, src, settings, info, session.settings.chunk_size,
                            session.settings.priority)
        if override is not None and override.metadata:
            record.metadata.update(override.metadata)
        planned.append(_Planned(src, info, record))
        progress.advance()
    # UnknownWorkerTag (bad input) lists the known tags.
    tag_ids = {tag: client.worker_tag_id(tag)
               for tag in sorted({p.record.worker_tag for p in planned if p.record.worker_tag})}
    _dry_compile(session, release, planned, tag_ids, progress)
    return planned


def _dry_compile(
    session: FarmSession, release: str, planned: list[_Planned], tag_ids: dict[str, str],
    progress: Progress,
) -> None:
    """Let the Manager compile every job (``POST /jobs/check``) before anything is written;
    ``tag_ids`` maps the jobs' worker tags to their ids."""
    client = session.client
    draft = ReleaseRecord(name=release, volume_id=session.volume.id)
    bodies = [submission(session, draft, p.record, tag_ids) for p in planned]
    results = run_bulk([(i, functools.partial(client.check_job, b)) for i, b in enumerate(bodies)],
                       max_in_flight=client.max_in_flight, progress=progress,
                       label="Checking with the Manager")
    progress.check()
    bad = [(planned[r.key].record.name, r.error) for r in results if not r.ok]
    if bad:
        listed = "; ".join(f"{name}: {err}" for name, err in bad[:5])
        more = f" (and {len(bad) - 5} more)" if len(bad) > 5 else ""
        raise BadInput(f"The Manager refuses {len(bad)} job(s): {listed}{more}. "
                       "Nothing was submitted.")


@reports_disk_errors("plan the release")
def plan_release(
    session: FarmSession,
    request: PlanRequest,
    progress: Progress | None = None,
    dry_run: bool = False,
) -> PlanResult:
    """Plan (or finish planning) a release; see the module's docstring for the order."""
    progress = progress or Progress()
    volume = session.volume
    store = RecordStore(volume)
    plan = load_plan_file(request.plan_file) if request.plan_file else None
    release = release_name(volume, request, plan, progress)
    existing: ReleaseRecord | None = None
    sources: list[Source] | None = None
    if store.exists(release):
        if not dry_run:
            for folder in (volume.release_dir(release), volume.store_dir(release)):
                sweep_temps(folder)  # what a killed plan left: a record or a pack half-written
        existing = store.load(release)
        # An interrupted plan: finish submitting what the record already holds. The same
        # command run again does that, be it with NAME, --from PLAN.toml or --add.
        if not dry_run and pending(existing):
            if request.add:
                sources = _sources_or_none(request, plan)
            if not request.add or _all_recorded(sources, existing):
                return _resume(session, store, release, progress)
    planned = prepare(session, request, plan, release, existing, progress, sources)
    warnings: list[str] = []
    if dry_run:
        return PlanResult(release, [], warnings, dry_run=True,
                          planned=[p.record for p in planned])
    store_dir = volume.store_dir(release)
    packed_names: list[str] = []
    try:
        # Packing holds the release's lock: another plan of the release (a second `farm`,
        # Blender) waits, and never finds its packed files replaced by this one's.
        with store.transaction(release, create=existing is None, what=f"planning {release}") as rec:
            _still_free(rec, release, existing, planned)
            sweep_store(volume, store_dir)  # once, not once per job
            progress.start(len(planned), "Packing")
            for p in planned:
                progress.check()
                # The job is in no record (checked under the lock): anything the store holds
                # under its name was left by a plan killed while packing, so it is replaced.
                result = pack_blend(p.source.path, volume, store_dir, p.record.name,
                                    replace=True, sweep=False)
                packed_names.append(p.record.name)
                p.record.record_pack(result)
                warnings += [w for w in pack_warnings(result) if w not in warnings]
                progress.advance()
            if not rec.jobs and existing is None:
                rec.planned_from = PlannedFrom.here(
                    request.sources, str(request.plan_file) if request.plan_file else None)
                rec.naming_template = request.naming or (plan.naming if plan else None)
                if plan and plan.frame_data:
                    rec.frame_data = str(plan.resolve(plan.frame_data))
            rec.add_jobs(p.record for p in planned)
            store.save(rec)  # recorded before the first submission
            outcomes = submit_pending(session, store, rec, progress)
    except BaseException:
        # What the disk holds decides (a save may have landed before it raised).
        if not packed_names or not store.exists(release) or not set(packed_names) & set(
            store.load(release).job_names
        ):
            _undo_packing(store, release, store_dir, packed_names)
        raise
    return PlanResult(release, outcomes, warnings)


def _still_free(record: ReleaseRecord, release: str, existing: ReleaseRecord | None,
                planned: list[_Planned]) -> None:
    """Under the lock: refuse if another process planned the release, or one of these jobs,
    since this one checked."""
    if existing is None and record.jobs:
        raise ReleaseExists(
            f"Release {release!r} was planned by another process meanwhile (it has "
            f"{len(record.jobs)} job(s)); this run packed and submitted nothing. Use --add to "
            "add jobs to it."
        )
    recorded = set(record.job_names)
    taken = [p.record.name for p in planned if p.record.name in recorded]
    if taken:
        raise BadInput(
            f"Another process added job(s) {', '.join(taken)} to release {release!r} "
            "meanwhile; this run packed and submitted nothing."
        )


def _undo_packing(store: RecordStore, release: str, store_dir: Path, names: list[str]) -> None:
    """Remove what this run packed; for a release without a record, also the folders that
    packing made, so that the volume is left as it was."""
    volume = store.volume
    for job_name in names:
        remove_packed(volume, store_dir, job_name, sweep=False)
    sweep_unused(volume)  # once: the pool files only these jobs used
    if store.exists(release):
        return
    volume.lock_path(release).unlink(missing_ok=True)
    for folder in (store_dir, volume.release_dir(release)):
        with contextlib.suppress(OSError):  # not empty: something else lives there
            folder.rmdir()


def _sources_or_none(request: PlanRequest, plan: PlanFile | None) -> list[Source] | None:
    """The request's sources, or None when they do not make sense (prepare() says why)."""
    try:
        return _collect_sources(request, plan)
    except BadInput:
        return None


def _all_recorded(sources: list[Source] | None, record: ReleaseRecord) -> bool:
    """Whether every job of ``sources`` is already in the record (an --add run again)."""
    return sources is not None and {src.name for src in sources} <= set(record.job_names)


def _resume(session: FarmSession, store: RecordStore, release: str,
            progress: Progress) -> PlanResult:
    with store.transaction(release, what=f"finishing the plan of {release}") as rec:
        outcomes = submit_pending(session, store, rec, progress)
    return PlanResult(release, outcomes, [], resumed=True)
