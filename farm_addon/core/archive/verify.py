"""Reading an archive back, checked against the files and the manifest. No `bpy` module use.

The archive is read with :mod:`tarfile` in stream mode, over :class:`gzip.GzipFile` (which
checks the gzip stream's CRC-32 and length at its end; ``tarfile``'s own ``r|gz`` does
not). :func:`check` then wants every member safe (a relative name inside ``<release>/``),
written exactly once, of the type, size and SHA-256 (or link target) that was written, and
every file of the harvest manifest there with its checksum; nothing but zeros may follow the
end of the archive. A hard-link member (a file's later name) must name a file member
written before it inside ``<release>/``, whose content is the link's own (the SHA-256 that
was read for it). :func:`written_from_archive` reads a finished archive for a prune.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import os
import stat
import tarfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, BinaryIO

from ..fs.volume import Volume
from .collect import ArchiveError, Written
from .gzwrite import BLOCK


def unsafe_member(name: str, release: str) -> str | None:
    """Why a member name is not safe to extract or not inside ``<release>/``; None if it is."""
    if name.startswith("/") or "\\" in name or "\0" in name:
        return "is not a safe relative name"
    parts = name.split("/")
    if any(p in ("", ".", "..") for p in parts):
        return "is not a safe relative name"
    if parts[0] != release:
        return f"is outside {release}/"
    return None


def manifest_sums(dist: Path, release: str) -> dict[str, str]:
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


class _Unreadable(ArchiveError):
    """The archive is damaged or truncated."""


@contextlib.contextmanager
def _reading(raw: BinaryIO, source: Path) -> Iterator[tarfile.TarFile]:
    """The archive in ``raw`` as a stream-mode :class:`tarfile.TarFile`; a damaged or
    truncated one raises :class:`_Unreadable`."""
    try:
        with gzip.GzipFile(fileobj=raw, mode="rb") as gz, \
                tarfile.open(fileobj=gz, mode="r|", encoding="utf-8",
                             errors="surrogateescape") as tar:
            yield tar
    except EOFError as exc:
        raise _Unreadable(f"{source} is truncated ({exc}).") from None
    except (tarfile.TarError, zlib.error, gzip.BadGzipFile) as exc:
        raise _Unreadable(f"{source} is damaged: {exc}.") from None


def _members(tar: tarfile.TarFile) -> Iterator[tarfile.TarInfo]:
    """The members one by one, forgetting each (``tarfile`` keeps a list of them all)."""
    while (member := tar.next()) is not None:
        tar.members.clear()  # type: ignore[attr-defined]  # (not in typeshed)
        yield member


def _sha256_of(f: IO[bytes] | None) -> bytes:
    h = hashlib.sha256()
    while f is not None and (chunk := f.read(BLOCK)):
        h.update(chunk)
    return h.digest()


def _end(tar: tarfile.TarFile, source: Path) -> None:
    """Read what follows the end of the archive to the end of the gzip stream (which checks
    its CRC): zeros only."""
    extra = False
    stream = tar.fileobj
    assert stream is not None
    while rest := stream.read(BLOCK):
        extra = extra or rest.count(0) != len(rest)
    if extra:
        raise ArchiveError(f"{source} is damaged: it has data after the end of the archive.")


def _hard_link(member: tarfile.TarInfo, release: str,
               files: dict[str, tuple[int, bytes]]) -> tuple[int, bytes] | str:
    """A hard-link member's target as ``(size, SHA-256)`` read from the archive, or why it is
    refused. ``files``: the link targets' members read so far."""
    target = member.linkname
    bad = unsafe_member(target, release)
    if bad:
        return f"hard link to {target!r}, which {bad}"
    if member.size:
        return "hard link with data of its own"
    got = files.get(target)
    if got is None:
        return f"hard link to {target!r}, which is not a file earlier in the archive"
    return got


