"""Count, and fail at, the file and HTTP operations a farm command performs.

:func:`patched` wraps, in this process only, every operation that changes the disk or talks to
the Manager: ``open`` for writing (``builtins.open``, ``io.open``, ``os.open`` with write
flags), ``os.replace/rename/link/symlink/unlink/remove/rmdir/mkdir/fsync``, the
``renameat2`` farm's mover calls through ``ctypes``, :meth:`FileOps.write`, ``shutil``'s
copies and ``rmtree``, and ``requests.Session.send`` (once before the request leaves, once
after its answer came back: killing there is "the Manager did it, the client never knew").
Before each operation an :class:`OpCounter` counts it and, at chosen numbers, acts: the
crash harness sends the process SIGKILL, the disk-fault tests raise an ``OSError``.

Run as ``python -m tests.robust.killpoint`` it is a fork server: it imports farm once, then
for every JSON request on stdin forks a child that runs ``farm ARGV`` with the counter
installed (``kill_at`` N: SIGKILL before the Nth operation; none: count only) and answers one
JSON line with the exit code or signal, the number of operations and the one it died at.
Forking a warm process costs milliseconds where starting Python and importing farm costs
half a second, which is what makes hundreds of kill points fit in CI.
"""

from __future__ import annotations

import builtins
import contextlib
import io
import json
import os
import shutil
import signal
import sys
import threading
import time
import traceback
import urllib.parse
from collections.abc import Callable, Iterator
from typing import Any

OpAction = Callable[[int, str, str], None]

_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
DISK = "disk"
HTTP = "http"


class OpCounter:
    """Counts operations (optionally only those of one category, and for paths only those
    under ``root``) and calls ``action(n, kind, detail)`` when the count reaches one of
    ``at``."""

    def __init__(self, at: set[int] | None = None, action: OpAction | None = None, *,
                 root: str | os.PathLike[str] | None = None, only: str | None = None,
                 from_n: int | None = None) -> None:
        self.at = at or set()
        self.from_n = from_n  # act on every operation from this one on (a read-only disk)
        self.action = action
        self.only = only
        self.root = os.path.realpath(root) + os.sep if root is not None else None
        self.count = 0
        self.seen = {DISK: 0, HTTP: 0}  # every operation, whatever ``only`` says
        self.fired: list[tuple[int, str, str]] = []
        self.trace: list[str] | None = None  # set to [] to keep every operation's name
        self._lock = threading.RLock()

    def wants(self, paths: tuple[Any, ...]) -> bool:
        if self.root is None or not paths:
            return True
        for path in paths:
            if isinstance(path, int):
                return True  # a file descriptor: ours
            try:
                text = os.fsdecode(path)
            except TypeError:
                return True
            if os.path.abspath(text).startswith(self.root) or os.path.abspath(text) + os.sep \
                    == self.root:
                return True
        return False

    def hit(self, category: str, kind: str, detail: str, paths: tuple[Any, ...] = ()) -> None:
        if not self.wants(paths):
            return
        with self._lock:
            self.seen[category] += 1
            if self.only is not None and category != self.only:
                return
            self.count += 1
            n = self.count
            if self.trace is not None:
                self.trace.append(f"{kind} {detail}")
            due = n in self.at or (self.from_n is not None and n >= self.from_n)
            if due and self.action is not None:
                self.fired.append((n, kind, detail))
                self.action(n, kind, detail)


_local = threading.local()


