"""Archiving a finished release into one checked ``.tar.gz``. No `bpy` module use.

:func:`archive_release` writes ``archives/<release>.tar.gz`` holding the release folder
(``releases/<release>/``: its record, ``store/`` and ``out/``) and its delivery folder
(``dist/<release>/``) as members ``<release>/...`` and ``<release>/dist/...``.

- The archive is streamed: one file at a time is read, hashed and written, so memory does not
  grow with the size of the data (only a few hundred bytes of bookkeeping per member).
  Compression runs in worker threads on 1 MiB blocks of the tar stream (``zlib`` releases
  the GIL), joined into one standard gzip member the way ``pigz`` does. Data that is
  compressed already (PNG, JPEG, video, zip...: :data:`PRECOMPRESSED`) goes in as deflate
  *stored* blocks instead of being compressed again for a gain of a percent or two; tar
  headers, padding, .blend files and everything else are compressed at level 1.
- It is written to ``archives/.farm-tmp-<release>.tar.gz``, then read back (streaming, with a
  strict ustar/pax reader; the tests read the same archives with :mod:`tarfile` and GNU
  tar): every member's type, size and SHA-256 must match what was read from disk,
  and every file of the harvest manifest must be there with its checksum. Only then is it
  renamed into place. An existing archive is refused unless ``force``.
- ``prune`` then removes the archived folders (never the record, never anything outside the
  volume), after checking that nothing changed or appeared since it was archived.
- Symbolic links are stored as links, never followed; one pointing outside the volume is
  stored but reported in :attr:`ArchiveResult.flagged`.

Any failure (a full disk, a file that changes while it is read, a check that does not pass)
removes the temporary archive and prunes nothing.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import json
import os
import queue
import shutil
import stat
import struct
import tarfile
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple

from ..errors import BadInput, FarmError, reports_disk_errors
from ..fs.atomic import FileLock, atomic_write_text, sweep_temps
from ..fs.transfer import DEFAULT_OPS, TMP_PREFIX, FileOps, gc_paused
from ..fs.volume import HARVEST_JOURNAL_NAME, LOCK_NAME, RECORD_NAME, Volume
from ..progress import Progress

#: gzip level. Frames are PNG/JPEG/EXR, already compressed: level 1 saves what there is to
#: save (tar headers, padding, .blend files) at the least cost. See scripts/bench_archive.py.
DEFAULT_LEVEL = 1
BLOCK = 1 << 20
SMALL = 4 << 20
#: Read the archive back while it is written (True) or after (False: measured faster, as
#: the two Python loops contend for the GIL). See scripts/bench_archive.py.
OVERLAP = False
RECORDSIZE = 20 * 512
ARCHIVED_MARKER = ".farm-archived.json"

_NUL = b"\0"


class ArchiveError(FarmError):
    """Writing or checking an archive failed; the temporary archive was removed."""


@dataclass
class ArchiveResult:
    release: str
    path: Path
    dry_run: bool = False
    members: int = 0
    files: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    seconds: float = 0.0
    checked: bool = False
    manifest_files: int = 0
    pruned: list[Path] = field(default_factory=list)
    #: Symbolic links pointing outside the volume (stored as links) and skipped special files.
    flagged: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "release": self.release, "archive": str(self.path), "dry_run": self.dry_run,
            "members": self.members, "files": self.files, "bytes_in": self.bytes_in,
            "bytes_out": self.bytes_out, "seconds": round(self.seconds, 3),
            "checked": self.checked, "manifest_files": self.manifest_files,
            "pruned": [str(p) for p in self.pruned], "flagged": self.flagged,
        }


class _Stat(NamedTuple):
    """The part of a stat result an archive member needs (a full one weighs ten times more:
    a release has 100,000 members)."""

    st_mode: int
    st_uid: int
    st_gid: int
    st_size: int
    st_mtime_ns: int

    @property
    def st_mtime(self) -> float:
        return self.st_mtime_ns / 1e9


def _st(st: os.stat_result) -> _Stat:
    return _Stat(st.st_mode, st.st_uid, st.st_gid, st.st_size, st.st_mtime_ns)


class _Entry(NamedTuple):
    path: str
    name: str  # member name, without a trailing slash
    kind: bytes  # tarfile.REGTYPE, DIRTYPE or SYMTYPE
    st: _Stat
    linkname: str = ""


@dataclass(slots=True)
class _Written:
    kind: bytes
    size: int
    digest: bytes
    linkname: str
    mtime_ns: int
    seen: bool = False


# --------------------------------------------------------------------------------------------
# Collecting what to archive


def _walk(top: str, prefix: str, skip: Callable[[str], bool],
          out: list[_Entry], volume_root: Path, flagged: list[str]) -> None:
    """Depth-first, sorted, never following links. Names only are listed (a folder of
    100,000 frames as DirEntry objects would weigh 30 MB); each is lstat-ed once."""
    try:
        names = sorted(os.listdir(top))
    except OSError as exc:
        raise ArchiveError(f"Cannot read {top}: {exc.strerror}. Nothing was archived.") from exc
    base = top + os.sep
    for entry_name in names:
        if skip(entry_name):
            continue
        name = f"{prefix}/{entry_name}"
        path = base + entry_name
        try:
            st = _st(os.lstat(path))
        except FileNotFoundError:
            continue  # gone since it was listed
        if stat.S_ISLNK(st.st_mode):
            target = os.readlink(path)
            out.append(_Entry(path, name, tarfile.SYMTYPE, st, target))
            where = os.path.normpath(os.path.join(top, target))
            if not Path(where).is_relative_to(volume_root):
                flagged.append(f"{name} -> {target} (a link pointing outside the volume)")
        elif stat.S_ISDIR(st.st_mode):
            out.append(_Entry(path, name, tarfile.DIRTYPE, st))
            _walk(path, name, lambda n: False, out, volume_root, flagged)
        elif stat.S_ISREG(st.st_mode):
            out.append(_Entry(path, name, tarfile.REGTYPE, st))
        else:
            flagged.append(f"{name} (not a regular file, folder or link; skipped)")


def _collect(volume: Volume, release: str, flagged: list[str]) -> list[_Entry]:
    rel_dir = volume.release_dir(release)
    dist = volume.dist_dir(release)
    root = Path(os.path.normpath(volume.root.absolute()))
    entries = [_Entry(str(rel_dir), release, tarfile.DIRTYPE, _st(os.lstat(rel_dir)))]

    def skip_release(name: str) -> bool:
        return name in (LOCK_NAME, ARCHIVED_MARKER) or name.startswith(TMP_PREFIX)

    if (rel_dir / "dist").exists() or (rel_dir / "dist").is_symlink():
        raise ArchiveError(
            f"{rel_dir / 'dist'} is in the way of the archive's {release}/dist/ member; "
            "move it out of the release folder."
        )
    _walk(str(rel_dir), release, skip_release, entries, root, flagged)
    if os.path.islink(dist):  # stored as the link it is, like every link; never followed
        target = os.readlink(dist)
        entries.append(_Entry(str(dist), f"{release}/dist", tarfile.SYMTYPE, _st(os.lstat(dist)),
                              target))
        if not Path(os.path.normpath(os.path.join(dist.parent, target))).is_relative_to(root):
            flagged.append(f"{release}/dist -> {target} (the delivery folder is a link pointing "
                           "outside the volume; what it points to is not archived)")
    elif os.path.isdir(dist):
        entries.append(_Entry(str(dist), f"{release}/dist", tarfile.DIRTYPE, _st(os.lstat(dist))))
        _walk(str(dist), f"{release}/dist", lambda n: n.startswith(TMP_PREFIX), entries, root,
              flagged)
    return entries


# --------------------------------------------------------------------------------------------
# Writing: tar headers and a block-parallel gzip stream


_names: dict[tuple[str, int], str] = {}


def _owner(kind: str, ident: int) -> str:
    """The user (``u``) or group name of an id, "" when unknown (and on Windows)."""
    key = (kind, ident)
    if key not in _names:
        try:
            if kind == "u":
                _names[key] = str(importlib.import_module("pwd").getpwuid(ident).pw_name)
            else:
                _names[key] = str(importlib.import_module("grp").getgrgid(ident).gr_name)
        except (ImportError, KeyError, OverflowError):
            _names[key] = ""
    return _names[key]


def _split_name(name: bytes) -> tuple[bytes, bytes] | None:
    if len(name) <= 100:
        return b"", name
    if len(name) > 256:
        return None
    cut = name.rfind(b"/", 0, 156)
    while cut > 0:
        if len(name) - cut - 1 <= 100:
            return name[:cut], name[cut + 1:]
        cut = name.rfind(b"/", 0, cut)
    return None


_ids: dict[tuple[int, int], tuple[bytes, bytes] | None] = {}


def _id_fields(uid: int, gid: int) -> tuple[bytes, bytes] | None:
    """The uid/gid and the magic/uname/gname/devices fields of a ustar header (cached), or
    None when they do not fit one."""
    key = (uid, gid)
    if key not in _ids:
        uname, gname = _owner("u", uid), _owner("g", gid)
        fits = (0 <= uid < 8**7 and 0 <= gid < 8**7 and len(uname) < 32 and len(gname) < 32
                and uname.isascii() and gname.isascii())
        _ids[key] = (b"%07o\0%07o\0" % (uid, gid),
                     b"ustar\x0000" + uname.encode().ljust(32, _NUL)
                     + gname.encode().ljust(32, _NUL) + b"0000000\0" * 2) if fits else None
    return _ids[key]


def _header(e: _Entry, size: int) -> bytes:
    """A ustar header; PAX (through :mod:`tarfile`) when a field does not fit."""
    st = e.st
    name = e.name + ("/" if e.kind == tarfile.DIRTYPE else "")
    mode = 0o777 if e.kind == tarfile.SYMTYPE else stat.S_IMODE(st.st_mode)
    mtime = st.st_mtime_ns // 1_000_000_000
    ids = _id_fields(st.st_uid, st.st_gid)
    if ids is not None and name.isascii() and e.linkname.isascii() and size < 8**11 \
            and 0 <= mtime < 8**11 and len(e.linkname) <= 100:
        split = _split_name(name.encode())
        if split is not None:
            prefix, short = split
            buf = b"%s%07o\0%s%011o\0%011o\0        %s%s%s%s%s" % (
                short.ljust(100, _NUL), mode, ids[0], size, mtime, e.kind,
                e.linkname.encode().ljust(100, _NUL), ids[1], prefix.ljust(155, _NUL),
                bytes(12))
            return buf[:148] + b"%06o\0" % sum(buf) + buf[155:]
    info = tarfile.TarInfo(name)
    info.type, info.size, info.mode, info.mtime = e.kind, size, mode, mtime
    info.uid, info.gid = st.st_uid, st.st_gid
    info.uname, info.gname = _owner("u", st.st_uid), _owner("g", st.st_gid)
    info.linkname = e.linkname
    return info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")


#: Formats whose data is compressed already: stored in the archive as they are (deflate
#: "stored" blocks), not compressed a second time for a gain of a few percent.
PRECOMPRESSED = frozenset({
    ".png", ".jpg", ".jpeg", ".webp", ".jp2", ".j2c", ".gif", ".avif", ".heic",
    ".mp4", ".mov", ".mkv", ".webm", ".avi", ".ogg", ".ogv", ".mp3", ".flac", ".opus",
    ".zip", ".gz", ".tgz", ".bz2", ".xz", ".zst", ".7z", ".rar", ".lz4",
})


def _precompressed(name: str) -> bool:
    dot = name.rfind(".")
    return dot > name.rfind("/") and name[dot:].lower() in PRECOMPRESSED


def _deflate(pieces: list[tuple[bool, bytes]], level: int, final: bool) -> bytes:
    """One stretch of the deflate stream. Compressible pieces go through zlib; stored pieces
    become stored blocks, after a full flush so that no match reaches across them."""
    c = zlib.compressobj(level, zlib.DEFLATED, -15, 9)
    out: list[bytes] = []
    for stored, data in pieces:
        if stored:
            out.append(c.flush(zlib.Z_FULL_FLUSH))  # byte-aligned, history reset
            for i in range(0, len(data), 0xFFFF):
                part = data[i:i + 0xFFFF]
                out.append(b"\x00" + struct.pack("<HH", len(part), 0xFFFF ^ len(part)) + part)
        else:
            out.append(c.compress(data))
    out.append(c.flush(zlib.Z_FINISH if final else zlib.Z_SYNC_FLUSH))
    return b"".join(out)


class _GzipWriter:
    """One gzip member whose deflate stream is made of independently compressed blocks.

    The calling thread fills 1 MiB blocks; a pool compresses them; one writer thread writes
    them in order. A write error stops everything and is raised to the caller."""

    def __init__(self, f: BinaryIO, ops: FileOps, level: int, threads: int) -> None:
        self.f, self.ops, self.level = f, ops, level
        self.buf = bytearray()  # the compressible piece being filled
        self.pieces: list[tuple[bool, bytes]] = []  # the block being filled
        self.pending = 0  # bytes in the block
        self.crc = 0
        self.size = 0  # bytes cut into pieces
        self.out = 0
        self.threads = max(1, threads)
        self.pool = ThreadPoolExecutor(self.threads, thread_name_prefix="farm-gzip")
        self.queue: queue.Queue[Future[bytes] | None] = queue.Queue(maxsize=2 * self.threads)
        self.error: BaseException | None = None
        self.on_emit: Callable[[], None] = lambda: None
        xfl = 4 if level == 1 else (2 if level == 9 else 0)
        self._emit(b"\x1f\x8b\x08\x00" + struct.pack("<I", int(time.time())) + bytes([xfl, 3]))
        self.writer = threading.Thread(target=self._drain, name="farm-gzip-writer", daemon=True)
        self.writer.start()

    def _emit(self, data: bytes) -> None:
        self.ops.write(self.f, data)
        self.out += len(data)
        self.on_emit()

    def _drain(self) -> None:
        while (fut := self.queue.get()) is not None:
            if self.error is None:
                try:
                    self._emit(fut.result())
                except BaseException as exc:
                    self.error = exc

    def _raise(self) -> None:
        if self.error is not None:
            raise self.error

    def write(self, data: bytes, stored: bool = False) -> None:
        """Append ``data``; ``stored``: it is compressed already, store it as it is."""
        if stored and self.level:
            self._cut()
            self.crc = zlib.crc32(data, self.crc)
            self.size += len(data)
            self.pieces.append((True, data))
        else:
            self.buf += data
        self.pending += len(data)
        if self.pending >= BLOCK:
            self._submit(final=False)

    def member(self, head: bytes, data: bytes, stored: bool) -> None:
        """A whole small member: its header, its data and the padding, in one call (a
        release has 100,000 of them)."""
        buf = self.buf
        buf += head
        if stored and self.level:
            self._cut()
            self.crc = zlib.crc32(data, self.crc)
            self.size += len(data)
            self.pieces.append((True, data))
            buf = self.buf
        else:
            buf += data
        pad = -len(data) % 512
        if pad:
            buf += _ZERO[:pad]
        self.pending += len(head) + len(data) + pad
        if self.pending >= BLOCK:
            self._submit(final=False)

    def _cut(self) -> None:
        if self.buf:
            piece = bytes(self.buf)
            self.crc = zlib.crc32(piece, self.crc)
            self.size += len(piece)
            self.pieces.append((False, piece))
            self.buf = bytearray()

    def _submit(self, final: bool) -> None:
        self._raise()
        self._cut()
        pieces, self.pieces, self.pending = self.pieces, [], 0
        self.queue.put(self.pool.submit(_deflate, pieces, self.level, final))

    def finish(self) -> None:
        self._submit(final=True)
        self.queue.put(None)
        self.writer.join()
        self.pool.shutdown()
        self._raise()
        self._emit(struct.pack("<II", self.crc, self.size & 0xFFFFFFFF))

    def abort(self) -> None:
        self.error = self.error or ArchiveError("aborted")
        while True:  # unblock and stop the writer
            try:
                self.queue.put_nowait(None)
                break
            except queue.Full:
                with contextlib.suppress(queue.Empty):
                    self.queue.get_nowait()
        self.writer.join()
        self.pool.shutdown(wait=True, cancel_futures=True)


def _changed(e: _Entry) -> ArchiveError:
    return ArchiveError(
        f"{e.path} changed while it was archived; nothing was archived. Make sure no job of "
        "the release is still rendering or being harvested, and run the command again."
    )


def _write(entries: list[_Entry], f: BinaryIO, ops: FileOps, level: int, threads: int,
           progress: Progress, written: dict[str, _Written],
           on_emit: Callable[[], None]) -> tuple[int, int]:
    bytes_in = 0
    gz = _GzipWriter(f, ops, level, threads)
    gz.on_emit = on_emit
    try:
        entries.reverse()  # consumed from the end: each entry is freed once written
        while entries:
            e = entries.pop()
            progress.check()
            if e.kind == tarfile.REGTYPE:
                h = hashlib.sha256()
                size = e.st.st_size
                stored = _precompressed(e.name)
                if size <= SMALL:
                    data = ops.read_bytes(e.path, size + 1)
                    if len(data) != size:
                        raise _changed(e)
                    h.update(data)
                    gz.member(_header(e, size), data, stored)
                else:
                    with ops.open_read(e.path) as src:
                        gz.write(_header(e, size))
                        left = size
                        while left:
                            chunk = src.read(min(BLOCK, left))
                            if not chunk:
                                raise _changed(e)
                            h.update(chunk)
                            gz.write(chunk, stored)
                            left -= len(chunk)
                        if src.read(1):
                            raise _changed(e)
                    if size % 512:
                        gz.write(bytes(512 - size % 512))
                bytes_in += size
                written[e.name] = _Written(e.kind, size, h.digest(), "", e.st.st_mtime_ns)
            else:
                gz.write(_header(e, 0))
                written[e.name] = _Written(e.kind, 0, b"", e.linkname, e.st.st_mtime_ns)
            progress.advance()
        end = 1024 + (-(gz.size + len(gz.buf) + 1024) % RECORDSIZE)  # size: bytes so far
        gz.write(bytes(end))
        gz.finish()
    except BaseException:
        gz.abort()
        raise
    ops.fsync(f)
    return bytes_in, gz.out


# --------------------------------------------------------------------------------------------
# Reading back


class _Tail:
    """Reads the archive, also while another thread is still writing it (``OVERLAP``)."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw
        self.cond = threading.Condition()
        self.done = False
        self.stop = threading.Event()

    def notify(self) -> None:
        with self.cond:
            self.cond.notify_all()

    def finish(self) -> None:
        with self.cond:
            self.done = True
            self.cond.notify_all()

    def read(self, n: int) -> bytes:
        while True:
            if self.stop.is_set():
                raise ArchiveError("stopped")
            data = self.raw.read(n)
            if data:
                return data
            with self.cond:
                if self.done:
                    return self.raw.read(n) or b""
                self.cond.wait(0.05)


