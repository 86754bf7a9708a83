"""Harvesting a release: checked frames, renamed into ``dist/<release>/``, with a manifest.
No `bpy` module use.

:func:`harvest_release` runs in steps, and nothing moves before the last one:

1. An interrupted harvest (its journal in ``releases/<release>/``) is finished first.
2. The Manager must report every job, at its current revision, ``completed``.
3. Every expected frame file (the job's frame range, ``######`` numbering, its extension) must
   be in ``out/<job>/``, non-empty and a readable image (PNG signature, IHDR CRC and IEND;
   JPEG start and end markers; EXR, TIFF, WebP, BMP, HDR, DPX magic). It is read once, and
   hashed while it is read. Anything missing is listed by job and frame
   (:class:`HarvestIncomplete`); ``partial`` harvests the complete jobs and reports the rest.
4. Every delivered name is computed (:mod:`naming`) and checked: unsafe paths, collisions
   (case-insensitive too) and names already taken in ``dist/<release>/``.
5. Files of a replaced job's older revision, delivered by an earlier harvest, are moved aside
   to ``dist/<release>/.superseded/<job>/r<N>/``, never deleted; the frames are moved in
   (:mod:`transfer`, journaled), and ``dist/<release>/manifest.json`` is written atomically:
   each delivered file with its size, SHA-256, job, revision, frame and the checksum of the
   .blend that produced it.

A frame someone rewrites between its check and its move (a requeued task re-rendering it, an
artist's tool) is not delivered with a checksum it no longer has: the mover compares each
moved file's inode, size and modification time with the ones read with its content (and
hashes it again when they differ, or when the file was modified just before the check), and
holds back a file whose content changed. It stays in ``out/<job>/``, is listed in
:attr:`HarvestResult.held`, and the next harvest checks and delivers it.

``dry_run`` computes the mapping and touches nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import time
import uuid
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, Protocol

from ..errors import BadInput, FarmError, reports_disk_errors
from ..flamenco import Job, NotFound
from ..frames import DEFAULT_PADDING, frame_filename, parse_frames
from ..fs.names import fold
from ..fs.transfer import (
    CHUNK,
    DEFAULT_OPS,
    RACY_MARGIN_NS,
    TMP_PREFIX,
    FileOps,
    Journal,
    Move,
    gc_paused,
    remove_stale_temps,
    write_atomic,
)
from ..fs.volume import HARVEST_JOURNAL_NAME, Volume, expand_user
from ..naming import (
    FrameInfo,
    FrameLabel,
    Namer,
    Renamer,
    Template,
    check_targets,
    compress_frames,
    load_frame_data,
    make_namer,
)
from ..progress import Progress
from ..release.record import HarvestRecord, JobRecord, RecordStore, ReleaseRecord, now

MANIFEST_NAME = "manifest.json"
MANIFEST_SCHEMA = 1
SUPERSEDED_DIR = ".superseded"
_FIRST_READ = 1 << 16
_MAX_LISTED = 8


class ManagerJobs(Protocol):
    """What the harvest asks the Manager (a :class:`FlamencoClient`)."""

    def get_job(self, job_id: str) -> Job: ...

    def jobs(self, status: str | Iterable[str] | None = None, name: str | None = None,
             metadata: Mapping[str, str] | None = None) -> list[Job]: ...


class HarvestIncomplete(FarmError):
    """Some jobs are not completed or some frames are missing; nothing was moved."""

    def __init__(self, message: str, jobs: list[JobCheck]) -> None:
        super().__init__(message)
        self.jobs = jobs


# --------------------------------------------------------------------------------------------
# Checking frame files

_PNG_SIG = b"\x89PNG\r\n\x1a\n"
_PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"
_PNG_HEAD = _PNG_SIG + b"\x00\x00\x00\x0dIHDR"
_MAGIC: dict[str, tuple[tuple[bytes, ...], str]] = {
    ".exr": ((b"\x76\x2f\x31\x01",), "OpenEXR"),
    ".tif": ((b"II*\x00", b"MM\x00*"), "TIFF"),
    ".tiff": ((b"II*\x00", b"MM\x00*"), "TIFF"),
    ".bmp": ((b"BM",), "BMP"),
    ".hdr": ((b"#?",), "Radiance HDR"),
    ".dpx": ((b"SDPX", b"XPDS"), "DPX"),
    ".cin": ((b"\x80\x2a\x5f\xd7", b"\xd7\x5f\x2a\x80"), "Cineon"),
    ".jp2": ((b"\x00\x00\x00\x0cjP  \r\n\x87\n", b"\xff\x4f\xff\x51"), "JPEG 2000"),
}


def image_problem(head: bytes, tail: bytes, size: int, ext: str) -> str | None:
    """Why a frame file is not a readable image of its extension, or None.

    ``head`` is at least the first 33 bytes (or the whole file), ``tail`` the last 16."""
    ext = ext.lower()
    if size == 0:
        return "empty file"
    if ext == ".png":
        if not head.startswith(_PNG_SIG):
            return "not a PNG (bad signature)"
        if len(head) < 33 or head[8:16] != b"\x00\x00\x00\x0dIHDR":
            return "damaged PNG (no IHDR chunk)"
        (crc,) = struct.unpack(">I", head[29:33])
        if zlib.crc32(head[12:29]) != crc:
            return "damaged PNG (IHDR checksum does not match)"
        if not tail.endswith(_PNG_END):
            return "truncated PNG (no IEND chunk at the end)"
        return None
    if ext in (".jpg", ".jpeg"):
        if not head.startswith(b"\xff\xd8\xff"):
            return "not a JPEG (bad signature)"
        if not tail.rstrip(b"\x00").endswith(b"\xff\xd9"):
            return "truncated JPEG (no end marker)"
        return None
    if ext == ".webp":
        return None if head[:4] == b"RIFF" and head[8:12] == b"WEBP" else "not a WebP file"
    known = _MAGIC.get(ext)
    if known is not None:
        magics, label = known
        return None if head.startswith(magics) else f"not a {label} file (bad signature)"
    return None  # an extension without a known signature: non-empty is all we can say


class FrameFile(NamedTuple):
    """A checked frame, ready to move."""

    job: str
    revision: int
    frame: int
    src: str  # volume-relative
    size: int
    sha256: str
    mtime_ns: int = -1  # when the content was read (-1: too recent to trust, hash again)
    ino: int = -1


def read_frame(path: str | Path, ext: str) -> tuple[str | None, int, str]:
    """``(problem, size, sha256)`` of a frame file: one read, hashed as it is read."""
    return _read_frame(path, ext)[:3]


def _read_frame(path: str | Path, ext: str
                ) -> tuple[str | None, int, str, os.stat_result | None]:
    """:func:`read_frame`, and the file's status taken before its content was read."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        return "missing", 0, "", None
    except OSError as exc:
        return f"unreadable ({exc.strerror})", 0, "", None
    try:
        st = os.fstat(fd)
        data = os.read(fd, _FIRST_READ)
        if len(data) < _FIRST_READ:  # a short read of a regular file: that is all of it
            return (image_problem(data[:64], data[-16:], len(data), ext), len(data),
                    hashlib.sha256(data).hexdigest(), st)
        h = hashlib.sha256(data)
        head = data[:64]
        tail = data[-16:]
        got = len(data)
        while chunk := os.read(fd, CHUNK):
            h.update(chunk)
            tail = (tail + chunk)[-16:]
            got += len(chunk)
        return image_problem(head, tail, got, ext), got, h.hexdigest(), st
    except OSError as exc:
        return f"unreadable ({exc.strerror})", 0, "", None
    finally:
        os.close(fd)


