"""``farm status [RELEASE] [--watch]``. No `bpy` module use."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from .. import api
from ..text import table
from .context import Context


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "status",
        parents=[common],
        help="the Manager and the releases, or one release's jobs",
        description="Without RELEASE: the Manager (version, farm status, workers) and the "
        "volume's releases with their progress. With RELEASE: one row per job (status, frames "
        "done of total, revision, and whether its source changed since it was packed).",
    )
    add_arguments(p)
    p.set_defaults(func=run)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """What ``farm status`` takes."""
    p.add_argument("release", nargs="?")
    p.add_argument("--watch", action="store_true",
                   help="redraw until every job has finished; exit 0 only if all completed")
    p.add_argument("--interval", type=float, default=2.0, help="seconds between redraws")


def _release_text(st: api.ReleaseStatus) -> str:
    rows = [(r.name, r.status, f"{r.frames_done}/{r.frames_total}", r.revision,
             "stale" if r.stale else "", r.job_id or "") for r in st.rows]
    return st.summary + "\n" + table(rows, ("job", "status", "frames", "rev", "stale",
                                            "flamenco id"))


def run(args: argparse.Namespace, ctx: Context) -> int:
    if args.release is None:
        ov = api.overview(ctx.settings)
        if ctx.json:
            ctx.emit_json(ov.as_dict())
            return 0
        ctx.say(f"Manager {ov.manager_url}: Flamenco {ov.version}, farm {ov.farm_status}, "
                f"{ov.workers_online}/{len(ov.workers)} worker(s) online")
        if ov.verdict:
            ctx.say(f"  note: {ov.verdict}")
        ctx.say(f"Volume {ov.volume}")
        if ov.releases:
            ctx.say(table([(r.name, f"{r.completed}/{r.jobs}", f"{r.frames_done}/{r.frames_total}",
                            f"{100 * r.progress:.0f}%", r.error) for r in ov.releases],
                          ("release", "jobs done", "frames", "progress", "")))
        else:
            ctx.say("No releases yet: `farm plan release NAME SOURCES...`.")
        return 0
    while True:
        st = api.release_status(ctx.settings, args.release,
                                progress=ctx.progress("Reading the jobs' frames"))
        if ctx.json and args.watch:  # one line per redraw (JSON Lines), for scripts
            print(json.dumps(st.as_dict(), sort_keys=True), file=ctx.out, flush=True)
        elif ctx.json:
            ctx.emit_json(st.as_dict())
        else:
            if args.watch and sys.stdout.isatty():
                print("\x1b[2J\x1b[H", end="", file=ctx.out)
            ctx.say(_release_text(st))
        if not args.watch or st.finished:
            break
        time.sleep(args.interval)
    if args.watch:
        return 0 if st.all_completed else 1
    return 0