class _Inflater:
    """Reads a gzip file as a stream of exact-size pieces, decompressing in bounded steps."""

    def __init__(self, raw: _Tail | BinaryIO, source: Path) -> None:
        self.raw = raw
        self.source = source
        self.d = zlib.decompressobj(31)
        self.chunk = b""  # decompressed, from self.pos on not yet taken
        self.pos = 0
        self.eof = False

    def _more(self) -> bytes:
        """The next decompressed piece; b"" at the end of the gzip stream."""
        while not self.eof:
            data = self.d.unconsumed_tail or self.raw.read(1 << 18)
            if not data:
                raise ArchiveError(f"{self.source} is truncated (the gzip stream does not end).")
            try:
                out = self.d.decompress(data, BLOCK)
            except zlib.error as exc:
                raise ArchiveError(f"{self.source} is damaged: {exc}.") from None
            if self.d.eof:
                self.eof = True
                if self.d.unused_data or self.raw.read(1):
                    raise ArchiveError(f"{self.source} has data after the gzip stream.")
            if out:
                return out
        return b""

    def read(self, n: int) -> bytes:
        """``n`` bytes, fewer only at the end."""
        end = self.pos + n
        if end <= len(self.chunk):
            out = self.chunk[self.pos:end]
            self.pos = end
            return out
        parts = [self.chunk[self.pos:]]
        have = len(parts[0])
        self.chunk, self.pos = b"", 0
        while have < n:
            nxt = self._more()
            if not nxt:
                break
            need = n - have
            if len(nxt) > need:
                parts.append(nxt[:need])
                self.chunk, self.pos = nxt, need
                have = n
            else:
                parts.append(nxt)
                have += len(nxt)
        return b"".join(parts)


