# SPDX-License-Identifier: GPL-3.0-or-later
"""Fetching the farm's last rendered image of the selected job into a Blender image.

The image comes over the network and is written to Blender's temporary folder on a worker
thread; the UI thread only loads (or reloads) the file into :data:`PREVIEW_IMAGE`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import bpy

from ...core.errors import FarmError
from ..common import core_api, farm_settings, farm_state, selected_job
from ..farm import fetch
from ..work import Work, start

PREVIEW_IMAGE = "Farm Preview"


def _sniff_suffix(data: bytes) -> str:
    if data.startswith(b"\x89PNG"):
        return ".png"
    if data.startswith(b"\xff\xd8"):
        return ".jpg"
    if data.startswith(b"\x76\x2f\x31\x01"):
        return ".exr"
    return ".img"


def preview_work(context: bpy.types.Context) -> Work:
    settings = farm_settings(context)
    job = selected_job(context)
    job_id = job.job_id if job is not None and job.job_id else None
    label = job.name if job is not None and job_id else "the farm"
    base = Path(bpy.app.tempdir or bpy.utils.user_resource("SCRIPTS")) / (
        f"farm-preview-{job_id or 'farm'}"
    )

    def call(progress: Any) -> Path | None:
        data = core_api().last_rendered_image(settings, job_id)
        if data is None:
            return None
        path = base.with_suffix(_sniff_suffix(data))
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".part")
        partial.write_bytes(data)
        os.replace(partial, path)
        return path

    def apply(context: bpy.types.Context, path: Path | None) -> str:
        state = farm_state(context)
        state.preview_job = job_id or ""
        if path is None:
            state.preview_message = f"Nothing rendered yet for {label}"
            return state.preview_message
        image = bpy.data.images.get(PREVIEW_IMAGE)
        if image is None:
            image = bpy.data.images.load(str(path), check_existing=False)
            image.name = PREVIEW_IMAGE
        else:
            image.filepath = str(path)
            image.reload()
        image.use_fake_user = False
        state.preview_image = image.name
        state.preview_message = f"Last rendered image of {label}"
        return state.preview_message

    return Work(f"Fetching the preview of {label}", call, apply, foreground=False, key="preview")


def load_preview(context: bpy.types.Context) -> None:
    """The selected job changed: fetch its last rendered image on a worker thread."""
    job = selected_job(context)
    if not fetch.AUTO_LOAD or not bpy.app.online_access or job is None or not job.job_id:
        return
    if job.job_id == farm_state(context).preview_job:
        return
    try:
        start(preview_work(context), context)
    except FarmError as exc:
        farm_state(context).last_error = str(exc)
