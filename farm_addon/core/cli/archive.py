"""``farm archive release RELEASE [--force] [--prune]``. No `bpy` module use."""

from __future__ import annotations

import argparse
from typing import Any

from .. import api
from .context import Context


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "archive",
        parents=[common],
        help="write a checked archives/RELEASE.tar.gz of a release",
        description="Write archives/RELEASE.tar.gz with the release's record, store/, out/ "
        "and its dist/ folder. The archive is read back and checked against the files and "
        "the harvest manifest before it gets its name. --prune then removes the archived "
        "folders (the record stays).",
    )
    p.add_argument("what", choices=["release"], help="what to archive")
    add_arguments(p)
    p.set_defaults(func=run)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """What ``farm archive release`` takes after ``release``."""
    p.add_argument("release", metavar="RELEASE")
    p.add_argument("--force", action="store_true", help="replace an existing archive")
    p.add_argument("--prune", action="store_true",
                   help="after the check passed, remove the archived folders")


def run(args: argparse.Namespace, ctx: Context) -> int:
    result = api.archive_release(ctx.settings, args.release, force=args.force,
                                 prune=args.prune, progress=ctx.progress("Archiving"),
                                 dry_run=ctx.dry_run)
    if ctx.json:
        ctx.emit_json({"ok": True, **result.as_dict()})
        return 0
    for flag in result.flagged:
        ctx.say(f"warning: {flag}")
    ctx.say(result.summary)
    return 0
