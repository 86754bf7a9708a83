"""Fixtures of the Blender-side tests (real `bpy`, farm enabled as an extension).

* ``farm``: farm enabled for one test, as a namespace of its modules (``farm.runner``,
  ``farm.operators``...) and its preferences; at teardown it checks that no job, worker
  thread or timer of farm's is left behind (a timer left registered hangs Blender's exit).
* ``volume``: the emulator's shared storage made a farm volume.
* ``configured``: ``farm`` with its preferences pointing at the emulator and that volume.
* ``blends`` / ``blend_copy``: the standard generated .blend files, and private copies.
* ``tick_until``: tick the runner the way Blender's timer would, until a condition holds.
"""

from __future__ import annotations

import shutil
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from farm_addon.core.fs.volume import Volume
from tests.blendgen import copy_kind, standard_blends
from tests.emulator import Emulator

FARM_ENV = {
    "FARM_PROJECT": "catalogue",
    "FARM_USER_NAME": "Ada Tester",
    "FARM_USER_EMAIL": "ada@example.com",
}


@dataclass
class Farm:
    """Farm as Blender loaded it (``bl_ext.farm_test.farm``)."""

    bpy: Any
    module: str
    runner: ModuleType
    operators: ModuleType
    fetch: ModuleType
    props: ModuleType
    prefs_module: ModuleType

    @property
    def prefs(self) -> Any:
        return self.bpy.context.preferences.addons[self.module].preferences

    @property
    def state(self) -> Any:
        return self.bpy.context.window_manager.farm

    @property
    def scene(self) -> Any:
        return self.bpy.context.scene.farm


def farm_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("farm: ") and t.is_alive()]


@pytest.fixture
def farm(farm_enabled: str, blender: Any) -> Iterator[Farm]:
    mods = {name: sys.modules[f"{farm_enabled}.blender.{path}"]
            for name, path in (("runner", "work"), ("operators", "release.ops"),
                               ("fetch", "farm.fetch"), ("props", "props"), ("prefs", "prefs"))}
    ns = Farm(blender, farm_enabled, mods["runner"], mods["operators"], mods["fetch"],
              mods["props"], mods["prefs"])
    blender.context.preferences.system.use_online_access = True
    try:
        yield ns
    finally:
        leftover = ns.runner.jobs()
        stuck = ns.runner.cancel_all()
        assert not stuck, f"worker threads still running: {stuck}"
        assert not ns.runner.ticker_registered(), "the background ticker is still registered"
        assert not farm_threads(), f"farm threads left: {farm_threads()}"
        assert not leftover, f"jobs left running after the test: {leftover}"


@pytest.fixture
def volume(emulator: Emulator) -> Volume:
    return Volume.init(emulator.storage)


@pytest.fixture
def configured(farm: Farm, emulator: Emulator, volume: Volume,
               monkeypatch: pytest.MonkeyPatch) -> Farm:
    """``farm`` with its preferences set for the emulator and its volume."""
    for key in ("FARM_MANAGER_URL", "FARM_VOLUME", *FARM_ENV):
        monkeypatch.delenv(key, raising=False)
    prefs = farm.prefs
    prefs.manager_url = emulator.url
    prefs.volume = str(volume.root)
    prefs.project = FARM_ENV["FARM_PROJECT"]
    prefs.user_name = FARM_ENV["FARM_USER_NAME"]
    prefs.user_email = FARM_ENV["FARM_USER_EMAIL"]
    return farm


@pytest.fixture(scope="session")
def blends(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """name -> main .blend of tests/blendgen.py's standard set (read only)."""
    return standard_blends(tmp_path_factory.mktemp("blends"))


@pytest.fixture
def blend_copy(blends: dict[str, Path], tmp_path: Path) -> Callable[..., Path]:
    """``blend_copy("simple")``: a private copy of a kind (with its textures);
    ``blend_copy("simple", "shots/a/main.blend")`` copies just the .blend there."""

    def make(kind: str, as_path: str | None = None) -> Path:
        work = tmp_path / "work"
        if as_path is None:
            return copy_kind(blends[kind], work)
        target = work / as_path
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(blends[kind], target)
        return target

    return make


@pytest.fixture
def open_blend(blender: Any) -> Callable[[Path], None]:
    def open_(path: Path) -> None:
        assert blender.ops.wm.open_mainfile(filepath=str(path)) == {"FINISHED"}

    return open_


TickUntil = Callable[..., list[float]]


@pytest.fixture
def tick_until(farm: Farm) -> TickUntil:
    """Tick like Blender's timer (every ``interval`` s) until ``done()``; returns each tick's
    wall time in seconds. Fails after ``timeout`` seconds."""

    def run(done: Callable[[], bool], timeout: float = 30.0,
            interval: float = 0.01) -> list[float]:
        times: list[float] = []
        deadline = time.monotonic() + timeout
        while not done():
            assert time.monotonic() < deadline, "timed out waiting for the worker thread"
            started = time.perf_counter()
            farm.runner.tick(farm.bpy.context)
            times.append(time.perf_counter() - started)
            time.sleep(interval)
        return times

    return run
