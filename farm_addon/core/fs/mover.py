"""The crash-safe moves of files on the volume, one by one. No `bpy` module use.

:func:`move_all` carries out a list of :class:`Move` (source, destination) that a journal
(``journal.py``) has on disk. Each move is a ``rename`` when both ends are on one file system;
across file systems the file is copied to a temporary name in the destination folder (hashing
while it is read, once), flushed to disk, checked against the expected SHA-256, renamed into
place, and only then is the source removed.

Killed at any moment, running the moves again finishes the work. For each move:

- only the destination exists: done;
- both exist with the same content (or are one file): the source is removed;
- only the source exists: it is moved;
- neither exists but a complete temporary copy does: it is renamed into place.

So no file is lost, duplicated, or left under two names. A destination that exists with other
content is never overwritten: the transfer stops and says so. (The temporary copy is named
``.farm-tmp-<destination name>``, without an owner: a rerun by another process must find it.)

A move with a ``sha256`` delivers exactly that content, even if someone rewrites the source
after the check that hashed it. After a rename, the destination's inode, size and modification
time are compared with the source's when it was hashed; if they differ, or were not known
(``mtime_ns`` -1: modified within :data:`RACY_MARGIN_NS` of its check, git's "racily clean"
case), the delivered file is hashed again; a copy is hashed while it is read. A file whose
content is not the one expected is *held back*: put back under its source name, listed in
:attr:`TransferStats.held`, and the other files go on. A rerun holds it back again.

Every file operation goes through a :class:`FileOps` object, so tests can simulate a full disk
or a permission error at any call by subclassing it.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import hashlib
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple

from ..errors import FarmError
from ..progress import Progress
from .atomic import TEMP_PREFIX, StrPath, WriteOps, fsync_dir

CHUNK = 1 << 20
#: Files modified this close to (or after) the start of their check are hashed again after
#: the move: a rewrite within one tick of the file system's clock leaves the modification
#: time unchanged. 2 s covers FAT's 2 s resolution and NFS clocks that disagree a little.
RACY_MARGIN_NS = 2_000_000_000


class TransferError(FarmError):
    """A move failed; what was done is kept and the journal lets a second run finish."""


class FileOps(WriteOps):
    """The file operations of the mover and the archiver. Subclass to inject faults."""

    def lstat(self, path: StrPath) -> os.stat_result | None:
        """``os.lstat``, or None if nothing is there."""
        try:
            return os.lstat(path)
        except FileNotFoundError:
            return None

    def rename(self, src: StrPath, dst: StrPath) -> None:
        os.rename(src, dst)

    def move(self, src: StrPath, dst: StrPath) -> None:
        """Rename without ever replacing ``dst``: FileExistsError if it exists."""
        if _renameat2 is not None:
            if _renameat2(_AT_FDCWD, _enc(src), _AT_FDCWD, _enc(dst), _RENAME_NOREPLACE) == 0:
                return
            err = ctypes.get_errno()
            if err not in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):
                raise OSError(err, os.strerror(err), os.fspath(src), None, os.fspath(dst))
            # The file system cannot do it: check, then rename (we hold the release lock).
        if self.lstat(dst) is not None:
            raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), os.fspath(dst))
        self.rename(src, dst)

    def unlink(self, path: StrPath) -> None:
        os.unlink(path)

    def makedirs(self, path: Path) -> None:
        os.makedirs(path, exist_ok=True)

    def same_device(self, src_dir: Path, dst_dir: Path) -> bool:
        return os.stat(src_dir).st_dev == os.stat(dst_dir).st_dev

    def open_read(self, path: StrPath) -> BinaryIO:
        return open(path, "rb", buffering=0)

    def read_bytes(self, path: StrPath, limit: int) -> bytes:
        """Up to ``limit`` (at most 1 GiB) bytes from the start of a regular file."""
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
        try:
            # One read: for a regular file (and less than 2 GiB) a short read is its end.
            return os.read(fd, min(limit, 1 << 30))
        finally:
            os.close(fd)

    def replace(self, src: StrPath, dst: StrPath) -> None:
        """An atomic write's last step goes through :meth:`rename` (tests count renames)."""
        self.rename(src, dst)

    def fsync_dir(self, path: Path) -> None:
        """:func:`fsync_dir`; a folder the file system will not flush is no error here."""
        with contextlib.suppress(OSError):
            fsync_dir(path)


