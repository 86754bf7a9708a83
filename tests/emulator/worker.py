"""The emulated Workers: pick runnable tasks and execute them.

Modes: ``instant`` writes small PNG frames where Blender would; ``blender`` runs the render
command for real (the ``{blender}`` variable points at ``blender_standin.py``, which renders with
the bpy module); ``none`` runs nothing. Variables are expanded for the Worker's platform (linux).
"""

from __future__ import annotations

import contextlib
import re
import shlex
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import statemachine
from .frames import parse_blender_frames
from .pngwrite import frame_colour, png_bytes, write_png
from .state import Job, Task, Worker, utcnow

if TYPE_CHECKING:
    from .emulator import Emulator

WORKER_PLATFORM = "linux"
_SAVED_RE = re.compile(r"^Saved: '(.+)'")


class TaskAborted(Exception):
    """The task was canceled (or its job deleted) while the worker ran it."""


class TaskFailed(Exception):
    """The task's command failed."""


@dataclass
class Claim:
    worker_id: str
    task_id: str
    job_id: str
    commands: list[dict[str, Any]]  # variables already expanded
    image_extension: str
    blendfile_dir: Path | None


def frame_path(pattern: str, frame: int, extension: str, relative_to: Path | None = None) -> Path:
    """Where Blender writes ``frame`` for a ``--render-output`` pattern.

    The last run of ``#`` becomes the zero-padded frame number (no ``#``: 4 digits appended);
    the extension is added unless already there; ``//`` is relative to the blend file.
    """
    runs = list(re.finditer(r"#+", pattern))
    if runs:
        last = runs[-1]
        number = f"{frame:0{last.end() - last.start()}d}"
        name = pattern[: last.start()] + number + pattern[last.end() :]
    else:
        name = f"{pattern}{frame:04d}"
    if extension and not name.lower().endswith(extension.lower()):
        name += extension
    if name.startswith("//"):
        name = str((relative_to or Path.cwd()) / name[2:])
    return Path(name)


def _arg_value(args: list[str], flag: str) -> str | None:
    for i, arg in enumerate(args[:-1]):
        if arg == flag:
            return args[i + 1]
    return None