def _nts(field: bytes) -> str:
    return field.split(_NUL, 1)[0].decode("utf-8", "surrogateescape")


def _pax(data: bytes) -> dict[str, str]:
    out: dict[str, str] = {}
    pos = 0
    while pos < len(data) and data[pos:pos + 1] != _NUL:
        sp = data.index(b" ", pos)
        length = int(data[pos:sp])
        key, _, value = data[sp + 1:pos + length - 1].partition(b"=")
        out[key.decode("utf-8", "surrogateescape")] = value.decode("utf-8", "surrogateescape")
        pos += length
    return out


_ZERO = bytes(512)


def _check(raw: _Tail | BinaryIO, tmp: Path, release: str, written: dict[str, _Written],
           manifest: dict[str, str], tick: Callable[[], None]) -> int:
    """Read the archive back; every member must match what was written, every manifest file
    must be there with its checksum. Returns the number of manifest files found.

    The reader is a strict, streaming ustar/pax parser (header checksums, magic, sizes);
    tests read the same archives with :mod:`tarfile` and GNU tar."""
    problems: list[str] = []
    found = 0
    src = _Inflater(raw, tmp)

    def read(n: int) -> bytes:
        data = src.read(n)
        if len(data) != n:
            raise ArchiveError(f"{tmp} is truncated.")
        return data

    pax: dict[str, str] = {}
    while True:
        hdr = read(512)
        if hdr == _ZERO:
            while rest := src.read(BLOCK):
                if rest.count(0) != len(rest):
                    raise ArchiveError(f"{tmp} has data after the end of the archive.")
            break
        try:
            chk = int(hdr[148:156].strip(b" \0") or b"0", 8)
            size = int(hdr[124:136].strip(b" \0") or b"0", 8)
        except ValueError:
            raise ArchiveError(f"{tmp} is damaged: a header has bad numbers.") from None
        if chk != sum(hdr) - sum(hdr[148:156]) + 256 or hdr[257:262] != b"ustar":
            raise ArchiveError(f"{tmp} is damaged: a header checksum does not match.")
        kind = hdr[156:157]
        if kind in (b"x", b"g"):
            data = read(size + (-size % 512))[:size]
            if kind == b"x":
                pax = _pax(data)
            continue
        name = _nts(hdr[0:100])
        if hdr[345]:
            name = f"{_nts(hdr[345:500])}/{name}"
        linkname = _nts(hdr[157:257]) if hdr[157] else ""
        if pax:
            name = pax.get("path", name)
            linkname = pax.get("linkpath", linkname)
            size = int(pax.get("size", size))
            pax = {}
        if kind == tarfile.AREGTYPE:
            kind = tarfile.DIRTYPE if name.endswith("/") else tarfile.REGTYPE
        name = name.rstrip("/") if kind == tarfile.DIRTYPE else name
        digest = b""
        if kind == tarfile.REGTYPE:
            if size <= SMALL:
                padded = size + (-size % 512)  # the data and its padding in one piece
                data = read(padded)
                digest = hashlib.sha256(memoryview(data)[:size]).digest()
            else:
                h = hashlib.sha256()
                left = size
                while left:
                    chunk = read(min(BLOCK, left))
                    h.update(chunk)
                    left -= len(chunk)
                digest = h.digest()
                if size % 512:
                    read(512 - size % 512)
        elif size:
            read(size + (-size % 512))
        tick()
        bad = _unsafe_member(name, release)
        w = written.get(name)
        if bad or w is None or w.seen:
            why = bad or ("appears twice" if w else "was not written")
            problems.append(f"member {name!r} {why}")
            continue
        w.seen = True
        if kind != w.kind:
            problems.append(f"{name}: wrong type")
        elif kind == tarfile.SYMTYPE and linkname != w.linkname:
            problems.append(f"{name}: link target {linkname!r} != {w.linkname!r}")
        elif kind == tarfile.REGTYPE:
            if size != w.size or digest != w.digest:
                problems.append(f"{name}: content differs from the file on disk")
            want = manifest.get(name)
            if want is not None:
                found += 1
                if want != digest.hex():
                    problems.append(
                        f"{name}: SHA-256 differs from the harvest manifest "
                        "(the delivered file changed after the harvest)"
                    )
    missing = [n for n, w in written.items() if not w.seen]
    problems += [f"{n} is missing from the archive" for n in missing[:10]]
    absent = [n for n in manifest if n not in written]
    problems += [f"{n} is in the harvest manifest but not in dist/" for n in absent[:10]]
    if problems:
        raise ArchiveError(
            f"The archive did not pass its check ({len(problems)} problem(s)): "
            + "; ".join(problems[:10]) + ". It was removed; nothing was pruned."
        )
    return found


