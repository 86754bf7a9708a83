# SPDX-License-Identifier: GPL-3.0-or-later
"""Background fetches that fill ``WindowManager.farm``: the refresh, and a release's jobs.

The refresh asks for the Manager, the releases, the selected release's jobs and the worker
tags; selecting a release fetches its jobs.

Each is a :class:`work.Work`: the network and the disk on a worker thread, the results
applied on the UI thread in steps of :data:`FILL_STEP` items.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import bpy

from ...core.errors import FarmError
from ..common import core_api, farm_settings, farm_state, selected_job, selected_release
from ..work import Work, start

#: Items filled per step when a result is applied (the runner yields between steps).
FILL_STEP = 250
#: Whether selecting a release or a job fetches its details in the background. Off in
#: background mode (``blender -b``, the ``bpy`` module): nothing would drain the work, and a
#: registered timer keeps such a process from exiting. Tests turn it on and tick by hand.
AUTO_LOAD = not bpy.app.background


# --- Applying results ------------------------------------------------------------------------


@dataclass
class Refreshed:
    overview: Any
    tags: list[Any]
    release: Any  # ReleaseStatus of the selected release, or None
    paths: dict[str, tuple[str, str]]  # release -> (output folder, delivery folder)


def _fill(collection: Any, rows: list[Any], set_item: Callable[[Any, Any], None]) -> Iterator[None]:
    """Replace a collection's items, yielding every FILL_STEP items to keep ticks short."""
    collection.clear()
    for n, row in enumerate(rows, 1):
        set_item(collection.add(), row)
        if n % FILL_STEP == 0:
            yield


def _set_release(item: Any, summary: Any, paths: dict[str, tuple[str, str]]) -> None:
    item.name = summary.name
    item.jobs = summary.jobs
    item.completed = summary.completed
    item.frames_done = summary.frames_done
    item.frames_total = summary.frames_total
    item.progress = summary.progress
    item.error = summary.error
    item.output_dir, item.delivery_dir = paths.get(summary.name, ("", ""))


def _set_job(item: Any, row: Any) -> None:
    item.name = row.name
    item.status = row.status
    item.frames_done = row.frames_done
    item.frames_total = row.frames_total
    item.progress = row.frames_done / row.frames_total if row.frames_total else 0.0
    item.revision = row.revision
    item.stale = bool(row.stale)
    item.stale_files = ", ".join(row.stale)
    item.job_id = row.job_id or ""


def _select_by_name(context: bpy.types.Context, prop: str, items: Any, name: str) -> None:
    """Keep the selection on ``name`` after a list was filled again."""
    index = items.find(name) if name else -1
    setattr(context.scene.farm, prop, max(index, 0))


def _apply_manager(state: Any, overview: Any) -> None:
    state.connection = "WARNING" if overview.verdict else "CONNECTED"
    state.manager_url = overview.manager_url
    state.manager_version = overview.version
    state.verdict = overview.verdict
    state.farm_status = overview.farm_status
    state.workers_online = overview.workers_online
    state.workers_total = len(overview.workers)
    state.volume = overview.volume


def apply_release_jobs(context: bpy.types.Context, status: Any) -> Iterator[None]:
    state = farm_state(context)
    previous = selected_job(context)
    keep = previous.name if previous is not None and state.jobs_release == status.release else ""
    yield from _fill(state.jobs, status.rows, _set_job)
    state.jobs_release = status.release
    state.jobs_loading = False
    _select_by_name(context, "job_index", state.jobs, keep)


def refresh_work(context: bpy.types.Context, select: str = "") -> Work:
    settings = farm_settings(context)
    wanted = select or selected_release(context)

    def call(progress: Any) -> Refreshed:
        api = core_api()
        progress.start(3, "Asking the Manager")
        overview = api.overview(settings)
        progress.advance()
        tags = api.worker_tags(settings, optional=True)  # [] from a Manager without them
        progress.advance()
        names = [r.name for r in overview.releases]
        release = wanted if wanted in names else (names[0] if names else "")
        status = api.release_status(settings, release) if release else None
        paths = {n: (str(out), str(dist))
                 for n, (out, dist) in api.release_folders(overview.volume, names).items()}
        progress.advance()
        return Refreshed(overview, tags, status, paths)

    def apply(context: bpy.types.Context, result: Refreshed) -> Iterator[None]:
        state = farm_state(context)
        overview = result.overview
        _apply_manager(state, overview)
        state.worker_tags.clear()
        for tag in result.tags:
            item = state.worker_tags.add()
            item.name = tag.name
            item.tag_id = tag.id or ""
            item.description = tag.description or ""
        yield from _fill(state.releases, overview.releases,
                         lambda item, summary: _set_release(item, summary, result.paths))
        if result.release is not None:
            yield from apply_release_jobs(context, result.release)
            _select_by_name(context, "release_index", state.releases, result.release.release)
        else:
            state.jobs.clear()
            state.jobs_release = ""
        state.last_error = ""
        text = (f"Flamenco Manager {overview.version}: farm {overview.farm_status}, "
                f"{overview.workers_online} of {len(overview.workers)} workers online, "
                f"{len(overview.releases)} release(s)")
        if overview.verdict:
            return ("WARNING", f"{text}. {overview.verdict}")
        return text

    def fail(context: bpy.types.Context, error: BaseException) -> None:
        if isinstance(error, core_api().FlamencoError):
            farm_state(context).connection = "FAILED"

    return Work("Refreshing", call, apply, fail, foreground=False, key="refresh")


def start_refresh(context: bpy.types.Context, select: str = "") -> None:
    """Refresh in the background (after an operation changed the farm)."""
    try:
        start(refresh_work(context, select), context)
    except FarmError as exc:
        farm_state(context).last_error = str(exc)


def release_jobs_work(context: bpy.types.Context, release: str) -> Work:
    settings = farm_settings(context)

    def call(progress: Any) -> Any:
        return core_api().release_status(settings, release)

    def apply(context: bpy.types.Context, status: Any) -> Iterator[None]:
        yield from apply_release_jobs(context, status)
        return str(status.summary)

    def fail(context: bpy.types.Context, error: BaseException) -> None:
        farm_state(context).jobs_loading = False

    return Work(f"Loading release {release}", call, apply, fail, foreground=False,
                key="release-jobs")


def load_selected_release(context: bpy.types.Context) -> None:
    """The selected release changed: fetch its jobs on a worker thread (a property update)."""
    state = farm_state(context)
    release = selected_release(context)
    if not AUTO_LOAD or not bpy.app.online_access or not release:
        return
    if release == state.jobs_release:
        return
    try:
        work = release_jobs_work(context, release)
    except FarmError as exc:
        state.last_error = str(exc)
        return
    state.jobs_loading = True
    start(work, context)
