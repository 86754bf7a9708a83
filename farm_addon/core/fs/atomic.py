"""Atomic file writes and a cross-process file lock. No `bpy` module use.

:func:`atomic_write_bytes` writes to a temporary file beside the target (named
``.farm-tmp-*`` so leftovers of a crash are easy to find and safe to delete), flushes it to
disk, renames it over the target and flushes the folder: a reader sees the old content or
the new one, never a mix, even if the machine loses power. Temporary names carry their
maker (:func:`owner_tag`), and :func:`sweep_temps` removes what a killed process left.

:class:`FileLock` is an advisory lock on a file (``flock`` on POSIX, ``msvcrt.locking`` on
Windows). The operating system releases it when the holding process dies, so a crash never
leaves a stale lock behind. Who holds it (process id, host, since when, doing what) is
written into the lock file, so a second process can say who it is waiting for.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import socket
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import IO

from ..errors import FarmError

TEMP_PREFIX = ".farm-tmp-"


def _read_umask() -> int:
    mask = os.umask(0o022)
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


def sweep_temps(folder: Path, *, locked: bool = False) -> list[str]:
    """Remove the temporary files and folders (``.farm-tmp-*``) that killed processes left
    in ``folder``; returns their names.

    ``locked``: the caller holds the lock every writer of ``folder`` holds, so every
    temporary entry there is a leftover. Otherwise only entries whose :func:`owner_tag`
    names a process of this machine that no longer runs are removed (never on Windows,
    where a process cannot be probed safely).
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
        if not locked:
            owner = _OWNER.match(entry.name, len(TEMP_PREFIX))
            if owner is None or owner.group(1) != host or not _process_gone(int(owner[2])):
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


@contextlib.contextmanager
def atomic_writer(path: Path) -> Iterator[IO[bytes]]:
    """Yield a binary file; on clean exit it replaces ``path`` atomically, else it vanishes."""
    path = Path(path)
    fd, tmp_name = tempfile.mkstemp(prefix=f"{TEMP_PREFIX}{owner_tag()}-", suffix=f"-{path.name}",
                                    dir=path.parent)
    tmp = Path(tmp_name)
    try:
        if os.name != "nt":
            os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically and durably."""
    with atomic_writer(path) as handle:
        handle.write(data)


def atomic_write_text(path: Path, text: str, encoding: str = "utf-8") -> None:
    """Replace ``path`` with ``text`` atomically and durably (``\\n`` line ends on every OS)."""
    atomic_write_bytes(path, text.encode(encoding))


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