def _unsafe_member(name: str, release: str) -> str | None:
    if name.startswith("/") or "\\" in name or "\0" in name:
        return "is not a safe relative name"
    parts = name.split("/")
    if any(p in ("", ".", "..") for p in parts):
        return "is not a safe relative name"
    if parts[0] != release:
        return f"is outside {release}/"
    return None


def _manifest_sums(dist: Path, release: str) -> dict[str, str]:
    """Member name -> SHA-256 of every file the harvest manifest lists."""
    path = dist / "manifest.json"
    try:
        doc = json.loads(path.read_bytes())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise ArchiveError(
            f"The harvest manifest {path} cannot be read ({exc}); nothing was archived."
        ) from exc
    out: dict[str, str] = {}
    try:
        for item in list(doc.get("files", [])) + list(doc.get("superseded", [])):
            out[f"{release}/dist/{item['name']}"] = str(item["sha256"])
    except (TypeError, KeyError, AttributeError) as exc:
        raise ArchiveError(f"The harvest manifest {path} is damaged ({exc!r}).") from exc
    return out


# --------------------------------------------------------------------------------------------
# Pruning


def _prune(volume: Volume, release: str, written: dict[str, _Written],
           archive: Path, ops: FileOps) -> list[Path]:
    """Remove what was archived, once nothing changed since."""
    rel_dir = volume.release_dir(release)
    dist = volume.dist_dir(release)
    tops = [p for p in sorted(rel_dir.iterdir())
            if p.name not in (RECORD_NAME, LOCK_NAME, ARCHIVED_MARKER)
            and not p.name.startswith(TMP_PREFIX)]
    if dist.is_dir() and not dist.is_symlink():
        tops.append(dist)
    changed: list[str] = []
    for top in tops:
        volume.check_inside(top.parent)
        for e in _iter_tree(top):
            name = _member_name(e, rel_dir, dist, release)
            w = written.get(name)
            if w is None:
                changed.append(f"{e} appeared after it was archived")
            elif not stat.S_ISDIR(e.stat(follow_symlinks=False).st_mode) and (
                    e.stat(follow_symlinks=False).st_mtime_ns != w.mtime_ns):
                changed.append(f"{e} changed after it was archived")
    if changed:
        raise ArchiveError(
            f"Not pruning: {'; '.join(changed[:5])}. The archive {archive} is complete and "
            "checked; look at these files, then archive again with --force."
        )
    removed = []
    for top in tops:
        if top.is_symlink() or not top.is_dir():
            ops.unlink(top)
        else:
            shutil.rmtree(top)
        removed.append(top)
    return removed


