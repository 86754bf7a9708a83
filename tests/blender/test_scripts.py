"""The headless scripts end to end, each in its own process (as ``blender -b`` runs them),
against the Manager emulator: what they print, what they do, and their exit codes."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from farm_addon.core.fs.volume import Volume
from tests.blender.conftest import FARM_ENV
from tests.emulator import Emulator

pytestmark = [pytest.mark.blender, pytest.mark.slow, pytest.mark.timeout(300)]

ROOT = Path(__file__).resolve().parents[2]

# `blender -b FILE --python SCRIPT -- ARGS`, with the `bpy` module: open FILE, then run SCRIPT
# as __main__ with Blender's argv.
BLENDER_B = textwrap.dedent("""
    import os, runpy, sys
    import bpy
    exec(os.environ.get("FARM_TEST_PRELUDE", ""))  # a test's hook, run before the script
    blend, script, *args = sys.argv[1:]
    if blend:
        bpy.ops.wm.open_mainfile(filepath=blend)
    sys.argv = ["blender", "-b", blend, "--python", script, "--", *args]
    runpy.run_path(script, run_name="__main__")
""")


@dataclass
class Run:
    code: int
    out: str
    err: str


Script = Callable[..., Run]


@pytest.fixture
def script(emulator: Emulator, volume: Volume, tmp_path: Path) -> Script:
    def run(name: str, *args: str, blend: Path | None = None, cwd: Path | None = None,
            manager: str | None = None, prelude: str = "") -> Run:
        env = {k: v for k, v in os.environ.items() if not k.startswith("FARM_")}
        env.update(FARM_ENV)
        env["FARM_TEST_PRELUDE"] = prelude
        env["FARM_MANAGER_URL"] = manager or emulator.url
        env["FARM_VOLUME"] = str(volume.root)
        proc = subprocess.run(
            [sys.executable, "-c", BLENDER_B, str(blend or ""),
             str(ROOT / "scripts" / f"{name}.py"), *args],
            cwd=cwd or tmp_path, env=env, capture_output=True, text=True, timeout=240,
            stdin=subprocess.DEVNULL, check=False,
        )
        return Run(proc.returncode, proc.stdout, proc.stderr)

    return run


def test_seed_the_opened_file(script: Script, emulator: Emulator,
                              blend_copy: Callable[..., Path]) -> None:
    blend = blend_copy("simple", "shot.blend")
    run = script("seed_job", "--frames", "1-3", "--priority", "70", blend=blend)
    assert run.code == 0, run.err
    assert "Seeded shot from shot.blend (frames 1-3) as job " in run.out
    [job] = emulator.jobs.values()
    assert job.name == "quick/shot" and job.priority == 70
    assert job.metadata["user.name"] == FARM_ENV["FARM_USER_NAME"]


def test_seed_without_a_file_is_bad_input(script: Script) -> None:
    run = script("seed_job")
    assert run.code == 2
    assert "No .blend to seed" in run.err


@pytest.mark.emulator(worker="instant")
def test_plan_harvest_archive(script: Script, emulator: Emulator, volume: Volume,
                              blend_copy: Callable[..., Path]) -> None:
    folder = blend_copy("simple", "assets/chair.blend").parent
    blend_copy("simple", "assets/table.blend")
    run = script("plan_release", "assets", "--release", "spring", cwd=folder.parent)
    assert run.code == 0, run.err
    assert "Planned release spring: 2 job(s)" in run.out
    assert "chair r1: submitted" in run.out

    run = script("harvest_release", "spring")
    assert run.code == 1  # nothing rendered yet
    assert run.err.startswith("farm: error:") and "chair" in run.err

    emulator.run_worker()
    run = script("harvest_release", "spring")
    assert run.code == 0, run.err
    assert "Delivered 24 frame(s) of spring" in run.out
    assert len(list(volume.dist_dir("spring").rglob("*.png"))) == 24

    run = script("archive_release", "spring", "--json")
    assert run.code == 0, run.err
    assert '"release": "spring"' in run.out
    assert volume.archive_path("spring").is_file()


# Someone re-renders chair frame 3 (appending to it in place) just before farm moves it.
RERENDER_DURING_MOVE = textwrap.dedent(f"""
    sys.path.insert(0, {str(ROOT)!r})
    from farm_addon.core.fs.mover import FileOps
    _move = FileOps.move
    def _rerender_then_move(self, src, dst):
        if str(src).endswith("chair/000003.png"):
            with open(src, "ab") as f:
                f.write(b"a worker writing the frame again")
        _move(self, src, dst)
    FileOps.move = _rerender_then_move
""")


@pytest.mark.emulator(worker="instant")
def test_harvest_with_a_frame_rewritten_meanwhile_exits_1(
        script: Script, emulator: Emulator, volume: Volume,
        blend_copy: Callable[..., Path]) -> None:
    """The headless harvest says which frame was held back, and exits 1 like `farm`."""
    folder = blend_copy("simple", "assets/chair.blend").parent
    assert script("plan_release", "assets", "--release", "spring", cwd=folder.parent).code == 0
    emulator.run_worker()
    run = script("harvest_release", "spring", prelude=RERENDER_DURING_MOVE)
    assert run.code == 1, run.out + run.err
    assert "Delivered 11 frame(s) of spring" in run.out
    assert "farm: error: 1 frame(s) changed on disk" in run.err
    assert "job 'chair' frames 3" in run.err
    assert (volume.job_out_dir("spring", "chair") / "000003.png").is_file()
    # The "re-render" left a damaged PNG: the next harvest names it and moves nothing.
    run = script("harvest_release", "spring")
    assert run.code == 1 and "truncated PNG (no IEND chunk at the end) 3" in run.err, run.err


def test_plan_the_opened_file(script: Script, emulator: Emulator,
                              blend_copy: Callable[..., Path]) -> None:
    blend = blend_copy("simple", "shots/s010.blend")
    run = script("plan_release", "--release", "one", blend=blend)
    assert run.code == 0, run.err
    assert [j.metadata["farm.job"] for j in emulator.jobs.values()] == ["s010"]


def test_failures_exit_non_zero(script: Script, emulator: Emulator) -> None:
    run = script("archive_release", "winter")
    assert run.code == 2 and "winter" in run.err
    run = script("plan_release", "--release", "x", "missing/*.blend")
    assert run.code == 2 and run.err.startswith("farm: error:")
    run = script("harvest_release", "spring", manager="http://127.0.0.1:9")
    assert run.code != 0 and "farm: error:" in run.err
    run = script("harvest_release")  # usage error: no release
    assert run.code == 2 and "release" in run.err