# --------------------------------------------------------------------------------------------
# The manifest


def manifest_path(volume: Volume, release: str) -> Path:
    return volume.dist_dir(release) / MANIFEST_NAME


def load_manifest(volume: Volume, release: str) -> dict[str, Any]:
    """The harvest manifest of ``release`` (an empty one if there is none yet)."""
    path = manifest_path(volume, release)
    try:
        doc = json.loads(path.read_bytes())
    except FileNotFoundError:
        return {"schema": MANIFEST_SCHEMA, "kind": "farm-harvest-manifest", "release": release,
                "files": [], "superseded": []}
    except (OSError, ValueError) as exc:
        raise FarmError(
            f"The harvest manifest {path} cannot be read ({exc}). Restore it, or move "
            f"dist/{release}/ aside and harvest again."
        ) from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("files"), list):
        raise FarmError(f"The harvest manifest {path} is damaged (no list of files).")
    if int(doc.get("schema", 0)) > MANIFEST_SCHEMA:
        raise FarmError(f"The harvest manifest {path} was written by a newer farm.")
    doc.setdefault("superseded", [])
    return doc


_ENC = json.encoder.encode_basestring  # str -> JSON string literal (C)


def _dump_manifest(doc: dict[str, Any]) -> Iterator[bytes]:
    """Readable and fast: one file per line, produced piece by piece.

    Items are flat objects: a list of them is encoded in one call, and ``},{"`` only occurs
    between items (inside a string a quote is always escaped). New deliveries arrive as
    text (one JSON object) already."""
    head = {k: v for k, v in doc.items() if k not in ("files", "superseded")}
    yield b"{\n"
    for k, v in sorted(head.items()):
        yield f"  {json.dumps(k)}: {json.dumps(v, ensure_ascii=False)},\n".encode()
    for key in ("files", "superseded"):
        items = doc.get(key, [])
        yield f'  "{key}": ['.encode()
        for i in range(0, len(items), 4096):
            part = items[i:i + 4096]
            if all(isinstance(x, str) for x in part):
                text = "\n    " + ",\n    ".join(part)
            else:
                text = "\n    " + ",\n    ".join(
                    x if isinstance(x, str) else json.dumps(x, separators=(",", ":"),
                                                            ensure_ascii=False)
                    for x in part)
            yield ((b"," if i else b"") + text.encode("utf-8"))
        yield (b"\n  ]" if items else b"]") + (b",\n" if key == "files" else b"\n")
    yield b"}\n"