def _guarded(fn: Callable[..., Any], counter: OpCounter, category: str, kind: str,
             paths_of: Callable[..., tuple[Any, ...]],
             when: Callable[..., bool] = lambda *a, **k: True) -> Callable[..., Any]:
    """``fn`` with ``counter.hit`` before it. Nested operations (``shutil.copy2`` opening its
    files) are counted too: each is a point where a real crash could land."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if when(*args, **kwargs):
            paths = paths_of(*args, **kwargs)
            detail = " -> ".join(_short(p) for p in paths) if paths else ""
            if kwargs.get("dir_fd") is not None:
                paths = ()  # relative to a folder fd (rmtree): ours
            counter.hit(category, kind, detail, paths)
        return fn(*args, **kwargs)

    wrapper.__wrapped__ = fn  # type: ignore[attr-defined]
    return wrapper


def _short(path: Any) -> str:
    try:
        text = os.fsdecode(path)
    except TypeError:
        return repr(path)
    parts = text.split(os.sep)
    return "/".join(parts[-3:])


def _first(*args: Any, **kwargs: Any) -> tuple[Any, ...]:
    return (args[0],) if args else ()


def _two(*args: Any, **kwargs: Any) -> tuple[Any, ...]:
    return tuple(args[:2])


def _none(*args: Any, **kwargs: Any) -> tuple[Any, ...]:
    return ()


def _open_writes(*args: Any, **kwargs: Any) -> bool:
    mode = args[1] if len(args) > 1 else kwargs.get("mode", "r")
    return isinstance(mode, str) and any(c in mode for c in "wax+")


def _os_open_writes(*args: Any, **kwargs: Any) -> bool:
    flags = args[1] if len(args) > 1 else kwargs.get("flags", 0)
    return bool(int(flags) & _WRITE_FLAGS)


def _renameat2_paths(*args: Any, **kwargs: Any) -> tuple[Any, ...]:
    return (args[1], args[3]) if len(args) >= 4 else ()


@contextlib.contextmanager
def patched(counter: OpCounter, *, http: bool = True) -> Iterator[OpCounter]:
    """Install ``counter`` on every operation listed in the module's docstring; restore the
    originals on exit."""
    from farm_addon.core.fs import mover as transfer

    saved: list[tuple[Any, str, Any]] = []

    def put(owner: Any, name: str, value: Any) -> None:
        saved.append((owner, name, getattr(owner, name)))
        setattr(owner, name, value)

    def wrap(owner: Any, name: str, kind: str, paths_of: Callable[..., tuple[Any, ...]],
             when: Callable[..., bool] = lambda *a, **k: True) -> None:
        put(owner, name, _guarded(getattr(owner, name), counter, DISK, kind, paths_of, when))

    original_open = builtins.open
    guarded_open = _guarded(original_open, counter, DISK, "open-w", _first, _open_writes)
    put(builtins, "open", guarded_open)
    put(io, "open", guarded_open)
    wrap(os, "open", "open-w", _first, _os_open_writes)
    for name in ("replace", "rename", "link", "symlink"):
        wrap(os, name, name, _two)
    for name in ("unlink", "remove", "rmdir", "mkdir"):
        wrap(os, name, name, _first)
    wrap(os, "fsync", "fsync", _none)
    for name in ("rmtree", "copyfile", "copy", "copy2", "copytree", "move"):
        wrap(shutil, name, name, _two if name != "rmtree" else _first)
    if transfer._renameat2 is not None:
        put(transfer, "_renameat2", _guarded(transfer._renameat2, counter, DISK, "renameat2",
                                             _renameat2_paths))
    put(transfer.FileOps, "write", _guarded(transfer.FileOps.write, counter, DISK, "write",
                                            _none))
    if http:
        import requests

        original_send = requests.Session.send

        def send(self: Any, request: Any, **kwargs: Any) -> Any:
            what = f"{request.method} {urllib.parse.urlsplit(request.url).path}"
            counter.hit(HTTP, "http-send", what)
            response = original_send(self, request, **kwargs)
            counter.hit(HTTP, "http-recv", f"{what} -> {response.status_code}")
            return response

        put(requests.Session, "send", send)
    try:
        yield counter
    finally:
        for owner, name, value in reversed(saved):
            setattr(owner, name, value)


def raise_errno(err: int) -> OpAction:
    """An action that makes the operation fail as the disk would (ENOSPC, EACCES, EROFS)."""

    def action(n: int, kind: str, detail: str) -> None:
        raise OSError(err, os.strerror(err), detail or None)

    return action


# --------------------------------------------------------------------------------------------
# The fork server


def _run_child(req: dict[str, Any], report_fd: int) -> int:
    """In the forked child: run ``farm ARGV`` with the counter installed."""
    from farm_addon.core.cli import main

    def kill(n: int, kind: str, detail: str) -> None:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os.write(report_fd, json.dumps({"killed_at": n, "op": f"{kind} {detail}"}).encode())
        os.kill(os.getpid(), signal.SIGKILL)

    kill_at, fail_at = req.get("kill_at"), req.get("fail_at")
    if fail_at:  # a disk fault: the Nth disk operation fails with errno (or every one from
        # the Nth on, with fail_every: a read-only or full file system)
        counter = OpCounter({int(fail_at)}, raise_errno(int(req["errno"])), root=req.get("root"),
                            only=DISK, from_n=int(fail_at) if req.get("fail_every") else None)
    else:
        counter = OpCounter({int(kill_at)} if kill_at else set(), kill, root=req.get("root"))
    if req.get("trace"):
        counter.trace = []
    try:
        with patched(counter):
            return main(list(req["argv"]))
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        report: dict[str, Any] = {"ops": counter.count, "disk_ops": counter.seen[DISK],
                                  "fired": [f"{k} {d}" for _, k, d in counter.fired]}
        if counter.trace is not None:
            report["trace"] = counter.trace
        os.write(report_fd, json.dumps(report).encode())


def run_forked(req: dict[str, Any]) -> dict[str, Any]:
    """Fork, run the request in the child, wait; the answer the server sends back."""
    out_path, err_path = req["out"], req["err"]
    read_fd, write_fd = os.pipe()
    started = time.monotonic()
    pid = os.fork()
    if pid == 0:  # the child
        code = 99
        try:
            os.close(read_fd)
            for fd, path in ((1, out_path), (2, err_path)):
                target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
                os.dup2(target, fd)
                os.close(target)
            null = os.open(os.devnull, os.O_RDONLY)
            os.dup2(null, 0)
            os.close(null)
            os.environ.clear()
            os.environ.update(req["env"])
            os.chdir(req["cwd"])
            code = _run_child(req, write_fd)
        except BaseException:
            traceback.print_exc()
            code = 98
        finally:
            with contextlib.suppress(Exception):
                sys.stdout.flush()
                sys.stderr.flush()
            os._exit(code)
    os.close(write_fd)
    chunks = []
    while chunk := os.read(read_fd, 65536):
        chunks.append(chunk)
    os.close(read_fd)
    _, status = os.waitpid(pid, 0)
    answer: dict[str, Any] = {"seconds": round(time.monotonic() - started, 4)}
    if chunks:
        answer.update(json.loads(b"".join(chunks)))
    if os.WIFSIGNALED(status):
        answer["signal"] = os.WTERMSIG(status)
        answer["code"] = None
    else:
        answer["code"] = os.WEXITSTATUS(status)
        answer["signal"] = None
    with open(out_path, encoding="utf-8", errors="replace") as f:
        answer["out"] = f.read()
    with open(err_path, encoding="utf-8", errors="replace") as f:
        answer["err"] = f.read()
    return answer


def serve() -> None:
    """Answer one JSON line per request line until stdin closes."""
    from farm_addon.core.cli import build_parser

    build_parser()  # imports every verb before the first fork
    import requests  # noqa: F401 - warm
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            answer = run_forked(json.loads(line))
        except Exception as exc:
            answer = {"code": None, "signal": None, "error": f"{type(exc).__name__}: {exc}",
                      "out": "", "err": traceback.format_exc()}
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    if sys.platform == "win32":  # pragma: no cover
        sys.exit("the fork server needs os.fork")
    serve()
