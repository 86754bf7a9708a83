#!/usr/bin/env python3
"""The demo: a release planned, rendered with real Blender, harvested and archived.

    python3 scripts/dev.py demo [FOLDER]      # sets up .venv first if needed

It starts the project's Flamenco Manager *emulator* on 127.0.0.1 (it stands in for a real
Manager, which cannot run here) with a worker that renders each task with real Blender (the
`bpy` module, Cycles on the CPU), makes three small sample scenes (one with an image texture
from a separate file, one linking an object from another .blend), and runs the real `farm`
command line against it. Everything lands in FOLDER (default: a new temporary folder).

To use farm with a real farm instead, point it at your Manager and its shared storage:
    farm --manager http://flamenco-manager:8080 --volume /mnt/farm status
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.blendgen import make_blends  # noqa: E402  (needs ROOT on sys.path)

PY = sys.executable


def step(text: str) -> None:
    print(f"\n\033[1m==> {text}\033[0m" if sys.stdout.isatty() else f"\n==> {text}", flush=True)


def farm(*args: str, env: dict[str, str], cwd: Path, check: bool = True) -> int:
    print("$ farm " + " ".join(args), flush=True)
    rc = subprocess.run([PY, "-m", "farm_addon", *args], env=env, cwd=cwd, check=False).returncode
    if check and rc != 0:
        sys.exit(f"demo: `farm {' '.join(args)}` failed with exit code {rc}.")
    return rc


def start_emulator(volume: Path, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    proc = subprocess.Popen(
        [PY, "-m", "tests.emulator", "--port", "0", "--storage", str(volume), "--worker",
         "blender"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=log.open("wb"),
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stdout.readline().decode()
        match = re.search(r"at (http://127\.0\.0\.1:\d+)", line)
        if match:
            return proc, match.group(1)
        if proc.poll() is not None:
            break
    proc.kill()
    sys.exit(f"demo: the Manager emulator did not start; see {log}.")


def tree(root: Path, limit: int = 60) -> None:
    lines = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if rel.parts[0] in ("jobs", "file-store") or rel.name == ".lock":
            continue
        if any(p.endswith(".deps") for p in rel.parts[:-1]):
            continue  # a packed job's dependencies: shown as one folder
        lines.append("  " * (len(rel.parts) - 1) + rel.name + ("/" if path.is_dir() else ""))
    for line in lines[:limit]:
        print("  " + line)
    if len(lines) > limit:
        print(f"  ... ({len(lines) - limit} more)")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folder", nargs="?", type=Path, help="where to put everything")
    args = ap.parse_args(argv)
    base = (args.folder or Path(tempfile.mkdtemp(prefix="farm-demo-"))).absolute()
    if base.exists() and any(base.iterdir()):
        sys.exit(f"demo: {base} is not empty; name a new or empty folder.")
    base.mkdir(parents=True, exist_ok=True)
    volume, scenes = base / "volume", base / "scenes"

    step(f"Making three sample scenes with Blender in {scenes}")
    small = {"frames": [1, 3, 1], "resolution": [64, 48]}
    made = make_blends(scenes, [
        {"kind": "simple", "name": "cube", "scene": "Shot", **small},
        {"kind": "textured", "name": "crate", **small},
        {"kind": "linked", "name": "props", **small},
    ])
    for name, path in made.items():
        print(f"  {name}: {path.relative_to(base)}")

    step("Starting the Flamenco Manager emulator (Blender-mode worker)")
    volume.mkdir()
    proc, url = start_emulator(volume, base / "emulator.log")
    print(f"  {url}  (log: {base / 'emulator.log'})")
    env = dict(os.environ, FARM_MANAGER_URL=url, FARM_VOLUME=str(volume),
               FARM_PROJECT="demo", PYTHONPATH=str(ROOT))
    try:
        step("Making the volume")
        farm("init", str(volume), env=env, cwd=base)
        step("Planning the release 'demo' from the three scenes")
        farm("plan", "release", "demo", *(str(p) for p in made.values()), env=env, cwd=base)
        step("Rendering: waiting for every job (Cycles on the CPU)")
        farm("status", "demo", "--watch", "--interval", "1", env=env, cwd=base)
        (base / "angles.json").write_text(json.dumps({str(f): {"angle": 120 * (f - 1)}
                                                      for f in (1, 2, 3)}))
        step("Harvesting into dist/demo with a naming template and per-frame data")
        farm("harvest", "release", "demo", "--template", "{job}_r{angle:03d}{ext}",
             "--data", str(base / "angles.json"), env=env, cwd=base)
        step("Archiving")
        farm("archive", "release", "demo", env=env, cwd=base)
        step("The volume now holds")
        tree(volume)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    print(f"\nDone. Look in {volume / 'dist' / 'demo'} for the delivery, and "
          f"{volume / 'archives'} for the archive.")
    print("The Manager was an emulator; point farm at a real one with "
          "--manager URL --volume PATH (or FARM_MANAGER_URL, FARM_VOLUME).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
