"""File stamps and the value types of a pack (no packer, no BAT here). No `bpy` module use.

A stamp is a file's size, modification time and SHA-256 (computed from the very bytes copied
when packing). :func:`changed_since` says which sources changed since a pack, comparing size
and modification time first and hashing only files where those differ. The value types here
(:class:`FileStamp`, :class:`PackedFile`, :class:`Fingerprint`, :class:`PackResult`) are what
a release record stores; they need neither the packer nor Blender Asset Tracer.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from pathlib import Path
from typing import IO

from pydantic import BaseModel, ConfigDict

from ..fs.pool import Pool

_CHUNK = 1 << 20


class FileStamp(BaseModel):
    """A file as it was when packed; ``sha256`` None means it did not exist."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    path: str  # absolute, on the machine that packed it
    size: int | None = None
    mtime_ns: int | None = None
    sha256: str | None = None

    @property
    def exists(self) -> bool:
        return self.sha256 is not None


class PackedFile(FileStamp):
    """A dependency as packed: its source's stamp and where the copy is."""

    kind: str = "file"
    stored: str | None = None  # volume-relative POSIX path; None if it was missing

    def stamp(self) -> FileStamp:
        return FileStamp(path=self.path, size=self.size, mtime_ns=self.mtime_ns, sha256=self.sha256)


class Fingerprint(BaseModel):
    """Stamps of a source .blend and of every file it depends on."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    blend: FileStamp
    dependencies: list[FileStamp]

    @property
    def files(self) -> list[FileStamp]:
        return [self.blend, *self.dependencies]


class MissingFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    path: str
    kind: str
    used_by: str


class PackResult(BaseModel):
    """What :func:`.packing.pack_blend` stored."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: str
    stored_blend: Path  # absolute: store_dir/<job>.blend
    stored_blend_rel: str  # the same, volume-relative
    deps_dir: Path | None  # store_dir/<job>.deps, None when the blend needs nothing
    source_sha256: str
    fingerprint: Fingerprint
    dependencies: list[PackedFile]
    missing: list[MissingFile]
    warnings: list[str] = []  # about the packing itself (hard links refused: copies)


def _read_stamped(path: Path | str, copy_to: IO[bytes] | None = None) -> FileStamp:
    """Stamp the bytes of ``path`` as read (also writing them to ``copy_to``)."""
    with open(path, "rb") as handle:
        info = os.fstat(handle.fileno())
        digest = hashlib.sha256()
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
            if copy_to is not None:
                copy_to.write(chunk)
    return FileStamp(
        path=str(path), size=info.st_size, mtime_ns=info.st_mtime_ns, sha256=digest.hexdigest()
    )


def stamp(path: Path | str) -> FileStamp:
    """Size, modification time and SHA-256 of a file, or an empty stamp if it is missing."""
    try:
        return _read_stamped(path)
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return FileStamp(path=str(path))


def copy_stamped(source: Path, target: Path, pool: Pool | None = None) -> FileStamp:
    """Copy ``source`` to ``target`` and stamp the bytes copied, in one read.

    With a ``pool``, ``target`` becomes a hard link of the pool's file for that content
    (:mod:`..fs.pool`): the source is hashed first, and written into the pool (hashed again,
    the stamp being of the bytes written) only when the pool lacks it. Where the file system
    refuses links, a plain copy (``pool.warnings`` says so once).
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    if pool is not None and not pool.links_refused:
        first = _read_stamped(source)
        if first.sha256 is not None and pool.link_existing(first.sha256, target):
            return first
        if not pool.links_refused:
            temp = pool.new_temp()
            try:
                with open(temp, "xb") as copy:
                    file_stamp = _read_stamped(source, copy)
                    copy.flush()
                    os.fsync(copy.fileno())  # a pool file is complete or absent
                if pool.adopt(temp, file_stamp.sha256 or "", target):
                    return file_stamp
            finally:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(temp)
    with open(target, "wb") as copy:
        return _read_stamped(source, copy)


def _stamp_unchanged(old: FileStamp) -> bool:
    """True if the file still matches ``old``: cheap when size and mtime agree."""
    try:
        info = os.stat(old.path)
    except (FileNotFoundError, NotADirectoryError):
        return not old.exists
    if not old.exists:
        return False
    if info.st_size == old.size and info.st_mtime_ns == old.mtime_ns:
        return True
    return info.st_size == old.size and stamp(old.path).sha256 == old.sha256


def changed_since(fingerprint: Fingerprint) -> list[str]:
    """Paths of the files that differ from ``fingerprint``: changed, deleted or appeared.

    Size and modification time are compared first; a file is hashed only when they differ
    (a `touch` or a copy that kept the content is not a change).
    """
    return [old.path for old in fingerprint.files if not _stamp_unchanged(old)]
