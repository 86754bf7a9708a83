"""Self-tests of the emulator's workers: instant PNG frames, background thread, real Blender."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.emulator import Emulator
from tests.emulator.pngwrite import read_png
from tests.emulator.samples import echo_job, make_blend_file, render_job
from tests.emulator.worker import frame_path

pytest_plugins = ["tests.emulator.fixtures"]

API = "/api/v3"


def submit(emu: Emulator, body: dict[str, Any]) -> dict[str, Any]:
    resp = requests.post(emu.url + API + "/jobs", json=body, timeout=10)
    assert resp.status_code == 200, resp.text
    job: dict[str, Any] = resp.json()
    return job


def fetch(emu: Emulator, path: str) -> Any:
    resp = requests.get(emu.url + API + path, timeout=10)
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_frame_path_like_blender(tmp_path: Path) -> None:
    assert frame_path("/out/######", 7, ".png") == Path("/out/000007.png")
    assert frame_path("/out/f_##_x", 123, ".png") == Path("/out/f_123_x.png")
    assert frame_path("/out/frame_", 7, ".exr") == Path("/out/frame_0007.exr")
    assert frame_path("/out/####.png", 7, ".png") == Path("/out/0007.png")
    assert frame_path("//render/###", 2, ".png", tmp_path) == tmp_path / "render/002.png"


@pytest.mark.emulator(worker="instant")
def test_instant_worker_writes_frames(emulator: Emulator) -> None:
    job = submit(emulator, render_job(emulator.storage, "shot", frames="1-10,20,30-40",
                                      chunk_size=3))
    assert emulator.run_worker() == 9
    data = fetch(emulator, f"/jobs/{job['id']}")
    assert data["status"] == "completed"
    assert data["steps_completed"] == data["steps_total"]
    assert {t["status"] for t in fetch(emulator, f"/jobs/{job['id']}/tasks")["tasks"]} == {
        "completed"}

    render_dir = Path(data["settings"]["render_output_path"].replace(
        "{my_storage}", str(emulator.storage))).parent
    expected = [*range(1, 11), 20, *range(30, 41)]
    written = sorted(render_dir.glob("*.png"))
    assert [p.name for p in written] == [f"{f:06d}.png" for f in expected]
    for path in written:
        info = read_png(path.read_bytes())
        assert (info.width, info.height, info.bit_depth, info.colour_type) == (8, 8, 8, 2)
        assert len(info.pixels) == 8 * (1 + 8 * 3)
    assert emulator.jobs[job["id"]].last_rendered_path == str(render_dir / "000040.png")


@pytest.mark.emulator(worker="instant", variables={
    "farm": {"linux": "/nonexistent/linux", "windows": "F:\\farm"}})
def test_instant_worker_expands_twoway_variables(emulator: Emulator) -> None:
    # Submitted from Windows with F:\farm paths; the worker (linux) writes under its own value.
    emulator.variables.set_value("farm", "linux", str(emulator.storage))
    submit(emulator, render_job("F:\\farm", "win", frames="5", platform="windows"))
    emulator.run_worker()
    frames = list(emulator.storage.rglob("*.png"))
    assert len(frames) == 1
    assert frames[0].name == "000005.png"
    assert frames[0].relative_to(emulator.storage).parts[:2] == ("renders", "win")


@pytest.mark.emulator(worker="instant")
def test_image_extension_follows_job_setting(emulator: Emulator) -> None:
    submit(emulator, render_job(emulator.storage, frames="1", settings={
        "format": "JPEG", "image_file_extension": ".jpg"}))
    emulator.run_worker()
    assert [p.name for p in emulator.storage.rglob("0*")] == ["000001.jpg"]


@pytest.mark.emulator(worker="instant")
def test_dependencies_and_priorities(emulator: Emulator) -> None:
    low = submit(emulator, echo_job("low", repeats=1, priority=10))
    high = submit(emulator, echo_job("high", repeats=1, priority=90))
    assert emulator.run_worker(max_tasks=2) == 2
    assert fetch(emulator, f"/jobs/{high['id']}")["status"] == "completed"
    assert fetch(emulator, f"/jobs/{low['id']}")["status"] == "queued"
    assert emulator.run_worker() == 2


@pytest.mark.emulator(worker="instant", task_seconds=0.2)
def test_background_worker_thread(emulator: Emulator) -> None:
    job = submit(emulator, echo_job(repeats=1))
    emulator.start_worker_thread(interval=0.01)
    seen = set()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        status = fetch(emulator, f"/jobs/{job['id']}")["status"]
        seen.add(status)
        if status == "completed":
            break
        time.sleep(0.02)
    assert "active" in seen
    assert status == "completed"
    log = requests.get(f"{emulator.url}{API}/tasks/{emulator.jobs[job['id']].task_ids[0]}"
                       "/logtail", timeout=10)
    assert "hello" in log.text


@pytest.mark.emulator(worker="none")
def test_worker_none_runs_nothing(emulator: Emulator) -> None:
    submit(emulator, echo_job())
    assert emulator.run_worker() == 0


@pytest.fixture(scope="module")
def tiny_blend(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_blend_file(tmp_path_factory.mktemp("blend") / "project" / "tiny.blend")


@pytest.mark.blender
@pytest.mark.timeout(120)
@pytest.mark.emulator(worker="blender", version="3.9-beta1")
def test_blender_mode_renders_with_bpy(emulator: Emulator, tiny_blend: Path) -> None:
    body = render_job(emulator.storage, "real", frames="2", chunk_size=1,
                      blendfile=str(tiny_blend), settings={"fps": None})
    job = submit(emulator, body)
    started = time.monotonic()
    assert emulator.run_worker() == 1
    assert time.monotonic() - started < 30
    data = fetch(emulator, f"/jobs/{job['id']}")
    task_id = emulator.jobs[job["id"]].task_ids[0]
    log = requests.get(f"{emulator.url}{API}/tasks/{task_id}/logtail", timeout=10).text
    assert data["status"] == "completed", log
    frames = list(emulator.storage.joinpath("renders", "real").rglob("*.png"))
    assert [p.name for p in frames] == ["000002.png"]
    info = read_png(frames[0].read_bytes())
    assert (info.width, info.height) == (32, 24)
    assert "Saved: '" in log
    last = fetch(emulator, f"/jobs/{job['id']}/last-rendered")
    image = requests.get(f"{emulator.url}{last['base']}/{last['suffixes'][0]}", timeout=10)
    assert read_png(image.content).width == 32


@pytest.mark.blender
@pytest.mark.timeout(120)
@pytest.mark.emulator(worker="blender")
def test_blender_mode_fails_task_on_error(emulator: Emulator) -> None:
    body = render_job(emulator.storage, "broken", frames="1", settings={"fps": None})
    job = submit(emulator, body)  # the blend file does not exist
    assert emulator.run_worker() == 1
    assert fetch(emulator, f"/jobs/{job['id']}")["status"] == "failed"
    task_id = emulator.jobs[job["id"]].task_ids[0]
    log = requests.get(f"{emulator.url}{API}/tasks/{task_id}/logtail", timeout=10).text
    assert "Cannot read file" in log
    assert "blender exited with status 1" in log
