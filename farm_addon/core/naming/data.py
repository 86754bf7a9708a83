"""Per-frame data files: a JSON object mapping frame numbers to values. No `bpy` module use.

A template's ``data.KEY`` (or bare ``KEY``) fields read a frame's entry: ``{"7": {"angle": 90}}``
gives frame 7 the field ``angle``; a plain value (``{"7": 90}``) is the field ``value``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ..errors import BadInput


def _line_of(text: str, needle: str) -> int:
    pos = text.find(needle)
    return text.count("\n", 0, pos) + 1 if pos >= 0 else 1


def parse_frame_data(text: str, source: str = "the per-frame data") -> dict[int, Any]:
    """Parse a per-frame data document: a JSON object whose keys are frame numbers."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadInput(
            f"{source} line {exc.lineno} column {exc.colno}: not valid JSON ({exc.msg}). "
            'It must be an object mapping frame numbers to values, like {"7": {"angle": 90}}.'
        ) from None
    except RecursionError:
        raise BadInput(f"{source}: nested too deeply to read.") from None
    if not isinstance(doc, dict):
        raise BadInput(
            f"{source} line 1: expected a JSON object mapping frame numbers to values, "
            f"found a {type(doc).__name__}."
        )
    out: dict[int, Any] = {}
    for key, value in doc.items():
        k = key.strip()
        if not re.fullmatch(r"-?\d{1,9}", k):
            raise BadInput(
                f"{source} line {_line_of(text, json.dumps(key))}: key {key!r} is not a frame "
                "number; every key must be a whole number such as \"7\"."
            )
        frame = int(k)
        if frame in out:
            raise BadInput(
                f"{source} line {_line_of(text, json.dumps(key))}: frame {frame} is given twice."
            )
        if isinstance(value, dict):
            bad = [n for n in value if not _is_data_key(n)]
            if bad:
                raise BadInput(
                    f"{source} line {_line_of(text, json.dumps(bad[0]))}: field name {bad[0]!r} "
                    f"for frame {frame} cannot be used in a template; use letters, digits, "
                    "'_' and '-'."
                )
        out[frame] = value
    return out


def _is_data_key(name: str) -> bool:
    return bool(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_\-]*", name))


def load_frame_data(path: Path) -> dict[int, Any]:
    """Read a per-frame data file (see :func:`parse_frame_data`)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BadInput(f"Per-frame data file {path} does not exist.") from None
    except UnicodeDecodeError as exc:
        raise BadInput(f"Per-frame data file {path} is not UTF-8 text ({exc.reason}).") from None
    except OSError as exc:
        raise BadInput(f"Cannot read the per-frame data file {path}: {exc.strerror}.") from None
    return parse_frame_data(text, source=str(path))


def missing_frames(data: Mapping[int, Any], frames: Iterable[int]) -> list[int]:
    return [f for f in frames if f not in data]
