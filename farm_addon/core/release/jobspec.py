"""A planned job's record, from its source, its settings and what its .blend says.
No `bpy` module use.

Settings come in layers (the plan file's defaults, the command line's, a ``[jobs.NAME]``
table); :func:`merge_settings` folds them, :func:`job_record` checks the result against the
scene (frames, output format, no video) and makes the :class:`JobRecord` that is packed,
recorded and submitted.
"""

from __future__ import annotations

from ..blend.info import BlendInfo
from ..errors import BadInput
from ..frames import parse_frames
from .planfile import JobSettings
from .record import DEFAULT_JOB_TYPE, JobRecord
from .sources import Source

_EXTENSIONS = {"PNG": ".png", "JPEG": ".jpg", "OPEN_EXR": ".exr", "OPEN_EXR_MULTILAYER": ".exr",
               "TIFF": ".tif", "BMP": ".bmp", "WEBP": ".webp", "TGA": ".tga", "HDR": ".hdr"}


def merge_settings(*layers: JobSettings) -> JobSettings:
    """The layers' settings, a later layer's winning where it sets one."""
    merged: dict[str, object] = {}
    for layer in layers:
        # A [jobs.NAME] table is a JobOverride: its source and metadata are not settings.
        merged.update(layer.model_dump(exclude_none=True, include=set(JobSettings.model_fields)))
    return JobSettings.model_validate(merged)


def job_record(
    release: str, src: Source, settings: JobSettings, info: BlendInfo, defaults_chunk: int,
    defaults_priority: int,
) -> JobRecord:
    """The record of ``src``'s job in ``release``; BadInput when the scene cannot be rendered
    as asked."""
    scene = info.scene
    frames = settings.frames if settings.frames is not None else scene.frames
    if settings.frames is None and not frames:
        raise BadInput(f"{src.path.name}: scene {scene.name!r} renders no frames "
                       f"(start {scene.frame_start} > end {scene.frame_end}); give frames.")
    parse_frames(frames)  # BadInput with the reason when it does not parse or is empty
    fmt = scene.flamenco_format
    ext = scene.file_extension
    if settings.output_format:
        fmt = settings.output_format.upper()
        ext = extension_for(fmt)
    if scene.is_video and not settings.output_format:
        raise BadInput(
            f"{src.path.name}: scene {scene.name!r} renders a video ({scene.file_format}); "
            "farm renders frames. Set an image format in the file, or output_format = "
            "\"PNG\" in the plan."
        )
    return JobRecord(
        name=src.name,
        source=str(src.path),
        source_sha256="0" * 64,  # filled in by packing
        stored_blend=f"releases/{release}/store/{src.name}.blend",
        frames=frames,
        chunk_size=settings.chunk_size or defaults_chunk,
        priority=settings.priority if settings.priority is not None else defaults_priority,
        worker_tag=settings.worker_tag,
        job_type=DEFAULT_JOB_TYPE,
        scene=scene.name,
        output_format=fmt,
        file_extension=ext,
        has_previews=scene.has_previews,
        output_dir=f"releases/{release}/out/{src.name}/",
        metadata=dict(src.metadata),
        revisions=[],
    )


def extension_for(fmt: str) -> str:
    """The file extension of Flamenco's output format ``fmt``; BadInput for one farm cannot
    deliver."""
    if fmt not in _EXTENSIONS:
        raise BadInput(f"Output format {fmt!r} is not one farm can deliver. Use one of "
                       f"{', '.join(sorted(_EXTENSIONS))}.")
    return _EXTENSIONS[fmt]