def _save_manifest(volume: Volume, release: str, doc: dict[str, Any]) -> None:
    doc["updated"] = now().isoformat()
    path = manifest_path(volume, release)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(path)  # left by a killed run
    write_atomic(volume.check_inside(path), _dump_manifest(doc))


def _deliveries(journal: Journal) -> Iterator[tuple[Move, str, int]]:
    """(move, job, frame) of each frame a harvest journal delivers (after the moves aside)."""
    frames = journal.payload["frames"]
    for m, (job, frame) in zip(journal.moves[len(journal.moves) - len(frames):], frames,
                               strict=True):
        yield m, job, int(frame)


def _apply(doc: dict[str, Any], journal: Journal, held: set[str]) -> int:
    """Add a harvest's deliveries (but the ``held`` back ones, by destination) and moves
    aside to the manifest (idempotent); returns the number of files delivered."""
    payload = journal.payload
    at = payload["at"]
    aside = {(s["was"], s["job"], s["revision"]): s for s in payload.get("superseded", [])}
    kept = []
    for item in doc["files"]:
        moved = aside.get((item["name"], item["job"], item["revision"]))
        if moved is not None:
            doc["superseded"].append({**item, "name": moved["name"], "delivered_as":
                                      item["name"], "superseded_at": at})
        else:
            kept.append(item)
    jobs = {name: (f',"harvested_at":{_ENC(at)},"job":{_ENC(name)},"name":',
                   f',"revision":{int(j["revision"])},"sha256":',
                   f',"source_sha256":{_ENC(j["source_sha256"])}}}')
            for name, j in payload["jobs"].items()}
    prefix = len(payload["dist"]) + 1
    new: set[str] = set()
    files: list[Any] = []
    for m, job, frame in _deliveries(journal):
        if held and m.dst in held:
            continue
        a, b, c = jobs[job]
        name = m.dst[prefix:]
        new.add(name)
        # keys in sorted order, as json.dumps(sort_keys=True) would write them
        files.append(f'{{"frame":{int(frame)}{a}{_ENC(name)}{b}"{m.sha256}","size":'
                     f'{int(m.size)},"source":{_ENC(m.src)}{c}')
    doc["files"] = [i for i in kept if i["name"] not in new] + files
    doc["last_harvest"] = payload["id"]
    return len(files)


def mark_superseded(volume: Volume, release: str, job: str, revision: int | None = None) -> int:
    """Mark the delivered files of ``job`` (of ``revision``, or every one) as superseded; the
    next harvest moves them aside. For ``farm replace``. Returns how many were marked."""
    doc = load_manifest(volume, release)
    count = 0
    for item in doc["files"]:
        if (item.get("job") == job and not item.get("superseded")
                and (revision is None or item.get("revision") == revision)):
            item["superseded"] = True
            count += 1
    if count:
        _save_manifest(volume, release, doc)
    return count


