"""The harvest run: checked frames, renamed into ``dist/<release>/``, with a manifest.

No `bpy` module use.

:func:`harvest_release` runs in steps, and nothing moves before the last one:

1. An interrupted harvest (its journal in ``releases/<release>/``) is finished first.
2. The Manager must report every job, at its current revision, ``completed``.
3. Every expected frame file (the job's frame range, ``######`` numbering, its extension) must
   be in ``out/<job>/``, non-empty and a readable image (PNG signature, IHDR CRC and IEND;
   JPEG start and end markers; EXR, TIFF, WebP, BMP, HDR, DPX magic). It is read once, and
   hashed while it is read (:mod:`.images`, :mod:`.checks`). Anything missing is listed by
   job and frame (:class:`HarvestIncomplete`); ``partial`` harvests the complete jobs and
   reports the rest.
4. Every delivered name is computed (:mod:`naming`) and checked: unsafe paths, collisions
   (case-insensitive too) and names already taken in ``dist/<release>/``.
5. Files of a replaced job's older revision, delivered by an earlier harvest, are moved aside
   to ``dist/<release>/.superseded/<job>/r<N>/``, never deleted; the frames are moved in
   (:mod:`transfer`, journaled), and ``dist/<release>/manifest.json`` is written atomically
   (:mod:`.manifest`): each delivered file with its size, SHA-256, job, revision, frame and
   the checksum of the .blend that produced it.

A frame someone rewrites between its check and its move (a requeued task re-rendering it, an
artist's tool) is not delivered with a checksum it no longer has: the mover compares each
moved file's inode, size and modification time with the ones read with its content (and
hashes it again when they differ, or when the file was modified just before the check), and
holds back a file whose content changed. It stays in ``out/<job>/``, is listed in
:attr:`HarvestResult.held`, and the next harvest checks and delivers it.

``dry_run`` computes the mapping and touches nothing.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import BadInput, FarmError, reports_disk_errors
from ..frames import parse_frames
from ..fs.journal import Journal
from ..fs.mover import DEFAULT_OPS, FileOps, Move
from ..fs.names import fold
from ..fs.volume import HARVEST_JOURNAL_NAME, Volume, expand_user
from ..naming import (
    FrameInfo,
    FrameLabel,
    Namer,
    check_targets,
    compress_frames,
    load_frame_data,
    make_namer,
)
from ..progress import Progress
from ..release.record import RecordStore, ReleaseRecord, now
from ..release.superseded import (
    MANIFEST_NAME,
    SUPERSEDED_DIR,
    load_manifest,
)
from ..text import table
from .checks import (
    FrameFile,
    JobCheck,
    ManagerJobs,
    check_jobs,
    delivered_frames,
    existing_names,
    manager_status,
)
from .manifest import finish_journal

_MAX_LISTED = 8


class HarvestIncomplete(FarmError):
    """Some jobs are not completed or some frames are missing; nothing was moved."""

    def __init__(self, message: str, jobs: list[JobCheck]) -> None:
        super().__init__(message)
        self.jobs = jobs


@dataclass
class HarvestResult:
    release: str
    dist: Path
    dry_run: bool = False
    partial: bool = False
    namer: str = ""
    #: (source, delivered name, job, frame) of every frame moved (or, dry, to move)
    mapping: list[tuple[str, str, str, int]] = field(default_factory=list)
    #: (old delivered name, where it was moved aside)
    superseded: list[tuple[str, str]] = field(default_factory=list)
    jobs: list[JobCheck] = field(default_factory=list)
    skipped: list[JobCheck] = field(default_factory=list)
    resumed: int = 0
    already: int = 0
    #: (job, frame, source) of frames that changed after their check: left in out/, for the
    #: next harvest to check and deliver
    held: list[tuple[str, int, str]] = field(default_factory=list)
    #: delivered frames hashed again after their move (modified just before their check)
    rehashed: int = 0
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def delivered(self) -> int:
        return len(self.mapping)

    def held_message(self) -> str:
        """What to tell the user about the frames held back ("" if none)."""
        if not self.held:
            return ""
        by_job: dict[str, list[int]] = {}
        for job, frame, _src in self.held:
            by_job.setdefault(job, []).append(frame)
        listed = "; ".join(f"job {j!r} frames {compress_frames(sorted(f))}"
                           for j, f in sorted(by_job.items()))
        return (f"{len(self.held)} frame(s) changed on disk while the harvest ran and were not "
                f"delivered: {listed}. They are still in releases/{self.release}/out/. If a "
                f"task is re-rendering them, wait for it, then run `farm harvest release "
                f"{self.release}` again: it checks them and delivers the new files.")

    @property
    def summary(self) -> str:
        """What the harvest did, in lines for a person: the mapping of a dry run, what was
        delivered or why nothing was, the frames held back and the jobs not harvested."""
        return self.report()

    def report(self, held: bool = True) -> str:
        """:attr:`summary`; ``held=False`` leaves out the frames held back (the CLI prints
        those on stderr, as an error)."""
        lines = []
        if self.resumed:
            lines.append(f"Finished an interrupted harvest ({self.resumed} file(s)).")
        lines += [f"warning: {w}" for w in self.warnings]
        if self.dry_run:
            lines += [f"{src} -> {name}" for src, name, _job, _frame in self.mapping]
            lines += [f"(superseded) {old} -> {new}" for old, new in self.superseded]
            lines.append(f"Dry run: {self.delivered} frame(s) would be delivered to {self.dist} "
                         f"({self.namer}); nothing was moved.")
        elif self.delivered or self.superseded:
            lines.append(f"Delivered {self.delivered} frame(s) to {self.dist} ({self.namer}) in "
                         f"{self.seconds:.1f} s; manifest: {self.dist / MANIFEST_NAME}")
            if self.superseded:
                lines.append(f"Moved {len(self.superseded)} superseded file(s) aside into "
                             f"{self.dist / SUPERSEDED_DIR}.")
        else:
            lines.append(f"Nothing to harvest: {self.already} frame(s) were already delivered "
                         f"to {self.dist}.")
        if held and self.held:
            lines.append(self.held_message())
        if self.skipped:
            lines.append("Not harvested (incomplete):")
            lines.append(table([(c.name, c.revision, c.status or "not submitted",
                                  c.describe().split(": ", 1)[1]) for c in self.skipped],
                                ("job", "rev", "manager", "what is missing")))
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        return {
            "release": self.release, "dist": str(self.dist), "dry_run": self.dry_run,
            "partial": self.partial, "namer": self.namer, "delivered": self.delivered,
            "already_delivered": self.already, "resumed": self.resumed,
            "mapping": [{"source": s, "name": n, "job": j, "frame": f}
                        for s, n, j, f in self.mapping],
            "superseded": [{"name": a, "moved_to": b} for a, b in self.superseded],
            "held": [{"job": j, "frame": f, "source": s} for j, f, s in self.held],
            "rehashed": self.rehashed,
            "jobs": [j.as_dict() for j in self.jobs],
            "skipped": [j.as_dict() for j in self.skipped],
            "warnings": self.warnings, "seconds": round(self.seconds, 3),
        }


# --------------------------------------------------------------------------------------------
# The harvest


def _resolve_input(volume: Volume, value: str | Path | None) -> Path | None:
    """A data or renamer file: absolute, relative to the current folder, or to the volume."""
    if value is None:
        return None
    path = expand_user(value)
    if path.is_absolute() or path.exists():
        return path
    on_volume = volume.root / path
    return on_volume if on_volume.exists() else path


def _namer(volume: Volume, record: ReleaseRecord, template: str | None,
           renamer: str | Path | None) -> Namer:
    if template is not None or renamer is not None:
        return make_namer(template, _resolve_input(volume, renamer))
    return make_namer(record.naming_template, _resolve_input(volume, record.renamer))


@reports_disk_errors("harvest the release")
def harvest_release(volume: Volume, client: ManagerJobs, release: str,
                    template: str | None = None, data_file: str | Path | None = None,
                    renamer: str | Path | None = None, partial: bool = False,
                    dry_run: bool = False, progress: Progress | None = None, *,
                    ops: FileOps = DEFAULT_OPS) -> HarvestResult:
    """Check, rename and move a release's frames into ``dist/<release>/`` (see the module)."""
    progress = progress or Progress()
    store = RecordStore(volume)
    if dry_run:
        return _harvest(volume, client, store.load(release), template, data_file, renamer,
                        partial, True, progress, ops, None)
    with store.transaction(release, what=f"harvest release {release}") as record:
        return _harvest(volume, client, record, template, data_file, renamer, partial, False,
                        progress, ops, store.save)


