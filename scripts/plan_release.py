"""Plan a release: pack .blend files onto the volume and submit one job each.

    blender -b --python scripts/plan_release.py -- SOURCE... [--release NAME] [--add]
    blender -b --python scripts/plan_release.py -- --from plan.toml
    blender -b shot.blend --python scripts/plan_release.py -- --release NAME   (the opened file)

A SOURCE is a .blend, a folder (every .blend below it) or a pattern (shots/*/main.blend,
assets/{object}/{material}.blend), relative to the current folder. Without a release name a
dated one is proposed. Prints the jobs; exits 1 when a job could not be submitted (run it
again to finish), 2 on bad input.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _headless


def build() -> argparse.ArgumentParser:
    p = _headless.parser("plan_release", "Plan a release from files, folders or patterns.")
    p.add_argument("sources", nargs="*", metavar="SOURCE",
                   help=".blend files, folders or patterns (default: the opened file)")
    p.add_argument("--release", help="the release's name (default: the plan file's, or dated)")
    p.add_argument("--from", dest="plan_file", metavar="PLAN", help="a plan file (.toml)")
    p.add_argument("--add", action="store_true", help="add the jobs to an existing release")
    p.add_argument("--dry-run", action="store_true",
                   help="check everything with the Manager, pack and submit nothing")
    p.add_argument("-q", "--quiet", action="store_true", help="print only the result")
    return p


def main(farm: _headless.Farm, args: argparse.Namespace) -> int:
    import bpy

    sources = list(args.sources)
    if not sources and not args.plan_file:
        if not bpy.data.filepath:
            raise farm.errors.BadInput("Nothing to plan: give .blend files, folders or "
                                       "patterns, or --from PLAN.toml, or open a .blend.")
        sources = [bpy.data.filepath]
    plan = importlib.import_module(f"{farm.package}.core.release.plan")
    plan_file = Path(args.plan_file).resolve() if args.plan_file else None
    request = plan.PlanRequest(release=args.release, sources=sources, plan_file=plan_file,
                               add=args.add, cwd=Path.cwd())
    result = farm.api.plan_release(farm.settings(args), request,
                                   _headless.make_progress(farm, args.quiet or args.json),
                                   dry_run=args.dry_run)
    if args.json:
        print(_headless.as_json(result))
    else:
        verb = "Checked" if result.dry_run else "Planned"
        print(f"{verb} release {result.release}: {len(result.jobs or result.planned)} job(s)")
        for outcome in result.jobs:
            ident = outcome.job_id or "-"
            note = f" ({outcome.message})" if outcome.message else ""
            print(f"  {outcome.name} r{outcome.revision}: {outcome.outcome} {ident}{note}")
        for warning in result.warnings:
            print(f"warning: {warning}", file=sys.stderr)
    if not result.ok:
        print("farm: error: some jobs were not submitted; run the same command again to "
              "finish.", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    _headless.exit_with(_headless.run(main, build()))
