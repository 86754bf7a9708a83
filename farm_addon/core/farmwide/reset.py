"""``slash-and-burn``: reset the farm. No `bpy` module use.

Cancels and deletes every job on the Manager and empties ``quick/``. Releases, ``dist/`` and
``archives/`` stay unless explicitly included. :func:`reset_plan` lists what would be lost (the
dry run and the confirmation show it); :func:`slash_and_burn` does it. Render output of
releases is never touched unless ``releases`` is included. The volume's pool keeps only the
shared files that what remains still uses.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import BadInput, reports_disk_errors
from ..flamenco import Job
from ..flamenco.status import CANCELLABLE, DELETABLE
from ..fs.pool import sweep_unused
from ..progress import Progress
from ..session import FarmSession

INCLUDABLE = ("releases", "dist", "archives")


@dataclass(frozen=True)
class ResetPlan:
    volume_name: str
    jobs: list[Job]
    paths: list[Path]  # what will be removed from the volume

    def describe(self) -> str:
        lines = [f"{len(self.jobs)} job(s) on the Manager will be cancelled and deleted."]
        lines += [f"  {j.name} ({j.status}, {j.id})" for j in self.jobs[:20]]
        if len(self.jobs) > 20:
            lines.append(f"  ... and {len(self.jobs) - 20} more")
        lines.append(f"{len(self.paths)} item(s) on volume {self.volume_name!r} will be removed:")
        lines += [f"  {p}" for p in self.paths[:20]]
        if len(self.paths) > 20:
            lines.append(f"  ... and {len(self.paths) - 20} more")
        return "\n".join(lines)


@dataclass
class ResetReport:
    deleted: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (job, why)
    removed: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed

    @property
    def summary(self) -> str:
        """What the reset did, in one line (the failures are in ``failed``)."""
        return f"Deleted {len(self.deleted)} job(s); removed {len(self.removed)} item(s)."


def reset_plan(session: FarmSession, include: tuple[str, ...] = ()) -> ResetPlan:
    unknown = [i for i in include if i not in INCLUDABLE]
    if unknown:
        raise BadInput(f"Cannot include {', '.join(unknown)}; choose from "
                       f"{', '.join(INCLUDABLE)}.")
    volume = session.volume
    jobs = sorted(session.client.jobs(), key=lambda j: (j.name, j.id))
    roots = [volume.quick_dir]
    roots += [volume.root / name for name in INCLUDABLE if name in include]
    paths = [volume.check_inside(p) for root in roots if root.is_dir()
             for p in sorted(root.iterdir())]
    return ResetPlan(volume.name, jobs, paths)


@reports_disk_errors("reset the farm")
def slash_and_burn(
    session: FarmSession, plan: ResetPlan, progress: Progress | None = None,
    wait_seconds: float = 30.0,
) -> ResetReport:
    progress = progress or Progress()
    client = session.client
    report = ResetReport()
    cancel = [j for j in plan.jobs if j.status in CANCELLABLE]
    for job, result in zip(cancel, client.cancel_many([j.id for j in cancel],
                                                      "farm slash-and-burn", progress),
                           strict=True):
        if not result.ok:
            report.failed.append((job.name, str(result.error)))
    # Cancellation is a request: wait until the Manager has stopped the jobs.
    wanted = {j.id for j in plan.jobs}
    deadline = time.monotonic() + wait_seconds
    while True:
        now = {j.id: j for j in client.jobs() if j.id in wanted}
        if all(j.status in DELETABLE for j in now.values()) or time.monotonic() > deadline:
            break
        progress.check()
        time.sleep(0.2)
    to_delete = [j for j in now.values() if j.status in DELETABLE]
    stuck = [j for j in now.values() if j.status not in DELETABLE]
    report.failed += [(j.name, f"still {j.status}; try again in a moment") for j in stuck]
    for job, result in zip(to_delete, client.delete_many([j.id for j in to_delete], progress),
                           strict=True):
        if result.ok:
            report.deleted.append(job.name)
        else:
            report.failed.append((job.name, str(result.error)))
    volume = session.volume
    progress.start(len(plan.paths), "Removing")
    for path in plan.paths:
        progress.check()
        path = volume.check_inside(path)
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()
        report.removed.append(volume.relpath(path))
        progress.advance()
    volume.ensure_layout()
    sweep_unused(volume)  # the shared files only removed jobs used
    return report
