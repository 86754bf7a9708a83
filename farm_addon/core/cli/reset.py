"""``farm slash-and-burn``: reset the farm. No `bpy` module use."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from .. import api
from ..errors import BadInput
from .context import Context


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "slash-and-burn",
        parents=[common],
        help="cancel and delete every job on the Manager and empty quick/",
        description="Reset the farm: cancel and delete every job on the Manager and empty "
        "quick/. Releases, dist/ and archives/ stay unless included with --include. Lists "
        "what will be lost and asks you to type the volume's name (or pass --yes).",
    )
    add_arguments(p)
    p.set_defaults(func=run)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """What ``farm slash-and-burn`` takes."""
    p.add_argument("--include", action="append", default=[], choices=api.INCLUDABLE,
                   help="also remove this folder's contents (repeatable)")


def run(args: argparse.Namespace, ctx: Context) -> int:
    include = tuple(args.include)
    plan = api.slash_and_burn_plan(ctx.settings, include)
    if not ctx.json:
        ctx.say(plan.describe())
    if ctx.dry_run:
        if ctx.json:
            ctx.emit_json({"dry_run": True, "jobs": [j.id for j in plan.jobs],
                           "paths": [str(p) for p in plan.paths]})
        ctx.say("Dry run: nothing was changed.")
        return 0
    if not ctx.yes:
        if not sys.stdin.isatty():
            raise BadInput("slash-and-burn needs confirmation: pass --yes when not running "
                           "in a terminal.")
        typed = input(f"Type the volume's name ({plan.volume_name}) to go ahead: ").strip()
        if typed != plan.volume_name:
            ctx.say("Not the volume's name; nothing was changed.")
            return 1
    # Exactly what was listed above and confirmed.
    report = api.slash_and_burn(ctx.settings, include, ctx.progress("Resetting"), plan=plan)
    if ctx.json:
        ctx.emit_json({"deleted": report.deleted, "failed": report.failed,
                       "removed": report.removed})
    else:
        ctx.say(report.summary)
    for name, why in report.failed:
        ctx.error(f"{name}: {why}")
    return 0 if report.ok else 1
