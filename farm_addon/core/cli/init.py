"""``farm init [PATH]``: make a folder a farm volume. No `bpy` module use."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from .. import api
from ..errors import BadInput
from .context import Context


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "init",
        parents=[common],
        help="make a folder (empty, or Flamenco's shared storage) a farm volume",
        description="Make PATH (or --volume) a farm volume: create the layout (jobs/ "
        "file-store/ quick/ releases/ dist/ archives/) and the marker that says farm owns it. "
        "Safe to run again on a volume.",
    )
    add_arguments(p)
    p.set_defaults(func=run)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """What ``farm init`` takes."""
    p.add_argument("path", nargs="?", metavar="PATH")
    p.add_argument("--name", help="the volume's name (default: the folder's name)")


def run(args: argparse.Namespace, ctx: Context) -> int:
    path = args.path or (str(ctx.settings.volume) if ctx.settings.volume else None)
    if not path:
        raise BadInput("Which folder? Give `farm init PATH` or --volume PATH.")
    if ctx.dry_run:
        ctx.say(f"Dry run: would make {Path(path).absolute()} a farm volume.")
        return 0
    volume = api.init_volume(path, args.name)
    if ctx.json:
        ctx.emit_json({"root": str(volume.root), "name": volume.name, "id": volume.id})
    else:
        ctx.say(f"Farm volume {volume.name!r} ready at {volume.root}.")
    return 0
