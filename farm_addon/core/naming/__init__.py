"""Names of delivered files: templates, per-frame data and renamer files.

No `bpy` module use.
"""

from __future__ import annotations

from .data import load_frame_data, missing_frames, parse_frame_data
from .frame import BoundNamer, FrameInfo, FrameLabel, Namer, compress_frames
from .renamer import Renamer
from .targets import RESERVED_PREFIX, RESERVED_TOP, check_targets, path_problem
from .templates import BUILTIN_FIELDS, DEFAULT_TEMPLATE, Template, make_namer

__all__ = [
    "BUILTIN_FIELDS", "DEFAULT_TEMPLATE", "RESERVED_PREFIX", "RESERVED_TOP", "BoundNamer",
    "FrameInfo", "FrameLabel", "Namer", "Renamer", "Template", "check_targets",
    "compress_frames", "load_frame_data", "make_namer", "missing_frames", "parse_frame_data",
    "path_problem",
]
