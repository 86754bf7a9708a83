"""Ready-made request bodies and a tiny .blend maker, for tests that drive the emulator."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any


def render_job(storage: Path | str, name: str = "test-job", *, frames: str = "1-10",
               chunk_size: int = 3, platform: str = "linux", blendfile: str | None = None,
               settings: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
    """A valid ``SubmittedJob`` of type ``simple-blender-render`` with paths under ``storage``.

    ``settings`` entries override the defaults (None removes one); ``fields`` override top-level
    fields like ``priority``, ``metadata``, ``type_etag``, ``initial_status``.
    """
    root = str(storage).rstrip("/\\")
    sep = "\\" if platform == "windows" else "/"
    job_settings: dict[str, Any] = {
        "frames": frames,
        "chunk_size": chunk_size,
        "render_output_root": f"{root}{sep}renders",
        "add_path_components": 0,
        "render_output_path": f"{root}{sep}renders{sep}{name}{sep}{{timestamp}}{sep}######",
        "blendfile": blendfile or f"{root}{sep}project{sep}shot.blend",
        "fps": 24.0,
        "format": "PNG",
        "image_file_extension": ".png",
        "has_previews": False,
        "scene": "Scene",
    }
    for key, value in (settings or {}).items():
        if value is None:
            job_settings.pop(key, None)
        else:
            job_settings[key] = value
    body: dict[str, Any] = {
        "name": name,
        "type": "simple-blender-render",
        "priority": 50,
        "submitter_platform": platform,
        "settings": job_settings,
        "metadata": {"project": "emulator", "user.name": "Tester"},
    }
    body.update(fields)
    return body


def echo_job(name: str = "echo-job", message: str = "hello", repeats: int = 1,
             **fields: Any) -> dict[str, Any]:
    """A valid ``SubmittedJob`` of type ``echo-sleep-test``."""
    body: dict[str, Any] = {
        "name": name,
        "type": "echo-sleep-test",
        "priority": 50,
        "submitter_platform": "linux",
        "settings": {"message": message, "sleep_duration_seconds": 1, "sleep_repeats": repeats},
        "metadata": {},
    }
    body.update(fields)
    return body


_MAKE_BLEND = textwrap.dedent("""
    import sys
    import bpy
    bpy.ops.wm.read_factory_settings(use_empty=False)
    scene = bpy.context.scene
    scene.render.engine = "CYCLES"
    scene.cycles.device = "CPU"
    scene.cycles.samples = int(sys.argv[-1])
    scene.cycles.use_denoising = False
    scene.render.resolution_x = int(sys.argv[-3])
    scene.render.resolution_y = int(sys.argv[-2])
    scene.render.resolution_percentage = 100
    scene.render.image_settings.file_format = "PNG"
    scene.frame_start = 1
    scene.frame_end = 3
    bpy.ops.wm.save_as_mainfile(filepath=sys.argv[-4])
""")


def make_blend_file(path: Path, width: int = 32, height: int = 24, samples: int = 1,
                    python: str = sys.executable, timeout: float = 60.0) -> Path:
    """Write a tiny Cycles (CPU) scene "Scene" with frames 1-3, using bpy in a subprocess."""
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([python, "-c", _MAKE_BLEND, str(path), str(width), str(height), str(samples)],
                   check=True, capture_output=True, timeout=timeout)
    return path
