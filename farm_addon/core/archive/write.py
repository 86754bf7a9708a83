"""Writing the ``.tar.gz``: headers and data, each file hashed as it is read. No `bpy` module use.

:func:`write` reads each file once, hashes it (SHA-256) and writes it into the archive,
recording in ``written`` what went in, for the check that follows. One file at a time is
read, so memory does not grow with the size of the data. A file that changes size while it
is read fails the archive. A later name of a file with several (``tarfile.LNKTYPE`` from
:func:`.collect.collect`) is written as a hard-link member (size 0, linkname: the first
name's member) after checking it still is the same file as that first name; GNU tar, pax and
:mod:`tarfile` extract it as a hard link.

The tar headers are made here (ustar; PAX through :mod:`tarfile` when a field does not fit)
and the gzip stream by :class:`.gzwrite.GzipWriter`, not by :mod:`tarfile` and
:mod:`gzip`: ``scripts/bench_archive.py`` measured it worth its lines. 20,000 frames
(20,015 members, medians of 3, a loaded 2-core machine, level 1): farm's write phase
0.89 / 1.24 s (two runs) against 3.31 / 3.64 s for the same work (same members, every file
hashed) through ``tarfile`` over ``gzip.GzipFile``: 2.9-3.7x as fast, for an archive of
48.6 MB instead of 46.0 MB (frames stored, not compressed again). ``tar cf - | pigz -1``
took 1.01 / 1.28 s (46.3 MB), ``tar czf`` 2.41 / 3.29 s (45.8 MB).
"""

from __future__ import annotations

import hashlib
import importlib
import stat
import tarfile
from typing import BinaryIO

from ..fs.mover import FileOps
from ..progress import Progress
from .collect import ArchiveError, Entry, Written
from .gzwrite import BLOCK, GzipWriter, precompressed

#: Files up to this size are read in one piece.
SMALL = 4 << 20
RECORDSIZE = 20 * 512
_NUL = b"\0"


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


def _header(e: Entry, size: int) -> bytes:
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


def _changed(e: Entry) -> ArchiveError:
    return ArchiveError(
        f"{e.path} changed while it was archived; nothing was archived. Make sure no job of "
        "the release is still rendering or being harvested, and run the command again."
    )


def _same_file(e: Entry, first: tuple[int, int] | None, w: Written | None,
               ops: FileOps) -> Written:
    """What a hard link's member stands for: its first name's content, once the link is
    checked to be that same file still."""
    st = ops.lstat(e.path)
    if first is None or w is None or w.kind != tarfile.REGTYPE or st is None \
            or not stat.S_ISREG(st.st_mode) or (st.st_dev, st.st_ino) != first \
            or st.st_size != w.size:
        raise _changed(e)
    return Written(tarfile.LNKTYPE, w.size, w.digest, e.linkname, e.st.st_mtime_ns)


def write(entries: list[Entry], f: BinaryIO, ops: FileOps, level: int, threads: int,
          progress: Progress, written: dict[str, Written]) -> tuple[int, int]:
    """Write ``entries`` (consumed) as a .tar.gz into ``f``; ``(bytes in, bytes out)``."""
    bytes_in = 0
    targets = {e.linkname for e in entries if e.kind == tarfile.LNKTYPE}
    inodes: dict[str, tuple[int, int]] = {}  # of the hard links' targets only
    gz = GzipWriter(f, ops, level, threads)
    try:
        entries.reverse()  # consumed from the end: each entry is freed once written
        while entries:
            e = entries.pop()
            progress.check()
            if e.kind == tarfile.REGTYPE:
                h = hashlib.sha256()
                size = e.st.st_size
                stored = precompressed(e.name)
                if e.name in targets:
                    st = ops.lstat(e.path)
                    if st is None:
                        raise _changed(e)
                    inodes[e.name] = (st.st_dev, st.st_ino)
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
                written[e.name] = Written(e.kind, size, h.digest(), "", e.st.st_mtime_ns)
            elif e.kind == tarfile.LNKTYPE:
                link = _same_file(e, inodes.get(e.linkname), written.get(e.linkname), ops)
                gz.write(_header(e, 0))
                written[e.name] = link
            else:
                gz.write(_header(e, 0))
                written[e.name] = Written(e.kind, 0, b"", e.linkname, e.st.st_mtime_ns)
            progress.advance()
        end = 1024 + (-(gz.size + len(gz.buf) + 1024) % RECORDSIZE)  # size: bytes so far
        gz.write(bytes(end))
        gz.finish()
    except BaseException:
        gz.abort()
        raise
    ops.fsync(f)
    return bytes_in, gz.out



