"""``farm plan release [NAME] [SOURCES...] [--from PLAN.toml]``. No `bpy` module use."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from .. import api
from ..errors import BadInput
from ..text import table
from .context import Context

EPILOG = """\
sources: .blend files, folders (every .blend below), glob patterns ('shots/*/main.blend'), and
patterns with named parts ('assets/{object}/{material}.blend'): each part becomes job metadata
and, by default, the job name ('chair-oak'); --name '{material}_{object}' changes that.

examples:
  farm plan release spring assets/
  farm plan release spring 'assets/{object}/{material}.blend' --frames 1-36 --chunk-size 6
  farm plan release --from spring.toml
  farm plan release spring extra/lamp.blend --add
"""


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "plan",
        parents=[common],
        help="plan a release: check, pack and submit its jobs",
        description="Plan a release: every source is checked and read, every job dry-compiled "
        "by the Manager, every .blend packed with its dependencies into the release's store, "
        "and then the jobs are submitted. If anything is wrong, nothing is submitted.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("noun", choices=["release"], metavar="release")
    add_arguments(p)
    p.set_defaults(func=run)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """What ``farm plan release`` takes after ``release``."""
    p.add_argument("items", nargs="*", metavar="[NAME] SOURCE",
                   help="the release's name (optional), then sources")
    p.add_argument("--from", dest="plan_file", type=Path, metavar="PLAN.toml",
                   help="a plan file with defaults and per-job overrides")
    p.add_argument("--add", action="store_true", help="add jobs to an existing release")
    p.add_argument("--name", dest="name_template", metavar="TEMPLATE",
                   help="job names from pattern parts, e.g. '{object}-{material}'")
    p.add_argument("--naming", metavar="TEMPLATE", help="the harvest's naming template")
    p.add_argument("--frames", help="frames for every job, e.g. 1-100 or 1-10,20")
    p.add_argument("--chunk-size", type=int, help="frames per render task")
    p.add_argument("--priority", type=int, help="0 to 100")
    p.add_argument("--worker-tag", help="only workers with this tag render the jobs")
    p.add_argument("--scene", help="the scene to render (default: each file's active scene)")
    p.add_argument("--output-format", help="e.g. PNG, OPEN_EXR, JPEG")


def plan_request(args: argparse.Namespace, cwd: Path | None = None,
                 release: str | None = None) -> api.PlanRequest:
    """The core's request for the parsed arguments: the first item is the release's name
    unless it looks like a source (or ``release`` is given); the options are checked here."""
    cwd = cwd or Path.cwd()
    items = list(args.items)
    if release is None and items and not api.looks_like_source(items[0], cwd):
        release = items.pop(0)
    try:
        overrides = api.JobSettings(frames=args.frames, chunk_size=args.chunk_size,
                                    priority=args.priority, worker_tag=args.worker_tag,
                                    scene=args.scene, output_format=args.output_format)
    except ValidationError as exc:
        problems = "; ".join(
            f"--{'-'.join(str(p) for p in err['loc']).replace('_', '-')} {err['input']!r}: "
            f"{err['msg'][0].lower()}{err['msg'][1:]}"
            for err in exc.errors()
        )
        raise BadInput(f"Bad option {problems}.") from exc
    return api.PlanRequest(release=release, sources=items, plan_file=args.plan_file,
                           add=args.add, cwd=cwd, name_template=args.name_template,
                           naming=args.naming, overrides=overrides)


def run(args: argparse.Namespace, ctx: Context) -> int:
    request = plan_request(args)
    result = api.plan_release(ctx.settings, request, ctx.progress("Planning"),
                              dry_run=ctx.dry_run)
    if result.dry_run:
        rows = [(j.name, j.frames, j.chunk_size, j.priority, j.scene, j.output_format, j.source)
                for j in result.planned]
        if ctx.json:
            ctx.emit_json({"release": result.release, "dry_run": True,
                           "jobs": [j.model_dump(mode="json") for j in result.planned]})
        else:
            ctx.say(table(rows, ("job", "frames", "chunk", "priority", "scene", "format",
                                 "source")))
            ctx.say(result.summary)
        return 0
    for warning in result.warnings:
        ctx.error(f"warning: {warning}")
    if ctx.json:
        ctx.emit_json({"release": result.release, "resumed": result.resumed,
                       "jobs": [o.__dict__ for o in result.jobs], "warnings": result.warnings})
    else:
        ctx.say(table([(o.name, o.revision, o.outcome, o.job_id or "", o.message)
                       for o in result.jobs], ("job", "rev", "outcome", "flamenco id", "")))
        ctx.say(result.summary)
    return 0 if result.ok else 1
