"""Harvest a release: check its frames and deliver them, renamed, into dist/<release>/.

    blender -b --python scripts/harvest_release.py -- RELEASE [--template T] [--partial]
        [--data FILE.json] [--renamer FILE.py] [--dry-run] ...

What follows ``--`` is what ``farm harvest release`` takes (its own parser reads it), plus
the settings of :mod:`_headless`. Prints what was delivered; exits 1 when the release is not
complete (nothing is moved unless --partial) or harvesting failed, 2 on bad input.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _headless


def build(farm: _headless.Farm) -> argparse.ArgumentParser:
    return _headless.parser(farm, "harvest", "harvest_release",
                            "Deliver a finished release's frames.")


def main(farm: _headless.Farm, args: argparse.Namespace) -> int:
    result = farm.api.harvest_release(
        farm.settings(args), args.release, template=args.template, data_file=args.data,
        renamer=args.renamer, partial=args.partial, dry_run=args.dry_run,
        progress=_headless.make_progress(farm, args.quiet or args.json),
    )
    done = 1 if result.held else 0  # frames held back: the delivery is not complete
    if args.json:
        print(_headless.as_json(result))
        return done
    verb = "Would deliver" if result.dry_run else "Delivered"
    print(f"{verb} {result.delivered} frame(s) of {result.release} to {result.dist}"
          + (f" ({result.already} already there)" if result.already else ""))
    for job in result.skipped:
        print(f"  skipped {job.describe()}")
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if result.held:
        print(f"farm: error: {result.held_message()}", file=sys.stderr)
    return done


if __name__ == "__main__":
    _headless.exit_with(_headless.run(main, build))
