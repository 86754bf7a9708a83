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


def _mb(n: int) -> str:
    return f"{n / 1e6:,.1f} MB"


def run(args: argparse.Namespace, ctx: Context) -> int:
    result = api.archive_release(ctx.settings, args.release, force=args.force,
                                 prune=args.prune, progress=ctx.progress("Archiving"),
                                 dry_run=ctx.dry_run)
    if ctx.json:
        ctx.emit_json({"ok": True, **result.as_dict()})
        return 0
    for flag in result.flagged:
        ctx.say(f"warning: {flag}")
    if result.dry_run:
        ctx.say(f"Dry run: {result.members:,} members ({result.files:,} files, "
                f"{_mb(result.bytes_in)}) would be archived to {result.path}"
                + (" and then pruned" if args.prune else "") + "; nothing was written.")
        return 0
    ctx.say(f"Archived {args.release}: {result.members:,} members, {_mb(result.bytes_in)} -> "
            f"{_mb(result.bytes_out)} in {result.seconds:.1f} s; read back and checked"
            + (f" ({result.manifest_files:,} files of the harvest manifest)"
               if result.manifest_files else "") + f". {result.path}")
    if result.pruned:
        ctx.say("Pruned: " + ", ".join(str(p) for p in result.pruned))
    return 0
