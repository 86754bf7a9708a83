"""``farm seed job [FILE] JOB``. No `bpy` module use."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from .. import api
from ..errors import BadInput
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
    add_arguments(p, items="+")
    p.set_defaults(func=run)


def add_arguments(p: argparse.ArgumentParser, items: str = "+") -> None:
    """What ``farm seed job`` takes after ``job``; ``items="*"`` lets a face that has a file
    of its own (a headless script's opened .blend) leave FILE and JOB out."""
    p.add_argument("items", nargs=items, metavar="[FILE] JOB")
    p.add_argument("--frames", help="frames like 1-250 or 1-10,20 (default: the scene's range)")
    p.add_argument("--chunk-size", type=int, help="frames per task (default: the settings')")
    p.add_argument("--priority", type=int, help="0-100, higher first (default: the settings')")
    p.add_argument("--worker-tag", help="only workers with this tag render it")
    p.add_argument("--scene", help="the scene to render (default: the file's active one)")


def file_and_job(items: list[str]) -> tuple[Path | None, str]:
    """``[FILE] JOB`` as given; BadInput for more, or for a JOB that looks like a file."""
    if not items or len(items) > 2:
        raise BadInput("Give at most a FILE and a JOB name: `farm seed job [FILE] JOB`.")
    file = Path(items[0]) if len(items) == 2 else None
    job = items[-1]
    if job.lower().endswith(".blend"):
        raise BadInput(f"{job!r} looks like a file, not a job name: `farm seed job [FILE] JOB`, "
                       f"e.g. `farm seed job {job} {Path(job).stem}`.")
    return file, job


def run(args: argparse.Namespace, ctx: Context) -> int:
    file, job = file_and_job(args.items)
    result = api.seed_job(ctx.settings, file, job, frames=args.frames,
                          chunk_size=args.chunk_size, priority=args.priority,
                          worker_tag=args.worker_tag, scene=args.scene,
                          progress=ctx.progress("Packing"), dry_run=ctx.dry_run)
    for warning in result.warnings:
        ctx.error(f"warning: {warning}")
    if ctx.json:
        ctx.emit_json({"job": result.job, "job_id": result.job_id, "blend": str(result.blend),
                       "output_dir": str(result.output_dir), "frames": result.frames,
                       **({"dry_run": True} if result.dry_run else {})})
        return 0
    ctx.say(result.summary)
    return 0
