"""The Flamenco Manager emulator: state, HTTP server, spec checks, faults and workers together."""

from __future__ import annotations

import shlex
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterable, Mapping
from datetime import timedelta
from pathlib import Path
from types import TracebackType
from typing import Literal, NamedTuple

from .api.shaman import ShamanStore
from .dispatch import Dispatcher
from .faults import FaultSet
from .server import HttpServer
from .spec import SpecChecker
from .state import Job, Store, Task, Worker, WorkerTag, new_uuid, utcnow
from .variables import Variables
from .versions import ManagerVersion
from .worker import WorkerRunner

WorkerMode = Literal["none", "instant", "blender"]
WORKER_MODES = ("none", "instant", "blender")
STANDIN = Path(__file__).resolve().parent / "blender_standin.py"
_TAG_NAMESPACE = uuid.UUID("6f1c1f0e-5d8e-4d0b-9a57-8a3f0b5e2c11")


class RequestRecord(NamedTuple):
    """One request the emulator saw; ``status`` is 0 when the connection was dropped."""

    method: str
    path: str
    status: int


def default_blender_command() -> str:
    """The ``{blender}`` value in blender mode: this Python running the bpy stand-in."""
    return f"{shlex.quote(sys.executable)} {shlex.quote(str(STANDIN))}"


