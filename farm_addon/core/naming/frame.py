"""What a delivered name is made from: FrameInfo, FrameLabel and the Namer protocol.

No `bpy` module use.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol


@dataclass(slots=True)
class FrameInfo:
    """Everything a name may be built from, for one frame of one job."""

    release: str
    job: str
    frame: int
    ext: str
    revision: int = 1
    meta: Mapping[str, str] = field(default_factory=dict)
    #: The frame's entry in the per-frame data file: a dict, a plain value, or None (no file).
    data: Any = None
    has_data: bool = False

    @property
    def label(self) -> str:
        return f"job {self.job!r} frame {self.frame}"


class FrameLabel(NamedTuple):
    """How messages name a frame, formatted only when a message needs it."""

    job: str
    frame: int

    def __str__(self) -> str:
        return f"job {self.job!r} frame {self.frame}"


#: Names the frames of one job: ``(frame, per-frame data) -> delivered name``.
BoundNamer = Callable[[int, Any], str]


class Namer(Protocol):
    """A template or a renamer: one delivered name per frame."""

    source: str
    #: True if names may depend on the per-frame data (a frame the data lacks is an error).
    uses_data: bool

    def render(self, info: FrameInfo) -> str: ...

    def bind(self, info: FrameInfo) -> BoundNamer:
        """A fast namer for the frames of ``info``'s job (``frame`` and ``data`` vary)."""
        ...



def compress_frames(frames: Iterable[int]) -> str:
    """1,2,3,5 -> '1-3,5'."""
    ordered = sorted(set(frames))
    parts: list[str] = []
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        parts.append(str(ordered[i]) if i == j else f"{ordered[i]}-{ordered[j]}")
        i = j + 1
    return ",".join(parts)
