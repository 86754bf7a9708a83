"""Frame ranges as Flamenco writes them, chunks as its job compiler makes them. No `bpy` module use.

A frame range is a comma-separated list of frames and inclusive ranges: ``1-10,20,30-40``.
Blender's ``A..B`` notation is accepted too, and whitespace around numbers is ignored, as the
Manager does. Frames are whole numbers from 0 to Blender's last frame (1,048,574); farm
refuses what the Manager would silently turn into nothing (a reversed range ``10-1``) and
ranges too large to be meant (more than a million frames).

:func:`chunks` splits frames the way Flamenco's ``simple-blender-render`` job type does:
the sorted, unique frames are cut into consecutive groups of ``chunk_size`` frames, gaps
included, and each group is written with :func:`format_frames` (``9,10,20,21``), so the
task names (``render-<chunk>``) match the Manager's.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path

from .errors import BadInput

MAX_FRAME = 1_048_574  # Blender's MAXFRAME
MAX_FRAMES = 1_000_000
DEFAULT_PADDING = 6

_PART = re.compile(r"\s*([0-9]+)\s*(?:(?:-|\.\.)\s*([0-9]+)\s*)?", re.ASCII)


def parse_intervals(text: str) -> list[tuple[int, int]]:
    """The range as sorted, merged, inclusive ``(first, last)`` intervals; BadInput if invalid."""
    if not isinstance(text, str):
        raise BadInput(f"A frame range must be text like '1-10,20', not {type(text).__name__}.")
    shown = text if len(text) <= 60 else text[:57] + "..."
    if not text.strip():
        raise BadInput("The frame range is empty. Give frames like '1-250' or '1-10,20,30-40'.")
    intervals: list[tuple[int, int]] = []
    for part in text.split(","):
        match = _PART.fullmatch(part)
        if match is None:
            part_shown = part.strip() or "(nothing)"
            raise BadInput(
                f"The frame range {shown!r} has {part_shown!r} where a frame ('7') or a range "
                "('1-10') should be. Separate parts with commas, for example '1-10,20,30-40'."
            )
        first = int(match.group(1))
        last = int(match.group(2)) if match.group(2) is not None else first
        for frame in (first, last):
            if frame > MAX_FRAME:
                raise BadInput(
                    f"Frame {frame} in {shown!r} is beyond Blender's last frame ({MAX_FRAME})."
                )
        if last < first:
            raise BadInput(
                f"The range {part.strip()!r} in {shown!r} runs backwards; "
                f"write it as '{last}-{first}'."
            )
        intervals.append((first, last))
    merged = _merge(intervals)
    total = sum(last - first + 1 for first, last in merged)
    if total > MAX_FRAMES:
        raise BadInput(
            f"The frame range {shown!r} has {total:,} frames; farm allows at most "
            f"{MAX_FRAMES:,} in one job. Split it into several jobs."
        )
    return merged


def _merge(intervals: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for first, last in sorted(intervals):
        if merged and first <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(last, merged[-1][1]))
        else:
            merged.append((first, last))
    return merged


def parse_frames(text: str) -> list[int]:
    """Every frame of the range, sorted and unique. BadInput on anything else."""
    return [frame for first, last in parse_intervals(text) for frame in range(first, last + 1)]


def count_frames(text: str) -> int:
    """How many frames the range holds, without listing them."""
    return sum(last - first + 1 for first, last in parse_intervals(text))


def format_frames(frames: Iterable[int]) -> str:
    """A compact range for ``frames`` in Flamenco's notation: ``1-4``, ``9,10,20,21``, ``40``.

    Runs of three or more frames become ``A-B``; runs of one or two frames are listed.
    Duplicates are dropped and the order does not matter. An empty input gives ``""``.
    """
    parts: list[str] = []
    for first, last in _merge((frame, frame) for frame in frames):
        if last - first >= 2:
            parts.append(f"{first}-{last}")
        else:
            parts.extend(str(frame) for frame in range(first, last + 1))
    return ",".join(parts)


def chunks(frames: Sequence[int] | str, chunk_size: int) -> list[str]:
    """The chunks Flamenco's ``simple-blender-render`` renders, one task each.

    ``frames`` is a frame range or a list of frames. Frames are sorted and made unique,
    cut into groups of ``chunk_size`` frames in order (a group may span a gap), and each
    group is written with :func:`format_frames`.
    """
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise BadInput(f"The chunk size must be a whole number of at least 1, not {chunk_size!r}.")
    ordered = parse_frames(frames) if isinstance(frames, str) else sorted(set(frames))
    return [
        format_frames(ordered[start:start + chunk_size])
        for start in range(0, len(ordered), chunk_size)
    ]


def frame_filename(
    directory: Path, frame: int, ext: str, pattern: str = "#" * DEFAULT_PADDING
) -> Path:
    """The file Blender writes for ``frame`` with an output path of ``directory/pattern``.

    Blender replaces the last run of ``#`` in the file name by the frame number, zero-padded
    to the run's length, and appends ``ext`` (``.png``): ``######`` and frame 7 give
    ``000007.png``. Without any ``#`` Blender appends four digits.
    """
    runs = list(re.finditer(r"#+", pattern))
    if runs:
        run = runs[-1]
        name = f"{pattern[:run.start()]}{frame:0{len(run.group())}d}{pattern[run.end():]}"
    else:
        name = f"{pattern}{frame:04d}"
    return directory / f"{name}{ext}"