def _load_renameat2() -> Any:
    """``renameat2`` from the C library (Linux, glibc 2.28+), or None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    fn.restype = ctypes.c_int
    return fn


def _enc(path: StrPath) -> bytes:
    return path.encode("utf-8", "surrogateescape") if isinstance(path, str) else os.fsencode(path)


_AT_FDCWD = -100
_RENAME_NOREPLACE = 1
_renameat2 = _load_renameat2()

DEFAULT_OPS = FileOps()


def sha256_file(path: Path, ops: FileOps = DEFAULT_OPS) -> tuple[str, int]:
    """SHA-256 hex digest and size of a file, read in chunks."""
    h = hashlib.sha256()
    size = 0
    with ops.open_read(path) as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size


class Move(NamedTuple):
    """One file to move; paths relative to the journal's root, with ``/``.

    With ``sha256`` the move delivers that content or holds the file back (see the module);
    ``mtime_ns`` and ``ino`` are the source's when it was hashed (-1: unknown, hash again
    after the move)."""

    src: str
    dst: str
    sha256: str = ""
    size: int = -1
    mtime_ns: int = -1
    ino: int = -1


@dataclass
class TransferStats:
    moved: int = 0
    copied: int = 0
    already: int = 0
    cleaned: int = 0
    total: int = 0
    rehashed: int = 0  # delivered files hashed again after the move
    #: the moves held back: their source changed after its check
    held: list[Move] = field(default_factory=list)
    dirs: set[Path] = field(default_factory=set)

    def as_dict(self) -> dict[str, int]:
        return {"moved": self.moved, "copied": self.copied, "already": self.already,
                "cleaned": self.cleaned, "total": self.total, "rehashed": self.rehashed,
                "held": len(self.held)}


def _err(exc: OSError) -> str:
    return exc.strerror or str(exc)


def _split(path: str) -> tuple[str, str]:
    head, _, tail = path.rpartition(os.sep)
    return head or os.sep, tail


def move_all(root: Path, moves: list[Move], plan: Path, ops: FileOps = DEFAULT_OPS,
             progress: Progress | None = None, label: str = "Moving files") -> TransferStats:
    """Carry out (or finish) every move, in order. Safe to run again after any failure;
    ``plan`` is the journal that holds ``moves`` (named in messages)."""
    return _Mover(root, moves, plan, ops, progress or Progress()).run(label)


class _Mover:
    """Works on plain strings: a harvest moves 100,000 files, and pathlib costs add up."""

    def __init__(self, root: Path, moves: list[Move], plan: Path, ops: FileOps,
                 progress: Progress) -> None:
        self.root, self.moves, self.plan = root, moves, plan
        self.ops = ops
        self.progress = progress
        self.stats = TransferStats(total=len(moves))
        self._made: set[str] = set()
        self._same: dict[tuple[str, str], bool] = {}
        self._dirs: set[str] = set()
        self._current = 0  # the index of the move being made
        self._dst_index: dict[str, int] | None = None  # made when a resume needs it

    def run(self, label: str) -> TransferStats:
        root = str(self.root)
        sep = os.sep
        self.progress.start(len(self.moves), label)
        done = 0
        step = max(1, min(32, len(self.moves) // 200))  # checked every `step` files
        try:
            for i, m in enumerate(self.moves):
                if i - done >= step:
                    self.progress.advance(i - done)
                    done = i
                    self.progress.check()
                elif not i:
                    self.progress.check()
                src = root + sep + m.src.replace("/", sep)
                dst = root + sep + m.dst.replace("/", sep)
                self._current = i
                try:
                    self._one(m, src, dst)
                except OSError as exc:
                    raise TransferError(
                        f"Moving {m.src} to {m.dst} failed: {_err(exc)}. {i} of "
                        f"{len(self.moves)} files were moved; every file is under exactly "
                        "one name, and running the command again finishes the rest (the plan "
                        f"is kept in {self.plan})."
                    ) from exc
            self.progress.advance(len(self.moves) - done)
        finally:
            for d in sorted(self._dirs):
                self.ops.fsync_dir(Path(d))
            self.stats.dirs = {Path(d) for d in self._dirs}
        return self.stats

    def _one(self, m: Move, src: str, dst: str) -> None:
        ops = self.ops
        src_dir = src.rpartition(os.sep)[0] or os.sep
        dst_dir = dst.rpartition(os.sep)[0] or os.sep
        if dst_dir not in self._made:
            ops.makedirs(Path(dst_dir))
            self._made.add(dst_dir)
        key = (src_dir, dst_dir)
        same = self._same.get(key)
        if same is None:
            same = self._same_dev(src_dir, dst_dir)
            self._same[key] = same
        if same:
            try:
                ops.move(src, dst)
            except (FileNotFoundError, FileExistsError):
                pass  # one end is not as planned; look at what is there
            except OSError as exc:
                if exc.errno != errno.EXDEV:
                    raise
                self._same[key] = False
                if ops.lstat(dst) is None:
                    self._copy(m, src, dst)
                    return
            else:
                self._dirs.add(src_dir)
                self._dirs.add(dst_dir)
                if not m.sha256 or self._delivered(m, src, dst):
                    self.stats.moved += 1
                return
        elif ops.lstat(dst) is None and ops.lstat(src) is not None:
            self._copy(m, src, dst)
            return
        self._settle(m, src, dst)

    def _same_dev(self, src_dir: str, dst_dir: str) -> bool:
        try:
            return self.ops.same_device(Path(src_dir), Path(dst_dir))
        except FileNotFoundError:
            return True  # the source folder is gone: the state check decides

    @staticmethod
    def _tmp(dst: str) -> str:
        head, tail = _split(dst)
        return os.path.join(head, TEMP_PREFIX + tail)

    def _settle(self, m: Move, src: str, dst: str) -> None:
        """Resume one move from whatever state a killed run left."""
        ops = self.ops
        s, d = ops.lstat(src), ops.lstat(dst)
        tmp = self._tmp(dst)
        if d is not None and s is None:
            # A rename is checked as after any rename; a copy was hashed as it was made.
            if (not m.sha256 or not self._same_dev(_split(src)[0], _split(dst)[0])
                    or self._delivered(m, src, dst)):
                self.stats.already += 1
        elif d is not None and self._refilled(m, src):
            self.stats.already += 1
        elif d is not None and s is not None:
            if (s.st_dev, s.st_ino) != (d.st_dev, d.st_ino):
                want = m.sha256 or sha256_file(Path(src), ops)[0]
                have = sha256_file(Path(dst), ops)[0]
                if have != want:
                    raise TransferError(
                        f"{m.dst} already exists with other content than {m.src}; farm never "
                        "overwrites a file. Move one of them away and run the command again."
                    )
            ops.unlink(src)
            self.stats.cleaned += 1
            self._dirs.add(_split(src)[0])
        elif s is not None:
            if self._same_dev(_split(src)[0], _split(dst)[0]):
                ops.move(src, dst)
                self._dirs.update((_split(src)[0], _split(dst)[0]))
                if not m.sha256 or self._delivered(m, src, dst):
                    self.stats.moved += 1
            else:
                self._copy(m, src, dst)
        elif (ops.lstat(tmp) is not None and m.sha256
              and sha256_file(Path(tmp), ops)[0] == m.sha256):
            ops.rename(tmp, dst)
            self.stats.copied += 1
            self._dirs.add(_split(dst)[0])
        else:
            raise TransferError(
                f"{m.src} is missing and was not delivered to {m.dst}: it was removed by "
                "something other than farm."
            )
        if ops.lstat(tmp) is not None and ops.lstat(dst) is not None:
            ops.unlink(tmp)  # a copy left by a killed run, after the move completed

    def _delivered(self, m: Move, src: str, dst: str) -> bool:
        """Whether the file just moved to ``dst`` is the content ``m`` was checked with; if
        not, it goes back to ``src`` and the move is held back (see the module)."""
        st = self.ops.lstat(dst)
        if st is None:
            raise FileNotFoundError(errno.ENOENT, "vanished right after it was moved", dst)
        if (m.mtime_ns >= 0 and st.st_mtime_ns == m.mtime_ns and st.st_size == m.size
                and st.st_ino == m.ino):
            return True
        self.stats.rehashed += 1
        digest, size = sha256_file(Path(dst), self.ops)
        if digest == m.sha256 and (m.size < 0 or size == m.size):
            return True
        self._hold(src, dst)
        return False

    def _hold(self, src: str, dst: str) -> None:
        """Put a changed file back under its source name (or, if a new file took that name
        meanwhile, beside it as ``<name>.changed``): it is not delivered by this move."""
        back = src
        n = 0
        while True:
            try:
                self.ops.move(dst, back)
                break
            except FileExistsError:
                n += 1
                back = f"{src}.changed" + (f"-{n}" if n > 1 else "")
            except FileNotFoundError:
                if self.ops.lstat(dst) is None:
                    raise
                self.ops.makedirs(Path(_split(src)[0]))  # its folder was removed meanwhile
        self.stats.held.append(self.moves[self._current])

    def _refilled(self, m: Move, src: str) -> bool:
        """Whether a later move of the journal has already put a new file at this move's
        source (a harvest moves an old delivery aside, then delivers the new frame under its
        name): then this move was done, and its source is not a copy to clean up."""
        if self._dst_index is None:
            self._dst_index = {mv.dst: k for k, mv in enumerate(self.moves)}
        later = self._dst_index.get(m.src, -1)
        if later <= self._current:
            return False
        nxt = self.moves[later]
        if self.ops.lstat(str(self.root) + os.sep + nxt.src.replace("/", os.sep)) is None:
            return True  # the later move took its source away: it was made
        # A cross-file-system copy of the later move, its source not removed yet.
        return bool(nxt.sha256) and sha256_file(Path(src), self.ops)[0] == nxt.sha256

    def _copy(self, m: Move, src: str, dst: str) -> None:
        ops = self.ops
        tmp = self._tmp(dst)
        if ops.lstat(tmp) is not None:
            ops.unlink(tmp)  # a partial copy from a killed run
        h = hashlib.sha256()
        size = 0
        try:
            with ops.open_read(src) as r, ops.open_new(tmp) as w:
                while chunk := r.read(CHUNK):
                    h.update(chunk)
                    ops.write(w, chunk)
                    size += len(chunk)
                ops.fsync(w)
                written = os.fstat(w.fileno()).st_size
            digest = h.hexdigest()
            if (m.sha256 and digest != m.sha256) or (m.size >= 0 and size != m.size):
                # Changed since it was checked: the source stays, the copy goes.
                ops.unlink(tmp)
                self.stats.held.append(self.moves[self._current])
                return
            if written != size:
                raise OSError(errno.EIO, f"wrote {written} bytes of {size}")
            if ops.lstat(dst) is not None:
                raise TransferError(f"{m.dst} appeared while {m.src} was copied; not overwritten.")
            ops.rename(tmp, dst)
        except BaseException:
            with contextlib.suppress(OSError):
                if ops.lstat(tmp) is not None:
                    os.unlink(tmp)
            raise
        ops.fsync_dir(Path(_split(dst)[0]))
        ops.unlink(src)
        self.stats.copied += 1
        self._dirs.add(_split(src)[0])
