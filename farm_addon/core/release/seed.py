"""Seeding: one ad-hoc job outside any release, stored and rendered under ``quick/``.
No `bpy` module use.

``quick/store/<job>.blend`` (with ``<job>.deps/``) is rendered to ``quick/out/<job>/``. Seeding
the same name again, once its previous job has finished, packs the file anew and moves the
earlier frames aside to ``quick/out/<job>@<time>/`` (nothing is deleted). A seed whose job is
still on the farm unfinished is refused, so a job is never submitted twice.

A dry run makes every check a real seed makes (the name, the file, its scene and frames, the
worker tag, the Manager's job type and its jobs of that name) and then stops: nothing is
packed, moved or submitted.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from ..blend.info import read_blend_info
from ..blend.packing import pack_blend, pack_warnings
from ..errors import BadInput, reports_disk_errors
from ..flamenco import SubmittedJob, current_platform
from ..flamenco.status import FINISHED
from ..frames import parse_frames
from ..fs.atomic import sweep_temps
from ..fs.names import fold, validate_name
from ..progress import Progress
from ..session import FarmSession
from .submit import render_settings, require_job_type, user_metadata

QUICK_RELEASE = "quick"
QUICK_JOB_TYPE = "simple-blender-render"


class SeedRefused(BadInput):
    """The same quick job is still on the farm."""


@dataclass(frozen=True)
class SeedResult:
    job: str
    job_id: str  # "" for a dry run
    blend: Path  # the stored blend (a dry run: where it would be stored)
    output_dir: Path
    frames: str
    warnings: tuple[str, ...] = ()
    moved_aside: Path | None = None
    source: Path | None = None  # the .blend that was (or would be) seeded
    dry_run: bool = False

    @property
    def summary(self) -> str:
        """What was seeded (or, for a dry run, what would be)."""
        if self.dry_run:
            return (f"Dry run: would seed {self.source} as job {self.job!r} (frames "
                    f"{self.frames}) into {self.output_dir}; nothing was packed or submitted.")
        moved = (f"Earlier frames of {self.job!r} moved to {self.moved_aside}.\n"
                 if self.moved_aside else "")
        return (f"{moved}Seeded {self.job!r} (frames {self.frames}) as Flamenco job "
                f"{self.job_id}; frames go to {self.output_dir}.")


def find_blend(cwd: Path) -> Path:
    """The only .blend in ``cwd``; BadInput when there is none or several."""
    blends = sorted(p for p in cwd.glob("*.blend") if p.is_file())
    if not blends:
        raise BadInput(f"There is no .blend file in {cwd}. Give the file: "
                       "`farm seed job FILE JOB`.")
    if len(blends) > 1:
        names = ", ".join(p.name for p in blends[:6]) + (" ..." if len(blends) > 6 else "")
        raise BadInput(f"{cwd} holds several .blend files ({names}). Say which one: "
                       "`farm seed job FILE JOB`.")
    return blends[0]


@reports_disk_errors("seed the job")
def seed_job(
    session: FarmSession,
    job: str,
    file: Path | None = None,
    *,
    cwd: Path | None = None,
    frames: str | None = None,
    chunk_size: int | None = None,
    priority: int | None = None,
    worker_tag: str | None = None,
    scene: str | None = None,
    progress: Progress | None = None,
    dry_run: bool = False,
) -> SeedResult:
    """Seed ``file`` (default: the only .blend in ``cwd``) as the quick job ``job``; with
    ``dry_run``, check everything a seed checks and stop before packing."""
    progress = progress or Progress()
    job = validate_name(job)
    twin = next((p.stem for p in sorted(session.volume.quick_store_dir.glob("*.blend"))
                 if p.stem != job and fold(p.stem) == fold(job)), None)
    if twin is not None:
        raise SeedRefused(
            f"The quick job {job!r} differs only in case from the quick job {twin!r}; they "
            "would be the same files on Windows and macOS. Use that name or another one."
        )
    source = file if file is not None else find_blend(cwd or Path.cwd())
    if source.suffix.lower() != ".blend":
        raise BadInput(f"{source} is not a .blend file.")
    info = read_blend_info(source, scene)
    frames = frames if frames is not None else info.scene.frames
    parse_frames(frames)
    if chunk_size is not None and chunk_size < 1:
        raise BadInput(f"The chunk size must be at least 1, not {chunk_size}.")
    if info.scene.is_video:
        raise BadInput(f"Scene {info.scene.name!r} renders a video ({info.scene.file_format}); "
                       "farm renders frames. Choose an image format in the file.")
    session_settings = session.settings
    client = session.client
    volume = session.volume
    tag_id = client.worker_tag_id(worker_tag) if worker_tag else None
    require_job_type(client, QUICK_JOB_TYPE)
    out_dir = volume.check_inside(volume.quick_out_dir(job))
    if not dry_run:
        # What a killed or failed seed left half-packed goes, even if this one is refused.
        sweep_temps(volume.quick_store_dir)
    meta_key = {"farm.release": QUICK_RELEASE, "farm.job": job, "farm.volume": volume.id}
    running = [j for j in client.jobs(metadata=meta_key) if j.status not in FINISHED]
    if running:
        raise SeedRefused(
            f"The quick job {job!r} is still on the farm ({running[0].status}, id "
            f"{running[0].id}). Wait for it, kill it (`farm kill jobs {job}`), or pick "
            "another name."
        )
    if dry_run:
        return SeedResult(job, "", volume.quick_store_dir / f"{job}.blend", out_dir, frames,
                          source=source, dry_run=True)
    # Packing first: a source that cannot be packed (a missing library) changes nothing.
    store_existed = volume.quick_store_dir.is_dir()
    try:
        packed = pack_blend(source, volume, volume.quick_store_dir, job, progress, replace=True)
    except BaseException:
        if not store_existed:  # pack_blend made it
            with contextlib.suppress(OSError):
                volume.quick_store_dir.rmdir()
        raise
    moved: Path | None = None
    if out_dir.exists() and any(out_dir.iterdir()):
        stamp = f"{job}@{datetime.now():%Y%m%d-%H%M%S}"
        moved = out_dir.with_name(stamp)
        n = 2
        while moved.exists():  # seeded again within the same second
            moved, n = out_dir.with_name(f"{stamp}-{n}"), n + 1
        os.replace(volume.check_inside(out_dir), volume.check_inside(moved))
    out_dir.mkdir(parents=True, exist_ok=True)
    body = SubmittedJob(
        name=f"{QUICK_RELEASE}/{job}",
        type=QUICK_JOB_TYPE,
        priority=priority if priority is not None else session_settings.priority,
        submitter_platform=current_platform(),
        settings=render_settings(
            out_dir=out_dir, blendfile=packed.stored_blend, frames=frames,
            chunk_size=chunk_size or session_settings.chunk_size,
            fmt=info.scene.flamenco_format, extension=info.scene.file_extension,
            has_previews=info.scene.has_previews, scene=info.scene.name,
        ),
        metadata={**user_metadata(session_settings), **meta_key, "farm.revision": "1"},
        worker_tag=tag_id,
    )
    submitted = client.submit_job(body)
    return SeedResult(job, submitted.id, packed.stored_blend, out_dir, frames,
                      tuple(pack_warnings(packed)), moved, source)
