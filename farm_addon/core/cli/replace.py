"""``farm replace job JOB`` and ``farm replace RELEASE.jobs --stale``. No `bpy` module use."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from .. import api
from ..errors import BadInput
from ..text import table
from .context import Context


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "replace",
        parents=[common],
        help="re-render a job whose scene changed (a new revision)",
        description="Re-pack a job's source (or --from FILE), stop and delete its old job, move "
        "the old frames aside (never deleted), and submit the new revision. "
        "`farm replace RELEASE.jobs --stale` replaces every job whose source or dependencies "
        "changed since it was packed.",
        epilog="examples:\n  farm replace job chair-oak\n"
        "  farm replace job chair-oak --release spring --from fixes/chair_v2.blend\n"
        "  farm replace spring.jobs --stale\n",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(p)
    p.set_defaults(func=run)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """What ``farm replace`` takes."""
    p.add_argument("target", metavar="job|RELEASE.jobs")
    p.add_argument("job", nargs="?", metavar="JOB")
    p.add_argument("--release", help="the release, when the job name is in several")
    p.add_argument("--from", dest="from_file", type=Path, metavar="FILE",
                   help="render this .blend instead of the job's source")
    p.add_argument("--stale", action="store_true",
                   help="with RELEASE.jobs: replace the jobs whose sources changed")


def _show(ctx: Context, results: list[api.ReplaceResult]) -> int:
    if ctx.json:
        ctx.emit_json({"replaced": [r.__dict__ for r in results]})
    else:
        ctx.say(table([(r.release, r.job, f"{r.old_revision}->{r.revision}", r.outcome,
                        r.job_id or "", r.moved_aside or r.message) for r in results],
                      ("release", "job", "rev", "outcome", "flamenco id", "old frames / detail")))
        for r in results:
            for w in r.warnings:
                ctx.error(f"warning: {w}")
            ctx.say(r.summary)
    return 0 if all(r.ok for r in results) else 1


def run(args: argparse.Namespace, ctx: Context) -> int:
    if args.target == "job":
        if not args.job or args.stale:
            raise BadInput("Say which job: `farm replace job JOB` (or `farm replace "
                           "RELEASE.jobs --stale` for every stale job).")
        return _show(ctx, [api.replace_job(ctx.settings, args.job, release=args.release,
                                           from_file=args.from_file,
                                           progress=ctx.progress("Replacing"),
                                           dry_run=ctx.dry_run)])
    if not args.target.endswith(".jobs") or not args.stale or args.job:
        raise BadInput("Say `farm replace job JOB` or `farm replace RELEASE.jobs --stale`.")
    release = args.target[: -len(".jobs")]
    results = api.replace_stale(ctx.settings, release, ctx.progress("Replacing"),
                                dry_run=ctx.dry_run)
    if not results:
        ctx.say(f"No job of {release!r} is stale: every source matches what was packed.")
        return 0
    if ctx.dry_run and not ctx.json:
        for r in results:
            ctx.say(f"{r.job}: {', '.join(r.changed)}")
        ctx.say(f"Dry run: {len(results)} stale job(s) would be replaced; nothing was changed.")
        return 0 if all(r.ok for r in results) else 1
    return _show(ctx, results)