def check(raw: BinaryIO, tmp: Path, release: str, written: dict[str, Written],
          manifest: dict[str, str], tick: Callable[[], None]) -> int:
    """Read the archive back; every member must match what was written, every manifest file
    must be there with its checksum. Returns the number of manifest files found."""
    problems: list[str] = []
    found = 0
    seen: set[str] = set()
    targets = {w.linkname for w in written.values() if w.kind == tarfile.LNKTYPE}
    files: dict[str, tuple[int, bytes]] = {}  # of the hard links' targets only
    with _reading(raw, tmp) as tar:
        for member in _members(tar):
            name, kind, size = member.name, member.type, member.size
            if kind == tarfile.AREGTYPE:
                kind = tarfile.REGTYPE
            digest = _sha256_of(tar.extractfile(member)) if kind == tarfile.REGTYPE else b""
            tick()
            bad = unsafe_member(name, release)
            w = written.get(name)
            if bad or w is None or name in seen:
                why = bad or ("appears twice" if w else "was not written")
                problems.append(f"member {name!r} {why}")
                continue
            seen.add(name)
            if kind == tarfile.REGTYPE and name in targets:
                files[name] = (size, digest)
            if kind != w.kind:
                problems.append(f"{name}: wrong type")
                continue
            if kind in (tarfile.SYMTYPE, tarfile.LNKTYPE) and member.linkname != w.linkname:
                problems.append(f"{name}: link target {member.linkname!r} != {w.linkname!r}")
                continue
            if kind == tarfile.LNKTYPE:
                got = _hard_link(member, release, files)
                if isinstance(got, str):
                    problems.append(f"{name}: {got}")
                    continue
                if got != (w.size, w.digest):
                    problems.append(f"{name}: content of its hard link's target differs from "
                                    "the file on disk")
                digest = got[1]
            elif kind == tarfile.REGTYPE and (size != w.size or digest != w.digest):
                problems.append(f"{name}: content differs from the file on disk")
            want = manifest.get(name)
            if want is not None and kind in (tarfile.REGTYPE, tarfile.LNKTYPE):
                found += 1
                if want != digest.hex():
                    problems.append(
                        f"{name}: SHA-256 differs from the harvest manifest "
                        "(the delivered file changed after the harvest)"
                    )
        _end(tar, tmp)
    missing = [n for n in written if n not in seen]
    problems += [f"{n} is missing from the archive" for n in missing[:10]]
    absent = [n for n in manifest if n not in written]
    problems += [f"{n} is in the harvest manifest but not in dist/" for n in absent[:10]]
    if problems:
        raise ArchiveError(
            f"The archive did not pass its check ({len(problems)} problem(s)): "
            + "; ".join(problems[:10]) + ". It was removed; nothing was pruned."
        )
    return found


def _link_on_disk(member: tarfile.TarInfo, release: str, archive: Path, disk: Path,
                  st: os.stat_result | None, written: dict[str, Written],
                  inodes: dict[str, tuple[int, int, int]]) -> Written:
    """A hard-link member as a prune needs it (see :func:`written_from_archive`)."""
    target = member.linkname
    t = written.get(target)
    if unsafe_member(target, release) or t is None or t.kind != tarfile.REGTYPE:
        raise ArchiveError(f"{archive} holds a hard link {member.name!r} to {target!r}, "
                           "which is not a file earlier in it.")
    mtime = -1
    if st is not None and stat.S_ISREG(st.st_mode):
        if inodes.get(target) == (st.st_dev, st.st_ino, st.st_mtime_ns):
            mtime = st.st_mtime_ns
        elif st.st_size == t.size:
            with open(disk, "rb") as f:
                if _sha256_of(f) == t.digest:
                    mtime = st.st_mtime_ns
    return Written(tarfile.LNKTYPE, t.size, t.digest, target, mtime)


def written_from_archive(volume: Volume, release: str, archive: Path) -> dict[str, Written]:
    """What a checked archive holds, as a prune needs it: each member whose file on disk
    still matches it (same type, size and SHA-256, or link target) gets that file's
    modification time, so that only unchanged files are pruned. A hard link's file matches
    when it is its target's file still (same inode and time, not read again) or has its
    target's content."""
    rel_dir, dist = volume.release_dir(release), volume.dist_dir(release)
    written: dict[str, Written] = {}
    inodes: dict[str, tuple[int, int, int]] = {}  # matched files with several names only
    try:
        with open(archive, "rb") as raw, _reading(raw, archive) as tar:
            for member in _members(tar):
                name = member.name
                if unsafe_member(name, release):
                    raise ArchiveError(f"{archive} holds an unsafe member {name!r}.")
                rest = name[len(release) + 1:]
                if rest == "dist" or rest.startswith("dist/"):
                    disk = dist / rest[len("dist/"):]
                else:
                    disk = rel_dir / rest
                try:
                    st: os.stat_result | None = os.lstat(disk)
                except OSError:
                    st = None
                mtime = -1
                if member.isfile():
                    digest = _sha256_of(tar.extractfile(member))
                    if st is not None and stat.S_ISREG(st.st_mode) and st.st_size == member.size:
                        with open(disk, "rb") as f:
                            if _sha256_of(f) == digest:
                                mtime = st.st_mtime_ns
                        if mtime != -1 and st.st_nlink > 1:
                            inodes[name] = (st.st_dev, st.st_ino, mtime)
                    written[name] = Written(tarfile.REGTYPE, member.size, digest, "", mtime)
                elif member.islnk():
                    written[name] = _link_on_disk(member, release, archive, disk, st,
                                                  written, inodes)
                elif member.issym():
                    if st is not None and stat.S_ISLNK(st.st_mode) \
                            and os.readlink(disk) == member.linkname:
                        mtime = st.st_mtime_ns
                    written[name] = Written(tarfile.SYMTYPE, 0, b"", member.linkname, mtime)
                else:
                    written[name] = Written(tarfile.DIRTYPE, 0, b"", "", mtime)
    except (OSError, _Unreadable) as exc:
        raise ArchiveError(f"The archive {archive} cannot be read back ({exc}); nothing more "
                           "was pruned.") from exc
    return written
