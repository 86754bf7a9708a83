"""Archive a release into archives/<release>.tar.gz, checked before it is kept.

    blender -b --python scripts/archive_release.py -- RELEASE [--force] [--prune] [--dry-run]

What follows ``--`` is what ``farm archive release`` takes (its own parser reads it), plus
the settings of :mod:`_headless`. --prune removes the release's files from the volume once
the archive is written and checked. Prints the archive; exits 1 when archiving failed
(nothing is pruned then), 2 on bad input.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _headless


def build(farm: _headless.Farm) -> argparse.ArgumentParser:
    return _headless.parser(farm, "archive", "archive_release",
                            "Archive a release into one checked .tar.gz.")


def main(farm: _headless.Farm, args: argparse.Namespace) -> int:
    result = farm.api.archive_release(
        farm.settings(args), args.release, force=args.force, prune=args.prune,
        dry_run=args.dry_run, progress=_headless.make_progress(farm, args.quiet or args.json),
    )
    if args.json:
        print(_headless.as_json(result))
        return 0
    verb = "Would archive" if result.dry_run else "Archived"
    size = result.bytes_out / 1e6
    print(f"{verb} {result.release} to {result.path}: {result.files} file(s), {size:.1f} MB"
          + (", checked" if result.checked else ""))
    print(result.summary)
    for item in result.flagged:
        print(f"warning: {item}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    _headless.exit_with(_headless.run(main, build))
