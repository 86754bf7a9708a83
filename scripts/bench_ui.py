#!/usr/bin/env python3
"""How long the Farm sidebar's draw() takes for a release of 1,000 jobs.

    python scripts/bench_ui.py [--jobs 1000] [--repeat 200] [--json]      (the `bpy` module)

Draws every Farm panel (Manager, Seed, Releases with the selected release's jobs, Preview)
with the state a refresh leaves behind, ``--repeat`` times, and reports the median time of
one full sidebar draw. The baseline, measured in the same run, is the same sidebar with a
release of 10 jobs: the ratio shows whether drawing grows with the number of jobs (it should
not: the job list is a UIList, which draws only its visible rows). Target: under 2 ms.

Blender's own UILayout is used: in background mode ``WindowManager.popup_menu`` calls its
draw function at once with a real layout (with the 3D Viewport's sidebar region as context,
so the UILists draw their rows), and the measurement runs inside it. Closing that
popup without a GPU crashes Blender, so the process reports and ends with ``os._exit`` from
inside the draw function. If no real layout is available, a recording stand-in is used
(and the report says so). Exit code: 0 under the target, 1 over it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TARGET_MS = 2.0
PANELS = ("FARM_PT_manager", "FARM_PT_seed", "FARM_PT_releases", "FARM_PT_release_jobs",
          "FARM_PT_preview")
STATUSES = ("completed", "active", "queued", "failed", "paused")


def fill_state(bpy: Any, jobs: int) -> None:
    """What a refresh leaves behind: a connected Manager, releases, and one release's jobs."""
    state = bpy.context.window_manager.farm
    state.connection, state.manager_version, state.farm_status = "CONNECTED", "3.8.5", "active"
    state.workers_online, state.workers_total = 12, 14
    state.busy, state.progress, state.status_line = True, 0.4, "Harvesting spring: Checking"
    state.releases.clear()
    for n in range(8):
        item = state.releases.add()
        item.name = f"release-{n}"
        item.jobs, item.completed = jobs, jobs // 2
        item.frames_total, item.frames_done = jobs * 24, jobs * 12
        item.progress = 0.5
    state.jobs.clear()
    for n in range(jobs):
        item = state.jobs.add()
        item.name = f"job-{n:05d}"
        item.status = STATUSES[n % len(STATUSES)]
        item.frames_total, item.frames_done = 24, n % 25
        item.progress = (n % 25) / 24
        item.revision = 1 + n % 3
        item.stale = n % 11 == 0
        item.stale_files = "textures/wood.png" if item.stale else ""
        item.job_id = f"{n:08x}-0000-4000-8000-000000000000"
    state.jobs_release = "release-0"
    scene = bpy.context.scene.farm
    scene.release_index, scene.job_index = 0, 3


def draw_sidebar(bpy: Any, layout: Any, context: Any) -> None:
    for name in PANELS:
        panel = getattr(bpy.types, name)
        me = SimpleNamespace(layout=layout.column())
        for method in ("draw_header", "draw_header_preset", "draw"):
            if hasattr(panel, method):
                getattr(panel, method)(me, context)


def measure(bpy: Any, layout: Any, context: Any, jobs: int, repeat: int) -> list[float]:
    """Milliseconds of each sidebar draw with a release of ``jobs`` jobs."""
    fill_state(bpy, jobs)
    draw_sidebar(bpy, layout, context)  # warm up
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        draw_sidebar(bpy, layout, context)
        times.append((time.perf_counter() - started) * 1000.0)
    return times


class Captured:
    """Capture Blender's C-level output while drawing: it warns about every icon in
    background mode, and prints (does not raise) the errors of UIList.draw_item()."""

    def __enter__(self) -> Captured:
        sys.stdout.flush()
        sys.stderr.flush()
        self.file = tempfile.TemporaryFile()
        self.saved = [os.dup(1), os.dup(2)]
        os.dup2(self.file.fileno(), 1)
        os.dup2(self.file.fileno(), 2)
        return self

    def __exit__(self, *exc: object) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        for fd, saved in zip((1, 2), self.saved, strict=True):
            os.dup2(saved, fd)
            os.close(saved)
        self.file.seek(0)
        text = self.file.read().decode("utf-8", "replace")
        self.file.close()
        self.python_errors = [line for line in text.splitlines()
                              if "Error" in line and "bke.icons" not in line]


class Recorder:
    """A stand-in UILayout (only when Blender gives no real one)."""

    def __getattr__(self, name: str) -> Any:
        return lambda *args, **kwargs: self

    def __setattr__(self, name: str, value: Any) -> None:
        pass


def report(args: argparse.Namespace, draws: list[float], bases: list[float],
           layout: str, errors: list[str]) -> int:
    draw_ms, base_ms = statistics.median(draws), statistics.median(bases)
    ratio = draw_ms / base_ms if base_ms else float("inf")
    ok = draw_ms < TARGET_MS and not errors
    result = {
        "benchmark": "sidebar draw", "jobs": args.jobs, "repeat": args.repeat,
        "draw_ms": round(draw_ms, 4), "draw_min_ms": round(min(draws), 4),
        "baseline_jobs": 10, "baseline_ms": round(base_ms, 4), "ratio": round(ratio, 3),
        "target_ms": TARGET_MS, "ok": ok, "layout": layout, "draw_errors": errors[:5],
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(f"Farm sidebar draw, release of {args.jobs} jobs: {draw_ms:.3f} ms "
              f"(target < {TARGET_MS} ms) {'OK' if ok else 'TOO SLOW'}")
        print(f"baseline, release of 10 jobs: {base_ms:.3f} ms; ratio {ratio:.2f}")
        print(f"layout: {layout}; median of {args.repeat} draws (fastest {min(draws):.3f} ms)")
        for line in errors[:5]:
            print(f"draw error: {line}")
    return 0 if ok else 1


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv[argv.index("--") + 1:] if "--" in argv else argv)

    import bpy

    if not bpy.app.background:
        print("bench_ui: run it in background mode (the bpy module, or blender -b).",
              file=sys.stderr)
        return 2
    sys.path.insert(0, str(ROOT))
    import farm_addon

    farm_addon.register()

    def measure_and_exit(menu: Any, context: Any) -> None:
        try:
            with Captured() as output:
                base = measure(bpy, menu.layout, context, 10, args.repeat)
                draw = measure(bpy, menu.layout, context, args.jobs, args.repeat)
            code = report(args, draw, base, "blender", output.python_errors)
        except BaseException as exc:
            print(f"bench_ui: {type(exc).__name__}: {exc}", file=sys.stderr)
            code = 1
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)  # closing the popup without a GPU would crash Blender

    # The sidebar's region as context: template_list keeps its list state in the region.
    window = bpy.context.window_manager.windows[0]
    area = next(a for a in window.screen.areas if a.type == "VIEW_3D")
    region = next(r for r in area.regions if r.type == "UI")
    with bpy.context.temp_override(window=window, area=area, region=region):
        bpy.context.window_manager.popup_menu(measure_and_exit, title="bench")
    # Only reached when Blender did not draw the popup at once: use the stand-in.
    layout = Recorder()
    base = measure(bpy, layout, bpy.context, 10, args.repeat)
    draw = measure(bpy, layout, bpy.context, args.jobs, args.repeat)
    code = report(args, draw, base, "recording stand-in (no real UILayout)", [])
    farm_addon.unregister()
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