# --------------------------------------------------------------------------------------------
# Results


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


def _manager_status(client: ManagerJobs, release: str, jobs: list[JobRecord]
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


def _delivered(doc: dict[str, Any]) -> dict[tuple[str, int, int], dict[str, Any]]:
    return {(i["job"], int(i["revision"]), int(i["frame"])): i for i in doc["files"]}


def _check_jobs(volume: Volume, record: ReleaseRecord, statuses: dict[str, str],
                delivered: dict[tuple[str, int, int], dict[str, Any]],
                progress: Progress) -> list[JobCheck]:
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
    for chk, job, left in todo:
        out_dir = volume.resolve(job.output_dir)
        out_rel = volume.relpath(out_dir)
        base = str(out_dir) + os.sep
        ext = job.file_extension
        first = frame_filename(out_dir, left[0], ext).name
        if first != _frame_name(left[0], ext):  # farm renders with ######: never, but be sure
            raise FarmError(f"Unexpected frame file name {first} for job {job.name}.")
        ready = chk.ready
        name, revision = job.name, job.revision
        width = DEFAULT_PADDING
        step = max(1, min(32, len(left) // 200))
        png = ext.lower() == ".png"
        flags = os.O_RDONLY | getattr(os, "O_BINARY", 0)
        op, rd, cl, fst = os.open, os.read, os.close, os.fstat
        sha, crc = hashlib.sha256, zlib.crc32
        for n, frame in enumerate(left, 1):
            fname = f"{frame:0{width}d}{ext}"  # as _frame_name
            path = base + fname
            # The common case inline (a small, good frame): this loop runs 100,000 times.
            # (Threads reading in parallel were measured slower here: 2 threads 1.55x, 4
            # threads 2.3x the time of this loop, for 100,000 frames on a local disk.)
            data = b""
            st: os.stat_result | None = None
            try:
                fd = op(path, flags)
                try:
                    st = fst(fd)  # before the read: a later write changes what it says
                    data = rd(fd, _FIRST_READ)
                finally:
                    cl(fd)
            except OSError:
                data = b""
            size = len(data)
            if 44 < size < _FIRST_READ and png and data[:16] == _PNG_HEAD and (
                    data[-12:] == _PNG_END
                    and crc(data[12:29]) == int.from_bytes(data[29:33], "big")):
                problem, digest = None, sha(data).hexdigest()
            else:  # anything else: the general check says what it is
                problem, size, digest, st = _read_frame(path, ext)
            if problem:
                chk.problems.setdefault(problem, []).append(frame)
            elif st is None or st.st_mtime_ns >= recent:
                ready.append(FrameFile(name, revision, frame, f"{out_rel}/{fname}", size,
                                       digest))
            else:
                ready.append(FrameFile(name, revision, frame, f"{out_rel}/{fname}", size,
                                       digest, st.st_mtime_ns, st.st_ino))
            if n % step == 0:
                progress.advance(step)
                progress.check()
        progress.advance(len(left) % step)
    return checks


def _frame_name(frame: int, ext: str) -> str:
    """The file Blender writes for ``frame`` with farm's ``######`` output pattern (the fast
    equivalent of :func:`frames.frame_filename`)."""
    return f"{frame:0{DEFAULT_PADDING}d}{ext}"


def _existing(dist: Path) -> dict[str, str]:
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
            if not f.startswith(TMP_PREFIX):
                out[fold(prefix + f)] = prefix + f
        for d in dirnames:
            out.setdefault(fold(prefix + d), prefix + d)
    return out


def _finish_journal(volume: Volume, record: ReleaseRecord, journal: Journal, ops: FileOps,
                    progress: Progress, label: str = "Finishing an interrupted harvest",
                    save: Callable[[ReleaseRecord], None] | None = None
                    ) -> tuple[list[tuple[str, int, str]], int]:
    """Run a harvest journal to its end and record it; returns (job, frame, source) of the
    frames held back because they changed after their check, and how many delivered files
    were hashed again."""
    stats = journal.run(ops, progress, label)
    payload = journal.payload
    doc = load_manifest(volume, record.name)
    held_dst = {m.dst for m in stats.held}
    held = [(job, frame, m.src) for m, job, frame in _deliveries(journal)
            if m.dst in held_dst] if held_dst else []
    files = len(payload["frames"]) - len(held)
    if doc.get("last_harvest") != payload["id"]:  # not applied yet by a killed run
        _apply(doc, journal, held_dst)
        _save_manifest(volume, record.name, doc)
    entry = HarvestRecord(
        started_at=payload["at"], finished_at=now(),
        manifest=volume.relpath(manifest_path(volume, record.name)),
        partial=bool(payload.get("partial")),
        jobs={name: int(j["revision"]) for name, j in payload["jobs"].items()}, files=files)
    # Recorded once, also when a killed run had saved it already.
    if not any((h.started_at, h.jobs, h.files) == (entry.started_at, entry.jobs, entry.files)
               for h in record.harvests):
        record.harvests.append(entry)
    if save is not None:
        save(record)  # before the journal goes: a kill now loses nothing
    journal.remove(ops)
    return held, stats.rehashed


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
        with gc_paused():
            return _harvest(volume, client, store.load(release), template, data_file,
                            renamer, partial, True, progress, ops, None)
    with store.transaction(release, what=f"harvest release {release}") as record, gc_paused():
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
        result.held, result.rehashed = _finish_journal(volume, record, journal, ops, progress,
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
    delivered = _delivered(doc)
    progress.message("Asking the Manager about the jobs")
    statuses = _manager_status(client, release, [
        j for j in record.jobs
        if any((j.name, j.revision, f) not in delivered for f in parse_frames(j.frames))])
    checks = _check_jobs(volume, record, statuses, delivered, progress)
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
    plan: list[tuple[FrameFile, str]] = []
    missing_data: dict[str, list[int]] = {}
    strict_data = data is not None and namer.uses_data
    for chk in ready:
        job = jobs[chk.name]
        if not chk.ready:
            continue
        first = chk.ready[0].frame
        name_of = namer.bind(FrameInfo(
            release, job.name, first, job.file_extension, job.revision, job.metadata,
            None if data is None else data.get(first), has_data=data is not None))
        for ff in chk.ready:
            if strict_data and ff.frame not in data:  # type: ignore[operator]
                missing_data.setdefault(job.name, []).append(ff.frame)
                continue
            plan.append((ff, name_of(ff.frame, None if data is None else data.get(ff.frame))))
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
    existing = _existing(dist)
    for s in aside:
        existing.pop(fold(s["was"]), None)
    check_targets(plan, existing, checked=True,  # the namer checked every name it made
                  label=lambda ff: str(FrameLabel(ff.job, ff.frame)))
    taken = [s["name"] for s in aside if not s.get("gone") and (dist / s["name"]).exists()]
    if taken:
        raise BadInput(f"{len(taken)} superseded file(s) cannot be moved aside, their place is "
                       f"taken: {', '.join(taken[:5])}. Nothing was moved.")

    result.superseded = [(s["was"], s["name"]) for s in aside]
    result.mapping = [(ff.src, name, ff.job, ff.frame) for ff, name in plan]
    if dry_run or (not plan and not aside):
        result.seconds = time.perf_counter() - started
        return result

    dist_rel = volume.relpath(dist)
    moves = [Move(f"{dist_rel}/{s['was']}", f"{dist_rel}/{s['name']}")
             for s in aside if not s.get("gone")]
    moves += [Move(ff.src, f"{dist_rel}/{name}", ff.sha256, ff.size, ff.mtime_ns, ff.ino)
              for ff, name in plan]
    payload = {
        "id": uuid.uuid4().hex, "release": release, "at": at,
        "partial": bool(result.skipped), "dist": dist_rel,
        "jobs": {c.name: {"revision": c.revision,
                          "source_sha256": jobs[c.name].current.source_sha256}
                 for c in ready},
        "superseded": aside,
        # One [job, frame] per delivery, in the order of the moves after the moves aside.
        "frames": [[ff.job, ff.frame] for ff, _ in plan],
    }
    for chk in checks:  # the moves hold what is needed now; 100,000 frames weigh
        chk.ready_count, chk.ready = len(chk.ready), []
    del plan
    dist.mkdir(parents=True, exist_ok=True)
    journal = Journal.create(journal_path, volume.root, moves, payload, ops)
    held, rehashed = _finish_journal(volume, record, journal, ops, progress, "Moving frames",
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


__all__ = [
    "HarvestIncomplete", "HarvestResult", "JobCheck", "Renamer", "Template",
    "harvest_release", "image_problem", "load_manifest", "mark_superseded", "read_frame",
]