class WorkerRunner:
    """Executes tasks for the emulator, synchronously (run) or in a background thread."""

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._run_lock = threading.Lock()

    # Scheduling ------------------------------------------------------------------------------
    def _runnable(self, job: Job, worker: Worker) -> Task | None:
        store = self.emu.store
        if job.status not in ("queued", "active") or job.delete_requested_at is not None:
            return None
        if job.worker_tag and job.worker_tag not in worker.tag_ids:
            return None
        for task in store.job_tasks(job):
            if task.status not in ("queued", "soft-failed"):
                continue
            if task.task_type not in worker.supported_task_types:
                continue
            deps = [store.tasks.get(d) for d in task.depends_on]
            if all(d is not None and d.status == "completed" for d in deps):
                return task
        return None

    def claim(self) -> Claim | None:
        """Assign the next runnable task to a free awake worker and make it active."""
        emu = self.emu
        store = emu.store
        with store.lock:
            free = [w for w in store.workers.values()
                    if w.status == "awake" and w.current_task is None]
            jobs = sorted(store.jobs.values(), key=lambda j: (-j.priority, j.created))
            for worker in free:
                for job in jobs:
                    task = self._runnable(job, worker)
                    if task is None:
                        continue
                    worker.current_task = task.id
                    worker.last_seen = utcnow()
                    task.worker_id = worker.id
                    task.last_touched = utcnow()
                    task.add_log(f"task assigned to worker {worker.name} ({worker.id})")
                    statemachine.set_task_status(store, task, "active",
                                                 f"task assigned to worker {worker.name}")
                    commands = emu.variables.expand_all(task.commands, WORKER_PLATFORM)
                    blendfile = next((c["parameters"].get("blendfile") for c in commands
                                      if c["parameters"].get("blendfile")), None)
                    return Claim(worker.id, task.id, job.id, commands,
                                 str(job.settings.get("image_file_extension") or ".png"),
                                 Path(blendfile).parent if blendfile else None)
        return None

    def run(self, max_tasks: int | None = None) -> int:
        """Execute runnable tasks until none is left (or ``max_tasks``); return how many ran."""
        if self.emu.worker_mode == "none":
            return 0
        done = 0
        with self._run_lock:
            while max_tasks is None or done < max_tasks:
                with self.emu.store.lock:
                    self.emu.process_deletions(force=True)
                claim = self.claim()
                if claim is None:
                    break
                self.execute(claim)
                done += 1
        return done

    # Background thread -----------------------------------------------------------------------
    def start_thread(self, interval: float = 0.05) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()

        def loop() -> None:
            while not self._stop.is_set():
                if self.run() == 0:
                    self._stop.wait(interval)

        self._thread = threading.Thread(target=loop, name="flamenco-emulator-worker",
                                        daemon=True)
        self._thread.start()

    def stop_thread(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    # Execution -------------------------------------------------------------------------------
    def _task(self, claim: Claim) -> Task:
        """The claimed task, if it still runs (else TaskAborted). Call with the lock held."""
        task = self.emu.store.tasks.get(claim.task_id)
        if task is None or task.status != "active" or task.worker_id != claim.worker_id:
            raise TaskAborted()
        return task

    def log(self, claim: Claim, text: str) -> None:
        with self.emu.store.lock:
            task = self.emu.store.tasks.get(claim.task_id)
            if task is not None:
                task.add_log(text)

    def _pause(self, claim: Claim, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            with self.emu.store.lock:
                self._task(claim)
            time.sleep(min(0.01, max(0.0, deadline - time.monotonic())))

    def execute(self, claim: Claim) -> None:
        """Run every command of a claimed task, then mark it completed or failed."""
        error: str | None = None
        try:
            if self.emu.task_seconds:
                self._pause(claim, self.emu.task_seconds)
            for command in claim.commands:
                self._run_command(claim, command)
        except TaskAborted:
            self._release(claim, None, aborted=True)
            return
        except TaskFailed as ex:
            error = str(ex) or "task failed"
        except Exception as ex:  # an emulator bug shows as a failed task with the reason logged
            error = f"emulator worker error: {ex!r}"
        self._release(claim, error)

    def _release(self, claim: Claim, error: str | None, aborted: bool = False) -> None:
        store = self.emu.store
        with store.lock:
            worker = store.workers.get(claim.worker_id)
            if worker is not None and worker.current_task == claim.task_id:
                worker.current_task = None
            task = store.tasks.get(claim.task_id)
            if aborted or task is None or task.status != "active":
                return
            if error is None:
                task.steps_completed = task.steps_total
                statemachine.set_task_status(store, task, "completed", "task completed")
            else:
                task.add_log(error)
                task.failed_by_workers.append(claim.worker_id)
                statemachine.set_task_status(store, task, "failed", error)

    def _run_command(self, claim: Claim, command: dict[str, Any]) -> None:
        name = command["name"]
        params: dict[str, Any] = command["parameters"]
        self.log(claim, f"running command {name}")
        if name == "blender-render":
            if self.emu.worker_mode == "blender":
                self._blender_render(claim, params)
            else:
                self._instant_render(claim, params)
        elif name == "echo":
            self.log(claim, str(params.get("message", "")))
        elif name == "sleep":
            self.log(claim, f"slept {params.get('duration_in_seconds')} seconds (emulated)")
        elif name == "frames-to-video":
            self.log(claim, f"emulator: no video made for {params.get('outputFile')} "
                            "(ffmpeg is not run)")
        else:
            raise TaskFailed(f"unknown command {name!r}")

    def _frame_done(self, claim: Claim, path: Path, data: bytes | None) -> None:
        """Bookkeeping after a frame was written: steps, log, last-rendered image."""
        store = self.emu.store
        with store.lock:
            task = self._task(claim)
            task.steps_completed = min(task.steps_total, task.steps_completed + 1)
            task.add_log(f"Saved: '{path}'")
            task.touch()
            job = store.jobs.get(claim.job_id)
            if job is not None:
                job.last_rendered = data if data is not None else png_bytes()
                job.last_rendered_path = str(path)
                store.last_rendered_job = job.id

    def _instant_render(self, claim: Claim, params: dict[str, Any]) -> None:
        args = [str(a) for a in params.get("args", [])]
        output = _arg_value(args, "--render-output") or _arg_value(args, "-o")
        frames_arg = _arg_value(args, "--render-frame") or _arg_value(args, "-f")
        if output is None or frames_arg is None:
            raise TaskFailed("render command without --render-output or --render-frame")
        for frame in parse_blender_frames(frames_arg):
            with self.emu.store.lock:
                self._task(claim)
            path = frame_path(output, frame, claim.image_extension, claim.blendfile_dir)
            data = write_png(path, rgb=frame_colour(frame))
            self._frame_done(claim, path, data)

    def blender_argv(self, params: dict[str, Any]) -> list[str]:
        """The command line a Worker builds for a ``blender-render`` command."""
        argv = shlex.split(str(params.get("exe", "blender")))
        argv += shlex.split(str(params.get("exeArgs", "")))
        argv += [str(a) for a in params.get("argsBefore", [])]
        if params.get("blendfile"):
            argv.append(str(params["blendfile"]))
        argv += [str(a) for a in params.get("args", [])]
        return argv

    def _blender_render(self, claim: Claim, params: dict[str, Any]) -> None:
        argv = self.blender_argv(params)
        self.log(claim, "command: " + shlex.join(argv))
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, errors="replace", cwd=self.emu.storage)
        lines: list[str] = []

        def read_output() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                lines.append(line.rstrip("\n"))
                self.log(claim, f"pid={proc.pid} > {line.rstrip()}")
                saved = _SAVED_RE.match(line.strip())
                if saved:
                    path = Path(saved.group(1))
                    data = path.read_bytes() if path.suffix.lower() == ".png" else None
                    with contextlib.suppress(TaskAborted):
                        self._frame_done(claim, path, data)

        reader = threading.Thread(target=read_output, daemon=True)
        reader.start()
        deadline = time.monotonic() + self.emu.blender_timeout
        try:
            while proc.poll() is None:
                if time.monotonic() > deadline:
                    proc.kill()
                    raise TaskFailed(f"blender timed out after {self.emu.blender_timeout} s")
                with self.emu.store.lock:
                    self._task(claim)
                time.sleep(0.05)
        except TaskAborted:
            proc.kill()
            raise
        finally:
            proc.wait()
            reader.join(timeout=5)
        if proc.returncode != 0:
            raise TaskFailed(f"blender exited with status {proc.returncode}")
