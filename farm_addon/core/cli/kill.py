"""``farm kill jobs QUERY`` and ``farm kill RELEASE.jobs QUERY``. No `bpy` module use."""

from __future__ import annotations

import argparse
import shlex
from typing import Any

from .. import api
from ..text import table
from .common import confirm, split_jobs_target
from .context import Context


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "kill",
        parents=[common],
        help="request cancellation of the jobs a query matches",
        description="Request cancellation of the jobs a query matches, where Flamenco allows "
        "it. Asks before acting on more than one job unless --yes; --dry-run only lists.",
        epilog=api.QUERY_HELP + "\nexamples:\n  farm kill jobs 'chair-*'\n"
        "  farm kill spring.jobs status:queued meta.object:lamp\n",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(p)
    p.set_defaults(func=run)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """What ``farm kill`` takes."""
    p.add_argument("target", metavar="jobs|RELEASE.jobs")
    p.add_argument("query", nargs="+", metavar="TERM")
    p.add_argument("--reason", default="killed with farm", help="shown in Flamenco's job log")


def run(args: argparse.Namespace, ctx: Context) -> int:
    release = split_jobs_target(args.target, "kill")
    query = shlex.join(args.query) if len(args.query) > 1 else args.query[0]
    jobs = api.match_jobs(ctx.settings, query, release, progress=ctx.progress("Matching"))
    rows = [(j.metadata.get("farm.release", "") if j.metadata else "", j.name, j.status, j.id)
            for j in jobs]
    if not jobs:
        if ctx.json:
            ctx.emit_json({"matched": [], "outcomes": []})
        ctx.say(f"No job matches {query!r}.")
        return 0
    ctx.say(table(rows, ("release", "job", "status", "id")))
    if ctx.dry_run:
        if ctx.json:
            ctx.emit_json({"matched": [dict(zip(("release", "name", "status", "id"), r,
                                                strict=True)) for r in rows], "outcomes": []})
        ctx.say(f"Dry run: {len(jobs)} job(s) would be asked to cancel; nothing was sent.")
        return 0
    if len(jobs) > 1 and not confirm(ctx, f"Request cancellation of {len(jobs)} jobs?"):
        ctx.say("Nothing was cancelled.")
        return 1
    # Exactly the jobs listed above (as the panel does after its confirmation).
    outcomes = api.kill_jobs(ctx.settings, query, release, progress=ctx.progress("Cancelling"),
                             only_ids={j.id for j in jobs}, reason=args.reason)
    if ctx.json:
        ctx.emit_json({"outcomes": [o.__dict__ for o in outcomes]})
    else:
        ctx.say(table([(o.release, o.name, o.outcome, o.message) for o in outcomes],
                      ("release", "job", "outcome", "detail")))
    if not outcomes.ok:
        ctx.error(outcomes.summary)
        return 1
    ctx.say(outcomes.summary)
    return 0
