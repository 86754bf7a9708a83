"""Shared fixtures of the core's release tests: real .blend files, a farm volume on the
emulator's shared storage, the environment the `farm` CLI reads, and ways to run it.

* ``blends``: the standard generated files (tests/blendgen.py), made once per session. Read
  only; copy a kind with ``work_blend`` before changing anything.
* ``volume``: ``Volume.init(emulator.storage)``: the emulator's shared storage is the volume.
* ``farm_env``: ``FARM_*`` variables for that emulator and volume (also set in ``os.environ``
  for in-process runs).
* ``farm``: run the real CLI in a subprocess (``farm(["plan", "release", ...], cwd=...)``);
  ``farm_inproc``: ``farm_addon.core.cli.main`` in this process, output captured.
* ``tree``: a snapshot of a folder (path -> size and checksum) to prove nothing changed.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import pytest

from farm_addon.core.cli import main as cli_main
from farm_addon.core.fs.volume import Volume
from farm_addon.core.session import FarmSession
from farm_addon.core.settings import Settings
from tests.blendgen import copy_kind, standard_blends
from tests.emulator import Emulator

ROOT = Path(__file__).resolve().parents[2]
FARM_ENV = {
    "FARM_PROJECT": "catalogue",
    "FARM_USER_NAME": "Ada Tester",
    "FARM_USER_EMAIL": "ada@example.com",
}


@pytest.fixture(scope="session")
def blends(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """name -> main .blend of tests/blendgen.py's standard set (do not modify them)."""
    return standard_blends(tmp_path_factory.mktemp("blends"))


@pytest.fixture
def work(tmp_path: Path) -> Path:
    """An empty folder for a test's own sources (outside the volume)."""
    path = tmp_path / "work"
    path.mkdir()
    return path


@pytest.fixture
def work_blend(blends: dict[str, Path], work: Path) -> Callable[..., Path]:
    """``work_blend("textured")``: a private copy of a standard kind (with its textures);
    ``work_blend("simple", "chair.blend", "props")`` copies just the .blend under a new name."""

    def make(kind: str, as_name: str | None = None, folder: str = "") -> Path:
        if as_name is None:
            return copy_kind(blends[kind], work / folder if folder else work)
        target = work / folder / as_name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(blends[kind], target)
        return target

    return make


@pytest.fixture
def volume(emulator: Emulator) -> Volume:
    return Volume.init(emulator.storage)


@pytest.fixture
def farm_env(
    emulator: Emulator, volume: Volume, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    env = {"FARM_MANAGER_URL": emulator.url, "FARM_VOLUME": str(volume.root), **FARM_ENV}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


@pytest.fixture
def session(farm_env: dict[str, str], volume: Volume) -> Iterator[FarmSession]:
    with FarmSession(Settings.from_env(farm_env), volume=volume) as s:
        yield s


@dataclass
class Run:
    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err


FarmRunner = Callable[..., Run]


@pytest.fixture
def farm(farm_env: dict[str, str], work: Path) -> FarmRunner:
    """Run ``farm ARGS`` in a subprocess (the real console script's code path)."""

    def run(args: Sequence[str], cwd: Path | None = None, timeout: float = 120,
            env: dict[str, str] | None = None) -> Run:
        full_env = {**os.environ, **farm_env, **(env or {})}
        full_env["PYTHONPATH"] = str(ROOT)
        proc = subprocess.run(
            [sys.executable, "-m", "farm_addon", *args], cwd=cwd or work, env=full_env,
            capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
            check=False,
        )
        return Run(proc.returncode, proc.stdout, proc.stderr)

    return run


@pytest.fixture
def farm_inproc(
    farm_env: dict[str, str], work: Path, monkeypatch: pytest.MonkeyPatch
) -> FarmRunner:
    """Run ``farm_addon.core.cli.main(ARGS)`` in this process, in ``cwd`` (default ``work``)."""

    def run(args: Sequence[str], cwd: Path | None = None) -> Run:
        monkeypatch.chdir(cwd or work)
        out, err = io.StringIO(), io.StringIO()
        with redirect_stdout(out), redirect_stderr(err):
            code = cli_main(list(args))
        return Run(code, out.getvalue(), err.getvalue())

    return run


def snapshot(root: Path) -> dict[str, str]:
    """Every file and folder below ``root``: relative path -> checksum (or "dir")."""
    found: dict[str, str] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_dir() and not path.is_symlink():
            found[rel + "/"] = "dir"
        else:
            found[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


@pytest.fixture
def tree() -> Callable[[Path], dict[str, str]]:
    return snapshot


def farm_jobs(emulator: Emulator, **meta: str) -> list[object]:
    """The emulator's jobs whose metadata has every given pair (``farm_job="x"`` for
    ``farm.job``), not counting those awaiting deletion."""
    wanted = {k.replace("farm_", "farm.", 1) if k.startswith("farm_") else k: v
              for k, v in meta.items()}
    with emulator.store.lock:
        return [j for j in emulator.jobs.values()
                if all(j.metadata.get(k) == v for k, v in wanted.items())]
