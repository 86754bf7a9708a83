"""A release's whole life with real Blender, through the `farm` command line.

Three small scenes are made with real Blender (one uses an image texture from a separate file,
one links an object from another .blend). They are planned, rendered by the emulator's
Blender-mode worker (Cycles on the CPU), one is replaced after its scene changed, the release
is harvested with a naming template and per-frame data, and archived. The asserts read the
real artefacts: decoded PNGs, the manifest, the archive.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tarfile
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests.blendgen import make_blends
from tests.emulator import Emulator

ROOT = Path(__file__).resolve().parents[2]
SIZE = (32, 24)
FRAMES = [1, 3, 1]

pytestmark = [pytest.mark.slow, pytest.mark.blender, pytest.mark.timeout(600)]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def farm(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "farm_addon", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300, check=False)


GREEN_WORLD = textwrap.dedent("""
    import sys, bpy
    bpy.ops.wm.open_mainfile(filepath=sys.argv[-1])
    scene = bpy.context.scene
    world = scene.world or bpy.data.worlds.new("World")
    scene.world = world
    world.use_nodes = True
    background = world.node_tree.nodes["Background"]
    background.inputs["Color"].default_value = (0.0, 1.0, 0.0, 1.0)
    background.inputs["Strength"].default_value = 1.0
    bpy.ops.wm.save_mainfile()
