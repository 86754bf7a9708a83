"""Benchmark: reading a .blend's frame range, scene and output format, farm vs Blender.

farm reads them with Blender Asset Tracer (:func:`farm_addon.core.blend.info.read_blend_info`);
the baseline, measured in the same run, opens the file in an already running Blender
(``bpy.ops.wm.open_mainfile`` in this process, after one warm-up open) and reads the same
values. Both are timed on a small file and on one of about 200 MB (a grid of a few million
vertices, made once with tests/blendgen.py and cached under ``--cache``)::

    python scripts/bench_blendinfo.py
    python scripts/bench_blendinfo.py --json --cache .cache/bench

Targets: at most 20 ms per file, the cost not growing with the file's size (large/small at
most 2x), and at least 8x faster than Blender on the large file. The last line of the plain
output is machine-readable (``BENCH bench_blendinfo ...``).

Exit status: 0, or 1 with ``--check`` when a target is missed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from farm_addon.core.blend.info import read_blend_info  # noqa: E402
from tests.blendgen import LARGE_SIDE, large_blend, make_blends  # noqa: E402

TARGET_MS = 20.0
TARGET_SPEEDUP = 8.0
TARGET_GROWTH = 2.0


def small_blend(cache: Path) -> Path:
    path = cache / "small" / "small.blend"
    if not path.is_file():
        made = make_blends(cache, [{"kind": "simple", "name": "small", "frames": [1, 48, 1]}])
        path = made["small"]
    return path


def timed(fn: Callable[[], object], repeats: int) -> list[float]:
    """Milliseconds of each of ``repeats`` calls."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000.0)
    return times


Values = tuple[int, int, int, str, str]


def farm_read(path: Path) -> Values:
    scene = read_blend_info(path).scene
    return scene.frame_start, scene.frame_end, scene.frame_step, scene.name, scene.file_format


@contextlib.contextmanager
def silenced_stdout() -> Iterator[None]:
    """Blender prints 'Read blend: ...' from C; keep stdout for the results (--json)."""
    sys.stdout.flush()
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


def blender_read(bpy: Any, path: Path) -> Values:
    with silenced_stdout():
        bpy.ops.wm.open_mainfile(filepath=str(path), load_ui=False)
    scene = bpy.context.scene
    return (scene.frame_start, scene.frame_end, scene.frame_step, scene.name,
            scene.render.image_settings.file_format)


def import_bpy() -> Any:
    # Blender's user folders in a temporary place: never the developer's own preferences.
    os.environ.setdefault("BLENDER_USER_RESOURCES", tempfile.mkdtemp(prefix="farm-bench-bl-"))
    import bpy

    return bpy


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache", type=Path, default=ROOT / ".cache" / "bench",
                        help="where the generated files are kept (default .cache/bench)")
    parser.add_argument("--side", type=int, default=LARGE_SIDE,
                        help=f"vertices along the large grid's edge (default {LARGE_SIDE})")
    parser.add_argument("--repeats", type=int, default=20, help="timed reads per file for farm")
    parser.add_argument("--blender-repeats", type=int, default=5,
                        help="timed opens per file for Blender")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.blender_repeats < 1:
        parser.error("--repeats and --blender-repeats must be 1 or more")

    cache = args.cache.absolute()
    files = {"small": small_blend(cache), "large": large_blend(cache, args.side)}
    bpy = import_bpy()
    blender_read(bpy, files["small"])  # warm-up: Blender is "already running"

    results: dict[str, dict[str, Any]] = {}
    for label, path in files.items():
        first = timed(lambda p=path: farm_read(p), 1)[0]  # type: ignore[misc]
        farm_ms = timed(lambda p=path: farm_read(p), args.repeats)  # type: ignore[misc]
        blender_ms = timed(lambda p=path: blender_read(bpy, p),  # type: ignore[misc]
                           args.blender_repeats)
        farm_values, blender_values = farm_read(path), blender_read(bpy, path)
        farm_median = statistics.median(farm_ms)
        blender_median = statistics.median(blender_ms)
        results[label] = {
            "path": str(path),
            "size_mb": round(path.stat().st_size / 1e6, 1),
            "farm_ms": round(farm_median, 2),
            "farm_first_ms": round(first, 2),
            "farm_max_ms": round(max(farm_ms), 2),
            "blender_ms": round(blender_median, 2),
            "speedup": round(blender_median / farm_median, 2) if farm_median else 0.0,
            "same_values": farm_values == blender_values,
        }
    small, large = results["small"], results["large"]
    growth = large["farm_ms"] / small["farm_ms"] if small["farm_ms"] else 0.0
    ok_ms = max(small["farm_ms"], large["farm_ms"]) <= TARGET_MS
    ok_speed = large["speedup"] >= TARGET_SPEEDUP
    ok_growth = growth <= TARGET_GROWTH
    ok = ok_ms and ok_speed and ok_growth and small["same_values"] and large["same_values"]
    summary = {
        "bench": "bench_blendinfo",
        "small_farm_ms": small["farm_ms"], "small_blender_ms": small["blender_ms"],
        "large_farm_ms": large["farm_ms"], "large_blender_ms": large["blender_ms"],
        "large_size_mb": large["size_mb"],
        "speedup_small": small["speedup"], "speedup_large": large["speedup"],
        "growth": round(growth, 2),
        "target_ms": TARGET_MS, "target_speedup": TARGET_SPEEDUP, "target_growth": TARGET_GROWTH,
        "ok": ok, "files": results,
    }
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"{'file':<6} {'MB':>7} {'farm ms':>8} {'(first)':>8} {'Blender ms':>11} "
              f"{'speed-up':>9}")
        for label, r in results.items():
            print(f"{label:<6} {r['size_mb']:>7.1f} {r['farm_ms']:>8.2f} "
                  f"{r['farm_first_ms']:>8.2f} {r['blender_ms']:>11.2f} {r['speedup']:>8.1f}x")
        print(f"per file <= {TARGET_MS:g} ms: {'ok' if ok_ms else 'MISSED'}; "
              f"large/small {growth:.2f}x (<= {TARGET_GROWTH:g}x): "
              f"{'ok' if ok_growth else 'MISSED'}; "
              f"vs Blender on the large file {large['speedup']:.1f}x (>= {TARGET_SPEEDUP:g}x): "
              f"{'ok' if ok_speed else 'MISSED'}")
        fields = {k: v for k, v in summary.items() if k not in ("bench", "files")}
        fields["ok"] = "yes" if ok else "no"
        print("BENCH bench_blendinfo " + " ".join(f"{k}={v}" for k, v in fields.items()))
    return 1 if args.check and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