def _harvest(volume: Volume, client: ManagerJobs, record: ReleaseRecord,
             template: str | None, data_file: str | Path | None, renamer: str | Path | None,
             partial: bool, dry_run: bool, progress: Progress, ops: FileOps,
             save: Callable[[ReleaseRecord], None] | None) -> HarvestResult:
    started = time.perf_counter()
    release = record.name
    dist = volume.check_inside(volume.dist_dir(release))
    result = HarvestResult(release, dist, dry_run=dry_run, partial=partial)
    journal_path = volume.check_inside(volume.release_dir(release) / HARVEST_JOURNAL_NAME)
    journal = Journal.load(journal_path, volume.root)
    if journal is not None:
        if dry_run:
            result.warnings.append(
                f"an interrupted harvest ({len(journal.moves)} moves) will be finished first")
            result.mapping = [(m.src, m.dst, "", -1) for m in journal.moves]
            return result
        result.held, result.rehashed = finish_journal(volume, record, journal, ops, progress,
                                                      save=save)
        result.resumed = len(journal.moves)

    # Naming first: a bad template or data file is bad input, found before any I/O.
    namer = _namer(volume, record, template, renamer)
    result.namer = namer.source
    data_path = _resolve_input(volume, data_file if data_file is not None
                               else (record.frame_data if template is None
                                     and renamer is None else None))
    data = load_frame_data(data_path) if data_path is not None else None

    doc = load_manifest(volume, release)
    delivered = delivered_frames(doc)
    progress.message("Asking the Manager about the jobs")
    statuses = manager_status(client, release, [
        j for j in record.jobs
        if any((j.name, j.revision, f) not in delivered for f in parse_frames(j.frames))])
    checks = check_jobs(volume, record, statuses, delivered, progress)
    result.jobs = checks
    result.already = sum(c.delivered for c in checks)
    bad = [c for c in checks if not c.complete]
    if bad and not partial:
        listed = "; ".join(c.describe() for c in bad[:_MAX_LISTED])
        more = f"; and {len(bad) - _MAX_LISTED} more jobs" if len(bad) > _MAX_LISTED else ""
        raise HarvestIncomplete(
            f"{len(bad)} of {len(checks)} job(s) of {release!r} are not ready to harvest: "
            f"{listed}{more}. Nothing was moved. Wait for them (farm status {release} "
            "--watch), replace them, or use --partial to harvest the complete jobs.", bad)
    result.skipped = bad
    ready = [c for c in checks if c.complete]

    # Names.
    jobs = {j.name: j for j in record.jobs}
    plan: list[tuple[str, str, FrameFile]] = []  # (job, delivered name, frame file)
    missing_data: dict[str, list[int]] = {}
    strict_data = data is not None and namer.uses_data
    for chk in ready:
        job = jobs[chk.name]
        if not chk.ready:
            continue
        first = chk.ready[0][0]
        name_of = namer.bind(FrameInfo(
            release, job.name, first, job.file_extension, job.revision, job.metadata,
            None if data is None else data.get(first), has_data=data is not None))
        for ff in chk.ready:
            frame = ff[0]
            if strict_data and frame not in data:  # type: ignore[operator]
                missing_data.setdefault(job.name, []).append(frame)
                continue
            plan.append((job.name, name_of(frame, None if data is None else data.get(frame)),
                         ff))
    if missing_data:
        listed = "; ".join(f"job {j!r} frames {compress_frames(f)}"
                           for j, f in sorted(missing_data.items()))
        raise BadInput(f"The per-frame data file {data_path} has no entry for {listed}. "
                       "Add them, or harvest without the data fields. Nothing was moved.")

    # Delivered files of older revisions (or marked superseded) of the jobs harvested now.
    ready_names = {c.name for c in ready}
    aside: list[dict[str, Any]] = []
    at = now().isoformat()
    for item in doc["files"]:
        owner = jobs.get(item["job"])
        if item["job"] in ready_names and owner is not None and (
                item.get("superseded") or int(item["revision"]) != owner.revision):
            new = f"{SUPERSEDED_DIR}/{item['job']}/r{item['revision']}/{item['name']}"
            if not (dist / item["name"]).exists():
                result.warnings.append(
                    f"{item['name']} (job {item['job']} r{item['revision']}) was delivered "
                    "but is no longer in the delivery folder")
                aside.append({"was": item["name"], "name": new, "job": item["job"],
                              "revision": item["revision"], "gone": True})
                continue
            aside.append({"was": item["name"], "name": new, "job": item["job"],
                          "revision": item["revision"]})
    existing = existing_names(dist)
    for s in aside:
        existing.pop(fold(s["was"]), None)
    check_targets((((j, ff[0]), name) for j, name, ff in plan), existing,
                  checked=True,  # the namer checked every name it made
                  label=lambda at: str(FrameLabel(*at)))
    taken = [s["name"] for s in aside if not s.get("gone") and (dist / s["name"]).exists()]
    if taken:
        raise BadInput(f"{len(taken)} superseded file(s) cannot be moved aside, their place is "
                       f"taken: {', '.join(taken[:5])}. Nothing was moved.")

    result.superseded = [(s["was"], s["name"]) for s in aside]
    result.mapping = [(ff[1], name, j, ff[0]) for j, name, ff in plan]
    if dry_run or (not plan and not aside):
        result.seconds = time.perf_counter() - started
        return result

    dist_rel = volume.relpath(dist)
    moves = [Move(f"{dist_rel}/{s['was']}", f"{dist_rel}/{s['name']}")
             for s in aside if not s.get("gone")]
    moves += [Move(src, f"{dist_rel}/{name}", sha256, size, mtime_ns, ino)
              for _job, name, (_frame, src, size, sha256, mtime_ns, ino) in plan]
    payload = {
        "id": uuid.uuid4().hex, "release": release, "at": at,
        "partial": bool(result.skipped), "dist": dist_rel,
        "jobs": {c.name: {"revision": c.revision,
                          "source_sha256": jobs[c.name].current.source_sha256}
                 for c in ready},
        "superseded": aside,
        # One [job, frame] per delivery, in the order of the moves after the moves aside
        # (tuples: the garbage collector stops tracking a tuple of a str and an int).
        "frames": [(j, ff[0]) for j, _, ff in plan],
    }
    for chk in checks:  # the moves hold what is needed now; 100,000 frames weigh
        chk.ready_count, chk.ready = len(chk.ready), []
    del plan
    dist.mkdir(parents=True, exist_ok=True)
    journal = Journal.create(journal_path, volume.root, moves, payload, ops)
    held, rehashed = finish_journal(volume, record, journal, ops, progress, "Moving frames",
                                    save)
    result.rehashed += rehashed
    if held:
        gone = {src for _, _, src in held}
        result.mapping = [x for x in result.mapping if x[0] not in gone]
    if result.held:  # held back by the interrupted harvest, and delivered by this one
        now_delivered = {(job, frame) for _s, _n, job, frame in result.mapping}
        result.held = [h for h in result.held if h[:2] not in now_delivered]
    result.held += held
    result.seconds = time.perf_counter() - started
    return result


__all__ = ["HarvestIncomplete", "HarvestResult", "harvest_release", "load_manifest"]