""")


def farm_volume(emulator_factory: Any, volume: Path, cwd: Path) -> dict[str, str]:
    """``volume`` made a farm volume, served by an emulator whose Worker renders with real
    Blender; the environment that points `farm` at both."""
    volume.mkdir()
    emu: Emulator = emulator_factory(storage=volume, worker="blender")
    emu.start_worker_thread()
    env = dict(os.environ, FARM_MANAGER_URL=emu.url, FARM_VOLUME=str(volume),
               PYTHONPATH=str(ROOT))
    assert farm(env, cwd, "init", str(volume)).returncode == 0
    return env


def image_stats(blender: Any, path: Path) -> tuple[tuple[int, int], float, float, float]:
    """(size, mean red, mean green, share of missing-texture pink pixels) of a PNG."""
    image = blender.data.images.load(str(path), check_existing=False)
    try:
        size = (int(image.size[0]), int(image.size[1]))
        px = list(image.pixels[:])
    finally:
        blender.data.images.remove(image)
    n = len(px) // 4
    reds, greens, blues = px[0::4], px[1::4], px[2::4]
    pink = sum(1 for r, g, b in zip(reds, greens, blues, strict=True)
               if r > 0.7 and g < 0.25 and b > 0.7)
    return size, sum(reds) / n, sum(greens) / n, pink / n


def test_release_rendered_replaced_harvested_archived(
    blender: Any, emulator_factory: Any, tmp_path: Path
) -> None:
    scenes, volume = tmp_path / "scenes", tmp_path / "volume"
    small = {"frames": FRAMES, "resolution": list(SIZE)}
    made = make_blends(scenes, [
        {"kind": "simple", "name": "cube", "scene": "Shot", **small},
        {"kind": "textured", "name": "crate", **small},
        {"kind": "linked", "name": "props", **small},
    ])
    env = farm_volume(emulator_factory, volume, tmp_path)
    run = farm(env, tmp_path, "plan", "release", "e2e", *(str(p) for p in made.values()))
    assert run.returncode == 0, run.stderr
    run = farm(env, tmp_path, "status", "e2e", "--watch", "--interval", "0.5")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "frames" in run.stdout and "3/3" in run.stdout  # progress was reported

    # The cube's scene changes after planning: only that job is rendered again.
    before = json.loads(farm(env, tmp_path, "status", "e2e", "--json").stdout)["jobs"]
    edit = subprocess.run([sys.executable, "-c", GREEN_WORLD, str(made["cube"])],
                          capture_output=True, text=True, timeout=120, check=False)
    assert edit.returncode == 0, edit.stderr[-2000:]
    status = json.loads(farm(env, tmp_path, "status", "e2e", "--json").stdout)
    assert {j["name"]: j["stale"] for j in status["jobs"]} == {
        "cube": True, "crate": False, "props": False}
    run = farm(env, tmp_path, "replace", "e2e.jobs", "--stale")
    assert run.returncode == 0, run.stdout + run.stderr
    run = farm(env, tmp_path, "status", "e2e", "--watch", "--interval", "0.5", "--json")
    assert run.returncode == 0, run.stdout + run.stderr
    final = {j["name"]: j for j in json.loads(run.stdout.splitlines()[-1])["jobs"]}
    assert final["cube"]["revision"] == 2
    untouched = {j["name"]: j["job_id"] for j in before if j["name"] != "cube"}
    assert {n: final[n]["job_id"] for n in untouched} == untouched

    data = tmp_path / "angles.json"
    data.write_text(json.dumps({str(f): {"angle": 90 * f} for f in range(1, 4)}))
    run = farm(env, tmp_path, "harvest", "release", "e2e",
               "--template", "{job}_r{angle:03d}{ext}", "--data", str(data))
    assert run.returncode == 0, run.stdout + run.stderr
    run = farm(env, tmp_path, "archive", "release", "e2e")
    assert run.returncode == 0, run.stdout + run.stderr

    dist = volume / "dist" / "e2e"
    manifest = json.loads((dist / "manifest.json").read_text())
    files = {item["name"]: item for item in manifest["files"]}
    expected = {f"{job}_r{90 * f:03d}.png" for job in ("cube", "crate", "props")
                for f in range(1, 4)}
    assert set(files) == expected
    assert {p.name for p in dist.iterdir()} == expected | {"manifest.json"}
    for name, item in files.items():
        path = dist / name
        assert item["size"] == path.stat().st_size and item["sha256"] == sha256(path)
        size, _, _, pink = image_stats(blender, path)
        assert size == SIZE, name
        assert pink < 0.02, f"{name} shows Blender's missing-texture pink"
    assert {files[f"cube_r{90 * f:03d}.png"]["revision"] for f in range(1, 4)} == {2}
    assert {files[f"crate_r{90 * f:03d}.png"]["revision"] for f in range(1, 4)} == {1}
    # The new revision's frames show the change; the old ones were kept aside.
    old = sorted((volume / "releases" / "e2e" / "superseded" / "cube" / "r1").iterdir())
    assert [p.name for p in old] == ["000001.png", "000002.png", "000003.png"]
    new_green = image_stats(blender, dist / "cube_r090.png")[2]
    old_green = image_stats(blender, old[0])[2]
    assert new_green > old_green + 0.3, (new_green, old_green)

    # The archive extracts to the same files.
    archive = volume / "archives" / "e2e.tar.gz"
    out = tmp_path / "extracted"
    with tarfile.open(archive) as tar:
        tar.extractall(out, filter="data")
    for name in expected:
        assert sha256(out / "e2e" / "dist" / name) == files[name]["sha256"]
    assert sha256(out / "e2e" / "release.json") == sha256(volume / "releases" / "e2e" /
                                                           "release.json")
    for blend in (volume / "releases" / "e2e" / "store").glob("*.blend"):
        assert sha256(out / "e2e" / "store" / blend.name) == sha256(blend)


def test_jobs_sharing_textures_store_them_once_and_render_them(
    blender: Any, emulator_factory: Any, tmp_path: Path
) -> None:
    """Two scenes using the same textures (same bytes, different folders): the volume holds
    each texture once (the jobs' files are links of one pool file), both jobs render them with
    real Blender (no missing-texture pink), and removing the release by archive and prune
    leaves no pool file behind."""
    scenes, volume = tmp_path / "scenes", tmp_path / "volume"
    small = {"frames": [1, 1, 1], "resolution": list(SIZE)}
    made = make_blends(scenes, [
        {"kind": "textured", "name": "crate", **small},
        {"kind": "textured", "name": "barrel", **small},
    ])
    wood = [scenes / name / "scene" / "textures" / "wood.png" for name in ("crate", "barrel")]
    assert wood[0].read_bytes() == wood[1].read_bytes()  # the premise: one content, two files
    env = farm_volume(emulator_factory, volume, tmp_path)
    run = farm(env, tmp_path, "plan", "release", "shared", *(str(p) for p in made.values()))
    assert run.returncode == 0, run.stderr

    store = volume / "releases" / "shared" / "store"
    packed = [store / f"{name}.deps" / "textures" / "wood.png" for name in ("crate", "barrel")]
    inodes = {p.stat().st_ino for p in packed}
    assert len(inodes) == 1, "the shared texture is stored twice"
    pool_files = [p for p in (volume / "pool").rglob("*") if p.is_file()]
    assert {p.stat().st_ino for p in pool_files} >= inodes
    assert packed[0].stat().st_nlink == 3  # two jobs and the pool

    run = farm(env, tmp_path, "status", "shared", "--watch", "--interval", "0.5")
    assert run.returncode == 0, run.stdout + run.stderr
    run = farm(env, tmp_path, "harvest", "release", "shared")
    assert run.returncode == 0, run.stdout + run.stderr
    frames = sorted((volume / "dist" / "shared").glob("*.png"))
    assert len(frames) == 2
    for path in frames:
        size, _, _, pink = image_stats(blender, path)
        assert size == SIZE and pink < 0.02, f"{path.name} shows Blender's missing-texture pink"

    run = farm(env, tmp_path, "archive", "release", "shared", "--prune")
    assert run.returncode == 0, run.stdout + run.stderr
    with tarfile.open(volume / "archives" / "shared.tar.gz") as archive:
        links = [m for m in archive.getmembers() if m.islnk()]
    assert any(m.name.endswith("wood.png") for m in links)  # stored once, linked once
    assert not [p for p in (volume / "pool").rglob("*") if p.is_file()]