def _iter_tree(top: Path) -> Iterator[Path]:
    yield top
    if top.is_dir() and not top.is_symlink():
        for dirpath, dirnames, filenames in os.walk(top):
            for n in dirnames + filenames:
                yield Path(dirpath) / n


def _member_name(p: Path, rel_dir: Path, dist: Path, release: str) -> str:
    if p.is_relative_to(dist):
        rel = p.relative_to(dist).as_posix()
        return f"{release}/dist" + ("" if rel == "." else f"/{rel}")
    return f"{release}/{p.relative_to(rel_dir).as_posix()}"


# --------------------------------------------------------------------------------------------
# The operation


def _read_marker(marker: Path) -> dict[str, Any]:
    """The archived marker's content ({} if there is none); an unreadable one counts as a
    finished prune, the careful reading."""
    try:
        doc = json.loads(marker.read_bytes())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError):
        return {"pruned": True}
    return doc if isinstance(doc, dict) else {"pruned": True}


def _sha256_of(f: Any) -> bytes:
    h = hashlib.sha256()
    while f is not None and (chunk := f.read(BLOCK)):
        h.update(chunk)
    return h.digest()


def _written_from_archive(volume: Volume, release: str, archive: Path) -> dict[str, _Written]:
    """What a checked archive holds, as :func:`_prune` needs it: each member whose file on
    disk still matches it (same type, size and SHA-256, or link target) gets that file's
    modification time, so that only unchanged files are pruned."""
    rel_dir, dist = volume.release_dir(release), volume.dist_dir(release)
    written: dict[str, _Written] = {}
    try:
        with tarfile.open(archive, "r|gz") as tar:
            for member in tar:
                name = member.name.rstrip("/")
                if _unsafe_member(name, release):
                    raise ArchiveError(f"{archive} holds an unsafe member {name!r}.")
                rest = name[len(release) + 1:]
                if rest == "dist" or rest.startswith("dist/"):
                    disk = dist / rest[len("dist/"):]
                else:
                    disk = rel_dir / rest
                try:
                    st = os.lstat(disk)
                except OSError:
                    st = None
                mtime = -1
                if member.isfile():
                    digest = _sha256_of(tar.extractfile(member))
                    if st is not None and stat.S_ISREG(st.st_mode) and st.st_size == member.size:
                        with open(disk, "rb") as f:
                            if _sha256_of(f) == digest:
                                mtime = st.st_mtime_ns
                    written[name] = _Written(tarfile.REGTYPE, member.size, digest, "", mtime)
                elif member.issym():
                    if st is not None and stat.S_ISLNK(st.st_mode) \
                            and os.readlink(disk) == member.linkname:
                        mtime = st.st_mtime_ns
                    written[name] = _Written(tarfile.SYMTYPE, 0, b"", member.linkname, mtime)
                else:
                    written[name] = _Written(tarfile.DIRTYPE, 0, b"", "", mtime)
    except (OSError, tarfile.TarError, EOFError, zlib.error) as exc:
        raise ArchiveError(f"The archive {archive} cannot be read back ({exc}); nothing more "
                           "was pruned.") from exc
    return written


