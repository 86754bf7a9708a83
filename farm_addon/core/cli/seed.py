"""``farm seed job [FILE] JOB``. No `bpy` module use."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..release.seed import seed_job
from ..session import FarmSession
from .context import Context


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "seed",
        parents=[common],
        help="render one .blend as an ad-hoc job under quick/",
        description="Send one .blend file to the farm as an ad-hoc job outside any release. "
        "Without FILE, the only .blend in the current folder is used.",
    )
    p.add_argument("noun", choices=["job"], metavar="job")
    p.add_argument("items", nargs="+", metavar="[FILE] JOB")
    p.add_argument("--frames")
    p.add_argument("--chunk-size", type=int)
    p.add_argument("--priority", type=int)
    p.add_argument("--worker-tag")
    p.add_argument("--scene")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, ctx: Context) -> int:
    if len(args.items) > 2:
        ctx.error("Give at most a FILE and a JOB name: `farm seed job [FILE] JOB`.")
        return 2
    file = Path(args.items[0]) if len(args.items) == 2 else None
    job = args.items[-1]
    if job.lower().endswith(".blend"):
        ctx.error(f"{job!r} looks like a file, not a job name: `farm seed job [FILE] JOB`, "
                  f"e.g. `farm seed job {job} {Path(job).stem}`.")
        return 2
    session = FarmSession(ctx.settings)
    ctx.on_close(session)
    if ctx.dry_run:
        ctx.say(f"Dry run: would seed {file or 'the .blend in this folder'} as job {job!r}.")
        return 0
    result = seed_job(session, job, file, frames=args.frames, chunk_size=args.chunk_size,
                      priority=args.priority, worker_tag=args.worker_tag, scene=args.scene,
                      progress=ctx.progress("Packing"))
    for warning in result.warnings:
        ctx.error(f"warning: {warning}")
    if ctx.json:
        ctx.emit_json({"job": result.job, "job_id": result.job_id, "blend": str(result.blend),
                       "output_dir": str(result.output_dir), "frames": result.frames})
        return 0
    if result.moved_aside:
        ctx.say(f"Earlier frames of {job!r} moved to {result.moved_aside}.")
    ctx.say(f"Seeded {job!r} (frames {result.frames}) as Flamenco job {result.job_id}; "
            f"frames go to {result.output_dir}.")
    return 0
