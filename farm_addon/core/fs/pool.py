"""The volume's content-addressed pool: one copy of each shared file. No `bpy` module use.

``<volume>/pool/<sha256[:2]>/<sha256>`` holds each distinct dependency once; every job's
``<job>.deps/...`` file is a hard link of it (:func:`store_linked`), so 30 jobs that share a
texture share one inode. The file system counts the references: a pool file no job uses any
more has one link left (the pool's own) and :func:`sweep_unused` removes it. Nothing is
reference-counted by hand, and removing one job never removes a file another job uses.

A pool file is complete or absent: it is written as a ``.farm-tmp-*`` file in ``pool/``,
flushed, linked to the job's file first and to its pool name last (so it never appears with
one link for a sweep to take), then the temporary name goes. Concurrent packers adding the
same content both succeed (the second links the first's file); what a killed process left
is swept with :func:`.atomic.sweep_temps`.

Where the file system refuses hard links (a share without them, the pool on another device,
a file with too many links), :class:`Pool` copies the file plainly instead and keeps one
warning that says so (:attr:`Pool.warnings`), not one per file.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import shutil
from collections.abc import Iterable
from pathlib import Path

from .atomic import PLAIN_OPS, TEMP_PREFIX, share_mode, sweep_temps, temp_name
from .volume import Volume

_CHUNK = 1 << 20
_SHA256 = re.compile(r"[0-9a-f]{64}")

# What os.link raises when the file system, not the caller, says no.
REFUSED_ERRNOS = frozenset(
    code for code in (
        errno.EPERM, errno.EXDEV, errno.EMLINK, errno.ENOSYS,
        getattr(errno, "ENOTSUP", None), getattr(errno, "EOPNOTSUPP", None),
    ) if code is not None
)
NO_LINKS_WARNING = (
    "This volume's file system refuses hard links ({why}): shared files are copied per job "
    "(more disk space)."
)
TOO_MANY_LINKS_WARNING = (
    "Some shared files have as many hard links as the file system allows: further jobs get "
    "their own copy of them (more disk space)."
)


def pool_path(volume: Volume, sha256: str) -> Path:
    """Where the pool keeps the content whose SHA-256 is ``sha256``."""
    if not _SHA256.fullmatch(sha256):
        raise ValueError(f"not a SHA-256 in hex: {sha256!r}")
    return volume.pool_dir / sha256[:2] / sha256


def _refused(exc: OSError) -> bool:
    return exc.errno in REFUSED_ERRNOS


class Pool:
    """The pool of one volume, as one packing uses it: it remembers whether the file system
    refused a link, so that the rest of the packing copies at once and warns once."""

    def __init__(self, volume: Volume) -> None:
        self.volume = volume
        self.links_refused = False
        self.warnings: list[str] = []
        self.added: list[str] = []  # the contents this packing put into the pool

    def _warn(self, text: str) -> None:
        if text not in self.warnings:
            self.warnings.append(text)

    def _note_refusal(self, exc: OSError) -> None:
        if exc.errno == errno.EMLINK:  # this file only: others may still link
            self._warn(TOO_MANY_LINKS_WARNING)
            return
        self.links_refused = True
        self._warn(NO_LINKS_WARNING.format(why=os.strerror(exc.errno or 0)))

    def link_existing(self, sha256: str, target: Path) -> bool:
        """Make ``target`` a hard link of the pool's file for ``sha256``; False if the pool
        lacks it or the file system refuses (then the caller copies)."""
        if self.links_refused:
            return False
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(pool_path(self.volume, sha256), target)
        except FileNotFoundError:  # absent (or a sweep took it just now)
            return False
        except OSError as exc:
            if not _refused(exc):
                raise
            self._note_refusal(exc)
            return False
        return True

    def new_temp(self) -> Path:
        """The path of a new temporary file in the pool (the caller creates it)."""
        self.volume.pool_dir.mkdir(exist_ok=True)
        return self.volume.pool_dir / temp_name("add")

    def adopt(self, temp: Path, sha256: str, target: Path) -> bool:
        """Link ``temp`` (a complete, flushed pool temporary file holding the content
        ``sha256``) to ``target`` and into the pool, then drop the temporary name.

        True when ``target`` holds the content (a link of the pool's file, or its own copy when
        only the pool's name could not be linked); False when the file system refused the link
        to ``target`` (the caller copies). ``temp`` is gone either way.
        """
        final = pool_path(self.volume, sha256)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            share_mode(temp)
            try:
                os.link(temp, target)
            except OSError as exc:
                if not _refused(exc):
                    raise
                self._note_refusal(exc)
                return False
            final.parent.mkdir(exist_ok=True)
            try:
                os.link(temp, final)
                self.added.append(sha256)
            except FileExistsError:  # another packer added it meanwhile: use one copy
                self.link_existing_over(sha256, target)
            except OSError as exc:
                if not _refused(exc):
                    raise
                self._note_refusal(exc)  # target already holds the content: a copy of its own
            return True
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)

    def link_existing_over(self, sha256: str, target: Path) -> bool:
        """Replace ``target`` with a link of the pool's file for ``sha256`` (atomically);
        False if that cannot be done (``target`` stays as it was)."""
        spare = target.with_name(temp_name(target.name))
        if not self.link_existing(sha256, spare):
            return False
        os.replace(spare, target)
        return True


def store_linked(
    volume: Volume, source: Path | str, target: Path, sha256: str, pool: Pool | None = None
) -> bool:
    """Make ``target`` (inside a store's ``<job>.deps/``) a hard link of the pool's file for
    the content ``sha256``, adding ``source`` (a file holding that content) to the pool when
    it lacks it. True if ``target`` is a link of the pool's file, False if it is a plain copy
    (the file system refused the link: ``pool.warnings`` says so once).

    The bytes added are hashed as they are copied; if they are not ``sha256`` (``source``
    changed), ValueError, and nothing is added.
    """
    pool = pool or Pool(volume)
    volume.check_inside(target.parent)
    if pool.link_existing(sha256, target):
        return True
    if pool.links_refused:
        _plain_copy(source, target)
        return False
    temp = pool.new_temp()
    try:
        copied = _copy_hashing(source, temp)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise
    if copied != sha256:
        os.unlink(temp)
        raise ValueError(f"{source} does not hold the content {sha256} (it holds {copied})")
    if pool.adopt(temp, sha256, target):
        return os.stat(target).st_nlink > 1
    _plain_copy(source, target)
    return False


def _copy_hashing(source: Path | str, temp: Path) -> str:
    """Copy ``source`` to the new file ``temp`` (flushed to disk); the SHA-256 of the bytes."""
    digest = hashlib.sha256()
    with open(source, "rb") as src, PLAIN_OPS.open_new(temp) as out:
        while chunk := src.read(_CHUNK):
            digest.update(chunk)
            PLAIN_OPS.write(out, chunk)
        PLAIN_OPS.fsync(out)
    return digest.hexdigest()


def _plain_copy(source: Path | str, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)


def sweep_unused(volume: Volume, sha256s: Iterable[str] | None = None) -> int:
    """Remove the pool files no job uses any more (one link left: the pool's) and the
    temporary files of dead processes; returns how many went.

    ``sha256s``: look only at the pool files of these contents (cheaper than the whole pool
    when a caller knows what the removed job used).
    """
    root = volume.pool_dir
    if not root.is_dir():
        return 0
    removed = len(sweep_temps(root))
    if sha256s is not None:
        candidates: Iterable[Path] = {
            pool_path(volume, sha) for sha in sha256s if _SHA256.fullmatch(sha)
        }
    else:
        candidates = _pool_files(root)
    for path in candidates:
        try:
            if os.stat(path, follow_symlinks=False).st_nlink == 1:
                os.unlink(path)
                removed += 1
        except FileNotFoundError:
            continue
    for sub in os.scandir(root) if sha256s is None else ():
        if sub.is_dir(follow_symlinks=False) and not sub.name.startswith(TEMP_PREFIX):
            with contextlib.suppress(OSError):  # not empty: still used
                os.rmdir(sub.path)
    return removed


def _pool_files(root: Path) -> list[Path]:
    files = []
    for sub in os.scandir(root):
        if len(sub.name) != 2 or not sub.is_dir(follow_symlinks=False):
            continue
        files += [Path(entry.path) for entry in os.scandir(sub.path)
                  if _SHA256.fullmatch(entry.name) and entry.is_file(follow_symlinks=False)]
    return files