class Emulator:
    """An emulated Flamenco Manager on ``http://127.0.0.1:<port>``.

    Args:
        version: the Manager version to report and behave like (``3.5.0``, ``3.8.5``, ``3.9``).
        storage: the shared storage folder (a new temporary folder when None).
        worker: ``none`` (tasks stay queued), ``instant`` (write PNG frames) or ``blender``
            (render with the bpy stand-in).
        spec_path: the OpenAPI spec (default: ``$FARM_FLAMENCO_SPEC`` or ``shared/`` beside the
            repo); without a spec file the emulator runs unchecked and warns once.
        shaman: enable the Shaman API; the shared-storage location becomes ``<storage>/jobs``.
        validate: check every request and response against the spec.
        variables: two-way variables, name -> platform -> value. Default: ``my_storage`` with
            ``linux`` = the storage path, ``windows`` = ``F:\\farm``, ``darwin`` =
            ``/Volumes/farm``.
        oneway_variables: extra one-way variables, name -> platform (or ``all``) -> value.
        worker_tags: names of worker tags to create; every emulated worker is in all of them.
        workers: number of emulated workers (``emu-worker-1`` ...).
        port: port to listen on (0: a free one, kept across restarts).
        blender_command: the ``{blender}`` value in blender mode.
        blender_timeout: seconds a render command may take in blender mode.
        task_seconds: extra time each task stays active (to observe ``active`` states).
        deletion_delay: seconds after which a requested job deletion really happens on the next
            request (None: only on worker ticks or :meth:`process_deletions`).
    """

    def __init__(
        self,
        version: str = "3.8.5",
        storage: Path | str | None = None,
        worker: WorkerMode = "none",
        spec_path: Path | str | None = None,
        shaman: bool = False,
        *,
        validate: bool = True,
        variables: Mapping[str, Mapping[str, str]] | None = None,
        oneway_variables: Mapping[str, Mapping[str, str]] | None = None,
        worker_tags: Iterable[str] = (),
        workers: int = 1,
        host: str = "127.0.0.1",
        port: int = 0,
        name: str = "Flamenco Manager Emulator",
        blender_command: str | None = None,
        blender_timeout: float = 120.0,
        task_seconds: float = 0.0,
        deletion_delay: float | None = 0.1,
    ) -> None:
        if worker not in WORKER_MODES:
            raise ValueError(f"worker must be one of {WORKER_MODES}, not {worker!r}")
        self.manager_version = ManagerVersion.parse(version)
        self.storage = Path(storage or tempfile.mkdtemp(prefix="flamenco-emu-")).resolve()
        self.storage.mkdir(parents=True, exist_ok=True)
        self.worker_mode: WorkerMode = worker
        self.shaman = shaman
        self.name = name
        self.host = host
        self.blender_command = blender_command or default_blender_command()
        self.blender_timeout = blender_timeout
        self.task_seconds = task_seconds
        self.deletion_delay = deletion_delay
        self.farm_status_override: str | None = None

        self.faults = FaultSet()
        self.violations: list[str] = []
        self.requests: list[RequestRecord] = []
        self._record_lock = threading.Lock()
        self.store = Store()
        self.checker = SpecChecker(Path(spec_path) if spec_path else None, enabled=validate)
        twoway = variables if variables is not None else {
            "my_storage": {"linux": str(self.storage), "windows": "F:\\farm",
                           "darwin": "/Volumes/farm"}}
        self.variables = Variables.build(
            self.blender_command if worker == "blender" else "blender", twoway, oneway_variables)
        self.shaman_store = ShamanStore(self.storage)
        self._make_workers(workers, list(worker_tags))

        self._dispatcher = Dispatcher(self)
        self._server: HttpServer | None = None
        self._port = port
        self._worker = WorkerRunner(self)

    def _make_workers(self, count: int, tag_names: list[str]) -> None:
        for tag_name in tag_names:
            tag = WorkerTag(str(uuid.uuid5(_TAG_NAMESPACE, tag_name)), tag_name)
            self.store.tags[tag.id] = tag
        status = "offline" if self.worker_mode == "none" else "awake"
        for number in range(1, count + 1):
            worker = Worker(new_uuid(), f"emu-worker-{number}", status,
                            tag_ids=list(self.store.tags))
            self.store.workers[worker.id] = worker

    # Life cycle ------------------------------------------------------------------------------
    def start(self) -> str:
        """Start serving (no-op when running); return the base URL."""
        if self._server is None:
            self._server = HttpServer((self.host, self._port), self._dispatcher)
            self._port = self._server.port
            self._server.start()
        return self.url

    def stop(self) -> None:
        """Stop the background worker and the HTTP server, cutting open connections."""
        self._worker.stop_thread()
        self._stop_server()

    def _stop_server(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def restart(self, down_seconds: float = 0.0) -> str:
        """Stop and start the HTTP server on the same port, keeping all state."""
        self._stop_server()
        if down_seconds:
            time.sleep(down_seconds)
        return self.start()

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        if not self._port:
            raise RuntimeError("the emulator has not been started")
        return f"http://{self.host}:{self._port}"

    def __enter__(self) -> Emulator:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # Behaviour -------------------------------------------------------------------------------
    @property
    def version(self) -> str:
        return self.manager_version.text

    def set_version(self, version: str) -> None:
        """Answer as (and behave like) another Manager version from now on."""
        self.manager_version = ManagerVersion.parse(version)

    @property
    def jobs_location(self) -> Path:
        """Where job files go: the storage, or ``<storage>/jobs`` with Shaman."""
        return self.storage / "jobs" if self.shaman else self.storage

    # Records ---------------------------------------------------------------------------------
    def record_request(self, method: str, path: str, status: int) -> None:
        with self._record_lock:
            self.requests.append(RequestRecord(method, path, status))

    def add_violation(self, text: str) -> None:
        with self._record_lock:
            self.violations.append(text)

    @property
    def jobs(self) -> dict[str, Job]:
        """Job ID -> job (read-only use; hold ``emu.store.lock`` while workers run)."""
        return self.store.jobs

    @property
    def tasks(self) -> dict[str, Task]:
        """Task ID -> task (read-only use)."""
        return self.store.tasks

    @property
    def workers(self) -> dict[str, Worker]:
        return self.store.workers

    @property
    def tags(self) -> dict[str, WorkerTag]:
        return self.store.tags

    def tag_id(self, name: str) -> str:
        """The ID of the worker tag called ``name``."""
        tag = self.store.find_tag(name)
        if tag is None:
            raise KeyError(name)
        return tag.id

    # Deletion --------------------------------------------------------------------------------
    def request_deletion(self, jobs: Iterable[Job]) -> None:
        now = utcnow()
        with self.store.lock:
            for job in jobs:
                if job.delete_requested_at is None:
                    job.delete_requested_at = now
                    job.touch()

    def process_deletions(self, force: bool = True) -> int:
        """Really delete jobs whose deletion was requested (``force``: regardless of delay).

        Returns how many were deleted. Render output stays; a Shaman checkout goes.
        """
        now = utcnow()
        delay = timedelta(seconds=self.deletion_delay or 0.0)
        deleted = 0
        with self.store.lock:
            due = [j for j in self.store.jobs.values() if j.delete_requested_at is not None
                   and (force or now - j.delete_requested_at >= delay)]
            for job in due:
                self.store.delete_job(job.id)
                self._remove_checkout(job)
                deleted += 1
        return deleted

    def process_due_deletions(self) -> int:
        if self.deletion_delay is None:
            return 0
        return self.process_deletions(force=False)

    def _remove_checkout(self, job: Job) -> None:
        if not (self.shaman and job.shaman_checkout_id):
            return
        root = self.shaman_store.checkout_root.resolve()
        target = (root / job.shaman_checkout_id).resolve()
        if target == root or root not in target.parents or not target.is_dir():
            return
        for path in sorted(target.rglob("*"), key=lambda p: len(p.parts), reverse=True):
            if path.is_symlink() or path.is_file():
                path.unlink()
            elif path.is_dir():
                path.rmdir()
        target.rmdir()

    # Workers ---------------------------------------------------------------------------------
    def run_worker(self, max_tasks: int | None = None) -> int:
        """Execute runnable tasks now, in this thread; return how many ran (0 in mode none)."""
        return self._worker.run(max_tasks)

    def start_worker_thread(self, interval: float = 0.05) -> None:
        """Run tasks in a background thread until :meth:`stop` (or stop_worker_thread)."""
        self._worker.start_thread(interval)

    def stop_worker_thread(self) -> None:
        self._worker.stop_thread()
