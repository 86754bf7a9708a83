"""Seed the opened .blend as one ad-hoc job on the farm (stored and rendered under quick/).

    blender -b shot.blend --python scripts/seed_job.py -- [[FILE] JOB] [--frames 1-250]
        [--chunk-size N] [--priority N] [--worker-tag TAG] [--scene NAME] [--save] ...
    python scripts/seed_job.py -- --file shot.blend ...      (Python with the `bpy` module)

What follows ``--`` is what ``farm seed job`` takes (its own parser reads it), with FILE and
JOB optional here, plus --file, --job, --save and the settings of :mod:`_headless`. The job is
named after the file unless a JOB (or --job) is given; frames default to the scene's range.
The saved file on disk is what the farm renders: --save saves the opened file first (when an
earlier script in this session changed it). Prints what it did; exits 1 when seeding failed,
2 on bad input.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _headless


def build(farm: _headless.Farm) -> argparse.ArgumentParser:
    p = _headless.parser(farm, "seed", "seed_job",
                         "Send the opened .blend to the farm as one job.", items="*")
    p.add_argument("--file", help="the .blend to seed (default: the opened file)")
    p.add_argument("--job", help="the job's name (default: the file's name)")
    p.add_argument("--save", action="store_true", help="save the opened file first")
    return p


def main(farm: _headless.Farm, args: argparse.Namespace) -> int:
    import bpy

    bad_input = farm.errors.BadInput
    given, given_job = (farm.module("core.cli.seed").file_and_job(args.items) if args.items
                        else (None, None))
    opened = Path(bpy.data.filepath).resolve() if bpy.data.filepath else None
    given = given or (Path(args.file) if args.file else None)
    file = given.resolve() if given is not None else opened
    if file is None:
        raise bad_input("No .blend to seed: open one (blender -b FILE.blend --python ...) "
                        "or pass --file FILE.blend.")
    if args.save:
        if opened is None:
            raise bad_input("--save needs an opened file that was saved before.")
        bpy.ops.wm.save_mainfile()
        print(f"Saved {opened.name}")
    scene = args.scene or (bpy.context.scene.name if file == opened else None)
    job = given_job or args.job or farm.api.safe_job_name(file.stem)
    result = farm.api.seed_job(
        farm.settings(args), file, job, frames=args.frames, chunk_size=args.chunk_size,
        priority=args.priority, worker_tag=args.worker_tag, scene=scene,
        progress=_headless.make_progress(farm, args.quiet or args.json), dry_run=args.dry_run,
    )
    if args.json:
        print(_headless.as_json(result))
        return 0
    if result.dry_run:
        print(result.summary)
        return 0
    print(f"Seeded {result.job} from {file.name} (frames {result.frames}) as job {result.job_id}")
    print(f"Frames go to {result.output_dir}")
    if result.moved_aside:
        print(f"Earlier frames moved to {result.moved_aside}")
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    _headless.exit_with(_headless.run(main, build))
