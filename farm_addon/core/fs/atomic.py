"""Atomic file writes and a cross-process file lock. No `bpy` module use.

:func:`write_atomic` (the one atomic writer; :func:`atomic_write_bytes` and
:func:`atomic_write_text` use it) writes to a temporary file beside the target (named
``.farm-tmp-*`` so leftovers of a crash are easy to find and safe to delete), flushes it to
disk, renames it over the target and flushes the folder: a reader sees the old content or
the new one, never a mix, even if the machine loses power. Its file operations go through a
:class:`WriteOps`, which tests subclass to inject faults. Temporary names carry their maker
(:func:`owner_tag`, :func:`temp_name`), and :func:`sweep_temps` removes what a killed process
left. :func:`fsync_dir` is the one folder flush.

:class:`FileLock` is an advisory lock on a file (``flock`` on POSIX, ``msvcrt.locking`` on
Windows). The operating system releases it when the holding process dies, so a crash never
leaves a stale lock behind. Who holds it (process id, host, since when, doing what) is
written into the lock file, so a second process can say who it is waiting for.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import secrets
import shutil
import socket
import sys
import time
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import IO, BinaryIO

from ..errors import FarmError

TEMP_PREFIX = ".farm-tmp-"
StrPath = str | os.PathLike[str]


def _read_umask() -> int:
    """This process's umask, read without changing it where the system tells it (Linux 4.7+:
    /proc/self/status): setting and restoring it would briefly change the mode of files that
    other threads (Blender's, another add-on's) create meanwhile."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)  # elsewhere the only way: set it, then put it back at once
    os.umask(mask)
    return mask


# Files farm writes on the shared volume get the permissions any new file would get
# (typically 0644), not the 0600 of temporary files: workers may run as another user.
FILE_MODE = 0o666 & ~_read_umask()


def share_mode(path: Path) -> None:
    """Give a file made from a temporary file the permissions of an ordinary new file."""
    if os.name != "nt":
        os.chmod(path, FILE_MODE)


def fsync_dir(directory: Path) -> None:
    """Flush a folder's entries to disk (a no-op where folders cannot be opened: Windows)."""
    if os.name == "nt":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def owner_tag() -> str:
    """``<host>@<pid>``: put in a temporary name, it says which process made it, so that
    :func:`sweep_temps` can tell what a killed process left from what a running one writes."""
    host = re.sub(r"[^A-Za-z0-9.-]", "_", socket.gethostname())[:60] or "host"
    return f"{host}@{os.getpid()}"


_OWNER = re.compile(r"([A-Za-z0-9._-]+)@([0-9]+)-")


def _process_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # exists, owned by someone else
        return False
    return False


def sweep_temps(folder: Path, *, locked: bool = False, name: str | None = None) -> list[str]:
    """Remove the temporary files and folders (``.farm-tmp-*``) that killed processes left
    in ``folder``; returns their names.

    ``locked``: the caller holds the lock every writer of ``folder`` (with ``name``: every
    writer of ``name`` in it) holds, so every such temporary entry is a leftover. Otherwise
    only entries whose :func:`owner_tag` names a process of this machine that no longer runs
    are removed (never on Windows, where a process cannot be probed safely). ``name``: only
    the temporary files of :func:`write_atomic` for that name (a scan, not a glob: the folder
    may be a delivery of 100,000 files).
    """
    if not locked and os.name == "nt":
        return []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return []
    host = owner_tag().rpartition("@")[0]
    removed = []
    for entry in entries:
        if not entry.name.startswith(TEMP_PREFIX):
            continue
        owner = _OWNER.match(entry.name, len(TEMP_PREFIX))
        if name is not None and (
                owner is None or entry.name[owner.end():].partition("-")[2] != name):
            continue
        if not locked and (
                owner is None or owner.group(1) != host or not _process_gone(int(owner[2]))):
            continue
        try:
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path)
            else:
                os.unlink(entry.path)
        except FileNotFoundError:
            pass
        removed.append(entry.name)
    return removed


class WriteOps:
    """The file operations of an atomic write (the mover's ``FileOps`` adds its own).
    Subclass to inject faults."""

    def open_new(self, path: StrPath) -> BinaryIO:
        """Create ``path`` for writing, unbuffered; fails if it exists."""
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
        return os.fdopen(os.open(path, flags, 0o666), "wb", buffering=0)

    def write(self, f: BinaryIO, data: bytes) -> None:
        """All of ``data``, however many calls it takes."""
        view = memoryview(data)
        while view:
            n = f.write(view)
            if n is None or n <= 0:
                raise OSError(errno.EIO, "short write")
            view = view[n:]

    def fsync(self, f: BinaryIO) -> None:
        f.flush()
        os.fsync(f.fileno())

    def replace(self, src: StrPath, dst: StrPath) -> None:
        """Rename ``src`` over ``dst``."""
        os.replace(src, dst)

    def fsync_dir(self, path: Path) -> None:
        fsync_dir(path)


PLAIN_OPS = WriteOps()


def temp_name(name: str) -> str:
    """The name of a new temporary file for ``name``: ``.farm-tmp-<owner>-<random>-<name>``."""
    return f"{TEMP_PREFIX}{owner_tag()}-{secrets.token_hex(4)}-{name}"


