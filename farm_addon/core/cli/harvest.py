"""``farm harvest release RELEASE``. No `bpy` module use."""

from __future__ import annotations

import argparse
from typing import Any

from .. import api
from .context import Context

EPILOG = """\
naming template fields:
  {release} {job} {frame} {ext} {revision}   {frame:04d} pads the frame to 4 digits
  {meta.KEY}                                  the job's metadata, e.g. {meta.object}
  {data.KEY} or {KEY}                         per-frame data from --data FILE.json
  {value}                                     a per-frame value when FILE.json maps frame -> value
examples:
  farm harvest release spring --template '{meta.object}-{meta.material}_r{angle:03d}{ext}' \\
      --data angles.json          (angles.json: {"7": {"angle": 90}, ...})
  farm harvest release spring --renamer rename.py
      (rename.py: def rename(release, job, frame, ext, meta, data) -> str)
  farm --dry-run harvest release spring   shows the mapping and moves nothing
"""


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "harvest",
        parents=[common],
        help="check, rename and move a release's frames into dist/",
        description="Confirm with the Manager that every job of the release is completed, "
        "check every expected frame file, rename the frames (template or renamer file) and "
        "move them into dist/RELEASE/ with a manifest. Nothing moves unless everything is "
        "ready (or --partial); a killed harvest is finished by running it again.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("what", choices=["release"], help="what to harvest")
    add_arguments(p)
    p.set_defaults(func=run)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """What ``farm harvest release`` takes after ``release``."""
    p.add_argument("release", metavar="RELEASE")
    p.add_argument("--template", metavar="T", help="naming template (default: the plan's, "
                   "else {job}_{frame:06d}{ext})")
    p.add_argument("--data", metavar="FILE.json", help="per-frame data for the template")
    p.add_argument("--renamer", metavar="FILE.py",
                   help="a Python file with rename(release, job, frame, ext, meta, data)")
    p.add_argument("--partial", action="store_true",
                   help="harvest the complete jobs and report the others")


def _report(ctx: Context, result: api.HarvestResult) -> None:
    ctx.say(result.report(held=False))
    if result.held:
        ctx.error(result.held_message())


def run(args: argparse.Namespace, ctx: Context) -> int:
    try:
        result = api.harvest_release(
            ctx.settings, args.release, template=args.template,
            data_file=args.data, renamer=args.renamer, partial=args.partial,
            dry_run=ctx.dry_run, progress=ctx.progress("Harvesting"))
    except api.HarvestIncomplete as exc:
        if ctx.json:
            ctx.emit_json({"ok": False, "error": str(exc),
                           "jobs": [c.as_dict() for c in exc.jobs]})
            return exc.exit_code
        raise
    if ctx.json:
        ctx.emit_json({"ok": not result.held, **result.as_dict()})
    else:
        _report(ctx, result)
    return 1 if result.held else 0  # held-back frames: the delivery is not complete