@reports_disk_errors("archive the release")
def archive_release(volume: Volume, release: str, force: bool = False, prune: bool = False,
                    progress: Progress | None = None, *, dry_run: bool = False,
                    level: int = DEFAULT_LEVEL, threads: int | None = None,
                    ops: FileOps = DEFAULT_OPS, lock_timeout: float = 10.0) -> ArchiveResult:
    """Write, check and rename ``archives/<release>.tar.gz``; then prune if asked.

    Holds the release's lock, so that no harvest or replace changes the release while it is
    archived. A prune that was interrupted is finished by the same command again."""
    rel_dir = volume.release_dir(release)
    if not (rel_dir / RECORD_NAME).is_file():
        known = volume.list_releases()
        listed = ", ".join(known[:10]) if known else "none"
        raise BadInput(f"There is no release {release!r} on {volume.root} (releases: {listed}).")
    if dry_run:
        return _archive(volume, release, force, prune, progress, True, level, threads, ops)
    with FileLock(volume.lock_path(release), lock_timeout, f"archiving {release}"), \
            gc_paused():
        return _archive(volume, release, force, prune, progress, False, level, threads, ops)


def _archive(volume: Volume, release: str, force: bool, prune: bool,
             progress: Progress | None, dry_run: bool, level: int, threads: int | None,
             ops: FileOps) -> ArchiveResult:
    progress = progress or Progress()
    started = time.perf_counter()
    rel_dir = volume.release_dir(release)
    target = volume.archive_path(release)
    result = ArchiveResult(release, target, dry_run=dry_run)
    if (rel_dir / HARVEST_JOURNAL_NAME).exists():
        raise ArchiveError(
            f"A harvest of {release!r} was interrupted; run `farm harvest release {release}` "
            "to finish it before archiving."
        )
    marker = rel_dir / ARCHIVED_MARKER
    if not dry_run:
        sweep_temps(rel_dir, locked=True)  # a marker a killed run was writing
    state = _read_marker(marker)
    if state.get("pruned"):
        raise ArchiveError(
            f"{release!r} was archived to {target} and pruned; its files are only in the "
            "archive now, so it is not archived again."
        )
    exists = ops.lstat(target) is not None
    if state and not exists:
        raise ArchiveError(
            f"Pruning {release!r} was interrupted and its archive {target} is gone: some "
            "of its files were only in that archive. Restore the archive, then run "
            f"`farm archive release {release} --prune` to finish."
        )
    if state and (force or not prune):  # some files are only in the archive now
        raise ArchiveError(
            f"Pruning {release!r} after archiving it to {target} was interrupted; some of "
            "its files are only in the archive now, so it is not archived again. Run "
            f"`farm archive release {release} --prune` to finish the prune."
        )
    if exists and prune and not force:
        # The archive is there (a run killed after writing it, or an earlier archive): it
        # was checked when written; prune what it holds unchanged, refuse if anything else.
        if dry_run:
            return result
        archived = _written_from_archive(volume, release, target)
        result.checked = True
        result.members = len(archived)
        info = state or {"archive": volume.relpath(target), "members": len(archived),
                         "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                         "bytes": os.stat(target).st_size}
        result.pruned = _prune_and_mark(volume, release, archived, target, ops, marker, info)
        result.seconds = time.perf_counter() - started
        return result
    if ops.lstat(target) is not None and not force:
        raise ArchiveError(
            f"{target} already exists. Use --force to replace it with a new archive."
        )
    volume.archives_dir.mkdir(exist_ok=True)
    flagged: list[str] = []
    entries = _collect(volume, release, flagged)
    result.flagged = flagged
    result.members = len(entries)
    result.files = sum(1 for e in entries if e.kind == tarfile.REGTYPE)
    result.bytes_in = sum(e.st.st_size for e in entries if e.kind == tarfile.REGTYPE)
    if dry_run:
        return result
    manifest = _manifest_sums(volume.dist_dir(release), release)
    tmp = volume.archives_dir / f"{TMP_PREFIX}{release}.tar.gz"
    volume.check_inside(tmp)
    written: dict[str, _Written] = {}
    try:
        if ops.lstat(tmp) is not None:
            ops.unlink(tmp)  # left by a killed run
        result.bytes_in, result.bytes_out, result.manifest_files = _write_and_check(
            entries, tmp, release, written, manifest, ops, level,
            threads or min(4, os.cpu_count() or 1), progress)
        result.checked = True
        if ops.lstat(target) is not None and not force:
            raise ArchiveError(f"{target} appeared while archiving; not replaced.")
        ops.rename(tmp, target)
        ops.fsync_dir(target.parent)
    except OSError as exc:
        _remove(tmp)
        raise ArchiveError(
            f"Writing the archive {target} failed: {exc.strerror or exc}. The temporary "
            "archive was removed; nothing was pruned."
        ) from exc
    except BaseException:
        _remove(tmp)
        raise
    if prune:
        info = {"archive": volume.relpath(target), "pruned": False,
                "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "members": result.members, "bytes": result.bytes_out}
        result.pruned = _prune_and_mark(volume, release, written, target, ops, marker, info)
    result.seconds = time.perf_counter() - started
    return result


def _prune_and_mark(volume: Volume, release: str, written: dict[str, _Written],
                    target: Path, ops: FileOps, marker: Path, info: dict[str, Any]) -> list[Path]:
    """Prune, between two states of the marker: "pruning" (written first, so that an
    interrupted prune is finished, never archived again over the complete archive), then
    "pruned"."""
    atomic_write_text(marker, json.dumps({**info, "pruned": False}, indent=2) + "\n")
    try:
        pruned = _prune(volume, release, written, target, ops)
    except OSError as exc:
        raise ArchiveError(
            f"Pruning {release!r} failed: {exc.strerror or exc}. The archive {target} is "
            f"complete and checked; run `farm archive release {release} --prune` again to "
            "finish the prune."
        ) from exc
    atomic_write_text(marker, json.dumps({**info, "pruned": True}, indent=2) + "\n")
    return pruned


class _Checker(threading.Thread):
    def __init__(self, tail: _Tail, tmp: Path, release: str, written: dict[str, _Written],
                 manifest: dict[str, str]) -> None:
        super().__init__(name="farm-archive-check", daemon=True)
        self.args = (tail, tmp, release, written, manifest)
        self.count = 0
        self.found = 0
        self.error: BaseException | None = None

    def _tick(self) -> None:
        self.count += 1

    def run(self) -> None:
        try:
            self.found = _check(*self.args, tick=self._tick)
        except BaseException as exc:
            self.error = exc


def _write_and_check(entries: list[_Entry], tmp: Path, release: str,
                     written: dict[str, _Written], manifest: dict[str, str], ops: FileOps,
                     level: int, threads: int, progress: Progress) -> tuple[int, int, int]:
    """Write the archive, then read it back in a second thread (the main one reports its
    progress). With ``OVERLAP`` the reading starts at once and follows the writing: that
    only pays when compression, not Python, is the bottleneck (it no longer is)."""
    with ops.open_new(tmp) as f, ops.open_read(tmp) as raw:
        tail = _Tail(raw)
        checker = _Checker(tail, tmp, release, written, manifest)
        if OVERLAP:
            checker.start()
        try:
            count = len(entries)
            progress.start(count, f"Archiving {release}")
            bytes_in, bytes_out = _write(entries, f, ops, level, threads, progress, written,
                                         tail.notify)
            ops.fsync(f)
            tail.finish()
            if not OVERLAP:
                checker.start()
            progress.start(count, "Checking the archive")
            while checker.is_alive():
                checker.join(0.1)
                progress.check()
                progress.advance(checker.count - progress.done)
        except BaseException:
            tail.stop.set()
            tail.finish()
            if checker.is_alive():
                checker.join()
            raise
        if checker.error is not None:
            raise checker.error
        progress.advance(checker.count - progress.done)
        return bytes_in, bytes_out, checker.found


def _remove(tmp: Path) -> None:
    tmp.unlink(missing_ok=True)