@contextlib.contextmanager
def atomic_writer(path: Path, ops: WriteOps = PLAIN_OPS) -> Iterator[BinaryIO]:
    """Yield an unbuffered binary file (write to it with ``ops.write``); on clean exit it
    replaces ``path`` atomically, else it vanishes."""
    path = Path(path)
    for _ in range(100):
        tmp = path.with_name(temp_name(path.name))
        try:
            handle = ops.open_new(tmp)
        except FileExistsError:
            continue
        break
    else:
        raise FileExistsError(errno.EEXIST, "no unused temporary name", os.fspath(path))
    try:
        with handle:
            yield handle
            ops.fsync(handle)
        ops.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    ops.fsync_dir(path.parent)


def write_atomic(path: Path, data: bytes | Iterable[bytes], ops: WriteOps = PLAIN_OPS) -> None:
    """Replace ``path`` with ``data`` atomically and durably, through ``ops``. ``data`` may be
    an iterable of chunks, written as they come (memory stays small)."""
    with atomic_writer(path, ops) as handle:
        for chunk in [data] if isinstance(data, bytes) else _batched(data):
            ops.write(handle, chunk)


def _batched(chunks: Iterable[bytes], size: int = 1 << 20) -> Iterator[bytes]:
    buf: list[bytes] = []
    n = 0
    for c in chunks:
        buf.append(c)
        n += len(c)
        if n >= size:
            yield b"".join(buf)
            buf, n = [], 0
    if buf:
        yield b"".join(buf)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically and durably."""
    write_atomic(path, data)


def atomic_write_text(path: Path, text: str, encoding: str = "utf-8") -> None:
    """Replace ``path`` with ``text`` atomically and durably (``\\n`` line ends on every OS)."""
    write_atomic(path, text.encode(encoding))


class Busy(FarmError):
    """Another process holds a lock that this one needs."""


def _holder_description(info: dict[str, object]) -> str:
    pid, host = info.get("pid", "?"), info.get("host", "?")
    doing = f" ({info['what']})" if info.get("what") else ""
    since = f" since {info['since']}" if info.get("since") else ""
    return f"process {pid} on {host}{doing}{since}"


class FileLock:
    """An exclusive lock held by one process at a time, across processes and machines' views.

    ``with FileLock(path, timeout=10, what="farm plan release spring"):`` waits up to
    ``timeout`` seconds, then raises :class:`Busy` naming the holder. ``timeout=0`` tries
    once. Locks are not re-entrant: a second ``FileLock`` on the same file in the same
    process waits like any other.

    Note: on network file systems ``flock`` is only as good as the server's lock support
    (NFSv4 and SMB honour it).
    """

    def __init__(self, path: Path, timeout: float = 10.0, what: str = "") -> None:
        self.path = Path(path)
        self.timeout = timeout
        self.what = what
        self._handle: IO[bytes] | None = None

    @property
    def locked(self) -> bool:
        return self._handle is not None

    def acquire(self) -> None:
        if self._handle is not None:
            raise RuntimeError(f"{self.path} is already locked by this FileLock")
        handle = open(self.path, "a+b")  # noqa: SIM115 - kept open while locked
        deadline = time.monotonic() + max(0.0, self.timeout)
        delay = 0.01
        try:
            while not _try_lock(handle):
                if time.monotonic() >= deadline:
                    raise self._busy(handle)
                time.sleep(delay)
                delay = min(delay * 2, 0.2)
            info = {
                "pid": os.getpid(),
                "host": socket.gethostname(),
                "since": datetime.now(UTC).isoformat(timespec="seconds"),
                "what": self.what,
            }
            handle.seek(0)
            handle.truncate()
            handle.write(json.dumps(info).encode("utf-8"))
            handle.flush()
        except BaseException:
            handle.close()
            raise
        self._handle = handle

    def _busy(self, handle: IO[bytes]) -> Busy:
        try:
            handle.seek(0)
            info = json.loads(handle.read().decode("utf-8") or "{}")
        except (OSError, ValueError):
            info = {}
        holder = _holder_description(info) if isinstance(info, dict) else "another process"
        waited = f" after waiting {self.timeout:g} s" if self.timeout > 0 else ""
        return Busy(
            f"{self.path} is locked by {holder}{waited}. Wait for it to finish and try "
            "again, or check that process; a lock is freed as soon as its process ends."
        )

    def release(self) -> None:
        handle, self._handle = self._handle, None
        if handle is None:
            return
        try:
            handle.seek(0)
            handle.truncate()
            handle.flush()
            _unlock(handle)
        finally:
            handle.close()

    def __enter__(self) -> FileLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


if sys.platform == "win32":
    import msvcrt

    # Lock one byte far past the holder info, so that waiting processes can still read it.
    _LOCK_OFFSET = 1 << 20

    def _try_lock(handle: IO[bytes]) -> bool:
        handle.seek(_LOCK_OFFSET)
        try:
            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _unlock(handle: IO[bytes]) -> None:
        handle.seek(_LOCK_OFFSET)
        msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _try_lock(handle: IO[bytes]) -> bool:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _unlock(handle: IO[bytes]) -> None:
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
