"""What can be wrong with a .blend given to farm, and how farm says so. No `bpy` module use.

Reading, tracing and packing raise :class:`BadBlendFile` (bad input, exit code 2) for a
missing file, a file that is not a .blend, or one that is damaged or truncated.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import BadInput
from ..fs.volume import expand_user
from .bat import blendfile


class BadBlendFile(BadInput):
    """A source is missing, is not a .blend file, or is damaged."""


def check_file(path: Path) -> Path:
    """``path`` with ``~`` expanded; BadBlendFile if it does not exist or is not a file."""
    path = expand_user(path)
    if not path.exists():
        raise BadBlendFile(f"{path} does not exist. Check the path and try again.")
    if not path.is_file():
        raise BadBlendFile(f"{path} is not a file; give the path of a .blend file.")
    return path


def bad_blend(path: Path, exc: Exception) -> BadBlendFile:
    """The BadBlendFile to raise for ``exc``, met while BAT read ``path``.

    A BAT error means not a .blend (or a damaged one), an OSError that it cannot be read;
    anything else (struct errors, bad pointers, ...) that the file's bytes are wrong.
    """
    if isinstance(exc, blendfile.exceptions.BlendFileError):
        return _not_a_blend(path, exc)
    if isinstance(exc, OSError):
        return BadBlendFile(f"{path} cannot be read: {exc.strerror or exc}.")
    return _damaged(path, exc)


def _not_a_blend(path: Path, exc: Exception) -> BadBlendFile:
    if isinstance(exc, blendfile.exceptions.NoDNA1Block):
        return _damaged(path, exc)
    try:
        with path.open("rb") as handle:
            start = handle.read(12)
    except OSError:
        start = b""
    if start.startswith(b"BLENDER"):
        return _damaged(path, exc)
    return BadBlendFile(
        f"{path} is not a .blend file (it does not start like one). "
        "Give the path of a file saved by Blender."
    )


def _damaged(path: Path, exc: Exception) -> BadBlendFile:
    return BadBlendFile(
        f"{path} is damaged or incomplete ({type(exc).__name__}: {exc}); it may have been "
        "cut short while copying or saving. Open it in Blender, save it again, and retry."
    )
