"""The check phase of a harvest, before anything moves: jobs, frame files, names taken.

No `bpy` module use.

The Manager must report every job, at its current revision, ``completed``; every expected frame
file (the job's frame range, ``######`` numbering, its extension) must be in ``out/<job>/`` and
pass :func:`.images.image_problem`. What is found is a :class:`JobCheck` per job, with a
``FrameFile`` tuple for each frame ready to move, in frame order. A small frame is read and
hashed inline; frames over 64 KiB (a 1920x1080 PNG is several MB, and hashing it is most of
the work) are read and hashed by a few threads, since hashlib releases the GIL.
"""

from __future__ import annotations

import hashlib
import os
import time
import zlib
from collections import deque
from collections.abc import Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ..errors import FarmError
from ..flamenco import Job, NotFound
from ..frames import DEFAULT_PADDING, frame_filename, parse_frames
from ..fs.atomic import TEMP_PREFIX
from ..fs.mover import RACY_MARGIN_NS
from ..fs.names import fold
from ..fs.volume import Volume
from ..naming import compress_frames
from ..progress import Progress
from ..release.record import JobRecord, ReleaseRecord
from ..release.superseded import MANIFEST_NAME, SUPERSEDED_DIR
from .images import FIRST_READ, PNG_END, PNG_HEAD, read_frame_status


class ManagerJobs(Protocol):
    """What the harvest asks the Manager (a :class:`FlamencoClient`)."""

    def get_job(self, job_id: str) -> Job: ...

    def jobs(self, status: str | Iterable[str] | None = None, name: str | None = None,
             metadata: Mapping[str, str] | None = None) -> list[Job]: ...


#: A checked frame, ready to move: ``(frame, src, size, sha256, mtime_ns, ino)``; ``src`` is
#: volume-relative, ``mtime_ns`` and ``ino`` are the file's when its content was read (-1: too
#: recent to trust, hash again). A plain tuple of numbers and text: the garbage collector stops
#: tracking it, and a harvest holds 100,000 of them.
FrameFile = tuple[int, str, int, str, int, int]

#: What :func:`.images.read_frame_status` says of a frame: (problem, size, sha256, status).
_Status = tuple[str | None, int, str, os.stat_result | None]

#: Threads reading and hashing large frames (both cores of a small machine, at most 4; 0: none,
#: each read in turn, as scripts/bench_harvest.py --real-size compares).
_WORKERS = max(2, min(4, os.cpu_count() or 1))


@dataclass
class JobCheck:
    """What the harvest found for one job."""

    name: str
    revision: int
    status: str = ""
    frames: int = 0
    delivered: int = 0  # by earlier harvests, at this revision
    ready: list[FrameFile] = field(default_factory=list)
    ready_count: int = 0  # len(ready), kept when the list is let go of
    problems: dict[str, list[int]] = field(default_factory=dict)  # reason -> frames

    @property
    def complete(self) -> bool:
        return self.status == "completed" and not self.problems

    def describe(self) -> str:
        if self.status != "completed":
            return f"{self.name} (r{self.revision}): {self.status or 'not submitted'}"
        parts = [f"{reason} {compress_frames(frames)}"
                 for reason, frames in sorted(self.problems.items())]
        return f"{self.name} (r{self.revision}): frames " + "; ".join(parts)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "revision": self.revision, "status": self.status,
                "frames": self.frames, "delivered_before": self.delivered,
                "ready": max(self.ready_count, len(self.ready)), "complete": self.complete,
                "problems": {r: compress_frames(f) for r, f in self.problems.items()}}


def manager_status(client: ManagerJobs, release: str, jobs: list[JobRecord]
                   ) -> dict[str, str]:
    """Job name -> the Manager's status of its current revision ("" if not submitted)."""
    ids = {job.name: job.current.job_id for job in jobs}
    wanted = [i for i in ids.values() if i]
    known: dict[str, Job] = {}
    if wanted:
        known = {j.id: j for j in client.jobs(metadata={"farm.release": release})}
    out: dict[str, str] = {}
    for name, job_id in ids.items():
        if not job_id:
            out[name] = "not submitted"
            continue
        job = known.get(job_id)
        if job is None:
            try:
                job = client.get_job(job_id)
            except NotFound:
                out[name] = f"not on the Manager (job {job_id} was deleted)"
                continue
        out[name] = str(job.status)
    return out


def delivered_frames(doc: dict[str, Any]) -> dict[tuple[str, int, int], dict[str, Any]]:
    """(job, revision, frame) -> the manifest's entry, of every file delivered before."""
    return {(i["job"], int(i["revision"]), int(i["frame"])): i for i in doc["files"]}


def check_jobs(volume: Volume, record: ReleaseRecord, statuses: dict[str, str],
               delivered: dict[tuple[str, int, int], dict[str, Any]],
               progress: Progress) -> list[JobCheck]:
    """Check every job of ``record`` and read every frame not delivered yet (one read each)."""
    checks = []
    todo: list[tuple[JobCheck, JobRecord, list[int]]] = []
    for job in record.jobs:
        frames = parse_frames(job.frames)
        chk = JobCheck(job.name, job.revision, frames=len(frames))
        left = [f for f in frames if (job.name, job.revision, f) not in delivered]
        chk.delivered = len(frames) - len(left)
        # Fully delivered jobs need nothing from the Manager (it may have been cleaned).
        chk.status = "completed" if not left else statuses.get(job.name, "")
        checks.append(chk)
        if left and chk.status == "completed":
            todo.append((chk, job, left))
    progress.start(sum(len(left) for _, _, left in todo), "Checking frames")
    # A frame modified after this could have been rewritten within one tick of the clock
    # after its read, its time unchanged: its move hashes it again (see transfer).
    recent = time.time_ns() - RACY_MARGIN_NS
    pools: list[ThreadPoolExecutor] = []  # made for the first large frame
    try:
        for chk, job, left in todo:
            _check_job(volume, job, chk, left, recent, progress, pools)
    finally:
        for pool in pools:  # at a cancel or an error: the reads in flight end, no more start
            pool.shutdown(wait=True, cancel_futures=True)
    return checks


