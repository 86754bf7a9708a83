"""Plan a release: pack .blend files onto the volume and submit one job each.

    blender -b --python scripts/plan_release.py -- [NAME] SOURCE... [farm plan's options]
    blender -b --python scripts/plan_release.py -- SOURCE... --release NAME [--add]
    blender -b --python scripts/plan_release.py -- --from plan.toml
    blender -b shot.blend --python scripts/plan_release.py -- --release NAME   (the opened file)

What follows ``--`` is what ``farm plan release`` takes (its own parser reads it: --frames,
--chunk-size, --name, --manager, --dry-run, ...), plus --release NAME and the settings of
:mod:`_headless`. A SOURCE is a .blend, a folder (every .blend below it) or a pattern
(shots/*/main.blend, assets/{object}/{material}.blend), relative to the current folder;
without one, the opened file. Without a release name a dated one is proposed. Prints the
jobs; exits 1 when a job could not be submitted (run it again to finish), 2 on bad input.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _headless


def build(farm: _headless.Farm) -> argparse.ArgumentParser:
    p = _headless.parser(farm, "plan", "plan_release",
                         "Plan a release from files, folders or patterns.")
    p.add_argument("--release", help="the release's name (then every item is a source)")
    return p


def main(farm: _headless.Farm, args: argparse.Namespace) -> int:
    import bpy

    request = farm.module("core.cli.plan").plan_request(args, release=args.release)
    if not request.sources and request.plan_file is None:
        if not bpy.data.filepath:
            raise farm.errors.BadInput("Nothing to plan: give .blend files, folders or "
                                       "patterns, or --from PLAN.toml, or open a .blend.")
        request.sources = [bpy.data.filepath]
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
        print(result.summary)
        for warning in result.warnings:
            print(f"warning: {warning}", file=sys.stderr)
    if not result.ok:
        print("farm: error: some jobs were not submitted; run the same command again to "
              "finish.", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    _headless.exit_with(_headless.run(main, build))
