"""Frame ranges the way Flamenco's job compiler reads and chunks them.

``"1-10,20,30-40"`` (``..`` works as ``-`` too) explodes into a sorted list of unique frames;
chunks of at most ``chunk_size`` frames are written back in "regular" notation, where a run of
three or more frames is ``A-B``, and one or two frames are listed (``7``, ``9,10``).
"""

from __future__ import annotations


class FrameRangeError(ValueError):
    """A frame range the Manager would refuse."""


def explode_frames(frames: str) -> list[int]:
    """All frames in a range expression, sorted, without duplicates."""
    text = frames.strip()
    if not text:
        raise FrameRangeError(f'invalid range "{frames}": empty range')
    found: set[int] = set()
    for part in text.replace("..", "-").split(","):
        ends = part.split("-")
        try:
            numbers = [int(end.strip()) for end in ends]
        except ValueError:
            raise FrameRangeError(f'invalid range "{frames}": {part}') from None
        if len(numbers) == 1:
            found.add(numbers[0])
        elif len(numbers) == 2:
            found.update(range(numbers[0], numbers[1] + 1))
        else:
            raise FrameRangeError(f'invalid range "{frames}": {part}')
    if not found:
        raise FrameRangeError(f'invalid range "{frames}": empty range')
    return sorted(found)


def merge_frames(frames: list[int]) -> str:
    """Write sorted frames as runs: ``[3,4,5,6,9,10,12]`` -> ``"3-6,9,10,12"``."""
    parts: list[str] = []
    start = prev = frames[0]

    def close_run(first: int, last: int) -> None:
        if last - first >= 2:
            parts.append(f"{first}-{last}")
        else:
            parts.extend(str(f) for f in range(first, last + 1))

    for frame in frames[1:]:
        if frame > prev + 1:
            close_run(start, prev)
            start = frame
        prev = frame
    close_run(start, prev)
    return ",".join(parts)


def frame_chunks(frames: str, chunk_size: int) -> list[str]:
    """Split a frame range into chunks of at most ``chunk_size`` frames."""
    if chunk_size < 1:
        raise FrameRangeError(f"invalid chunk size, must be positive number: {chunk_size}")
    all_frames = explode_frames(frames)
    return [merge_frames(all_frames[i : i + chunk_size])
            for i in range(0, len(all_frames), chunk_size)]


def frame_count(chunk: str) -> int:
    """Number of frames in a chunk."""
    return len(explode_frames(chunk))


def parse_blender_frames(spec: str) -> list[int]:
    """Frames of Blender's ``--render-frame`` argument: ``7``, ``1..3``, ``1..3,7,9..10``."""
    result: list[int] = []
    for part in spec.split(","):
        part = part.strip()
        if not part:
            continue
        if ".." in part:
            first, _, last = part.partition("..")
            result.extend(range(int(first), int(last) + 1))
        else:
            result.append(int(part))
    if not result:
        raise FrameRangeError(f"no frames in {spec!r}")
    return result