def _check_job(volume: Volume, job: JobRecord, chk: JobCheck, left: list[int], recent: int,
               progress: Progress, pools: list[ThreadPoolExecutor]) -> None:
    """Read and check the frames ``left`` of one job into ``chk``, in frame order. Frames over
    :data:`FIRST_READ` are read and hashed in ``pools[0]`` (made here when first needed), a
    few at a time: hashlib and os.read release the GIL, so a large frame's hashing uses
    another core while the next one is read."""
    out_dir = volume.resolve(job.output_dir)
    out_rel = volume.relpath(out_dir)
    base = str(out_dir) + os.sep
    ext = job.file_extension
    first = frame_filename(out_dir, left[0], ext).name
    if first != _frame_name(left[0], ext):  # farm renders with ######: never, but be sure
        raise FarmError(f"Unexpected frame file name {first} for job {job.name}.")
    ready = chk.ready
    width = DEFAULT_PADDING
    step = max(1, min(32, len(left) // 200))
    png = ext.lower() == ".png"
    flags = os.O_RDONLY | getattr(os, "O_BINARY", 0)
    op, rd, cl, fst = os.open, os.read, os.close, os.fstat
    sha, crc = hashlib.sha256, zlib.crc32
    pending: deque[tuple[int, str, Future[_Status] | _Status]] = deque()
    done = 0

    def keep(frame: int, fname: str, status: _Status) -> None:
        nonlocal done
        problem, size, digest, st = status
        if problem:
            chk.problems.setdefault(problem, []).append(frame)
        elif st is None or st.st_mtime_ns >= recent:
            ready.append((frame, f"{out_rel}/{fname}", size, digest, -1, -1))
        else:
            ready.append((frame, f"{out_rel}/{fname}", size, digest, st.st_mtime_ns,
                          st.st_ino))
        done += 1
        if done % step == 0:
            progress.advance(step)
            progress.check()

    def keep_first() -> None:
        frame, fname, status = pending.popleft()
        keep(frame, fname, status.result() if isinstance(status, Future) else status)

    for frame in left:
        fname = f"{frame:0{width}d}{ext}"  # as _frame_name
        path = base + fname
        # The common case inline (a small, good frame): this loop runs 100,000 times.
        # (Threads reading small frames in parallel were measured slower here: 2 threads
        # 1.55x, 4 threads 2.3x the time of this loop, for 100,000 frames on a local disk;
        # frames over FIRST_READ, where hashing dominates, go to the pool.)
        data = b""
        st: os.stat_result | None = None
        try:
            fd = op(path, flags)
            try:
                st = fst(fd)  # before the read: a later write changes what it says
                data = rd(fd, FIRST_READ)
            finally:
                cl(fd)
        except OSError:
            data = b""
        size = len(data)
        status: Future[_Status] | _Status
        if 44 < size < FIRST_READ and png and data[:16] == PNG_HEAD and (
                data[-12:] == PNG_END
                and crc(data[12:29]) == int.from_bytes(data[29:33], "big")):
            digest = sha(data).hexdigest()
            if not pending:  # kept at once, as keep() does, inline
                if st is None or st.st_mtime_ns >= recent:
                    ready.append((frame, f"{out_rel}/{fname}", size, digest, -1, -1))
                else:
                    ready.append((frame, f"{out_rel}/{fname}", size, digest, st.st_mtime_ns,
                                  st.st_ino))
                done += 1
                if done % step == 0:
                    progress.advance(step)
                    progress.check()
                continue
            status = (None, size, digest, st)
        elif size == FIRST_READ and _WORKERS:  # a large frame: read in the pool, kept in order
            if not pools:
                pools.append(ThreadPoolExecutor(_WORKERS, "farm-harvest-check"))
            status = pools[0].submit(read_frame_status, path, ext)
        else:  # anything else: the general check says what it is
            status = read_frame_status(path, ext)
        if not pending and not isinstance(status, Future):
            keep(frame, fname, status)
            continue
        pending.append((frame, fname, status))
        if len(pending) > 2 * _WORKERS:
            keep_first()
    while pending:
        keep_first()
    progress.advance(len(left) % step)


def _frame_name(frame: int, ext: str) -> str:
    """The file Blender writes for ``frame`` with farm's ``######`` output pattern (the fast
    equivalent of :func:`frames.frame_filename`)."""
    return f"{frame:0{DEFAULT_PADDING}d}{ext}"


def existing_names(dist: Path) -> dict[str, str]:
    """fold(name) -> name of every file in the delivery folder (not farm's own)."""
    out: dict[str, str] = {}
    if not dist.is_dir():
        return out
    for dirpath, dirnames, filenames in os.walk(dist):
        rel = os.path.relpath(dirpath, dist)
        if rel == ".":
            dirnames[:] = [d for d in dirnames if d != SUPERSEDED_DIR]
            filenames = [f for f in filenames if f != MANIFEST_NAME]
        prefix = "" if rel == "." else rel.replace(os.sep, "/") + "/"
        for f in filenames:
            if not f.startswith(TEMP_PREFIX):
                out[fold(prefix + f)] = prefix + f
        for d in dirnames:
            out.setdefault(fold(prefix + d), prefix + d)
    return out

