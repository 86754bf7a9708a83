"""What a .blend file needs to render: its dependencies, traced with BAT. No `bpy` module use.

:func:`trace_dependencies` lists the files a .blend needs to render (images, linked
libraries and what they need in turn, caches, sounds, fonts, sequences), each with its
absolute path and whether it exists. It raises :class:`~.errors.BadBlendFile` for a missing,
non-.blend, damaged or truncated file.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import BadInput
from .bat import bat_session, file_sequence, trace
from .errors import bad_blend, check_file

_KINDS = {
    b"IM": "image", b"LI": "library", b"SO": "sound", b"VF": "font", b"MC": "movie clip",
    b"CF": "cache", b"VO": "volume", b"ME": "mesh data", b"OB": "cache", b"LA": "light",
}


@dataclass(frozen=True)
class Dependency:
    """A file (or a sequence of files) that a .blend needs to render."""

    path: Path  # absolute; for a sequence the first file, a glob pattern or a folder
    kind: str  # image, library, sound, font, movie clip, cache, volume, sequencer strip, ...
    exists: bool  # for a sequence: at least one of its files exists
    is_sequence: bool
    written_as: str  # the path as the blend stores it, like //textures/wood.png
    used_by: Path  # the .blend that refers to it (the source or one of its libraries)

    def files(self) -> list[Path]:
        """The existing files of this dependency (all files of a sequence)."""
        if not self.is_sequence:
            return [self.path] if self.path.is_file() else []
        try:
            return [path for path in file_sequence.expand_sequence(self.path) if path.is_file()]
        except file_sequence.DoesNotExist:
            return []


def usage_kind(usage: Any) -> str:
    """The kind of dependency a BAT ``BlockUsage`` is, for messages and records."""
    code = usage.block.code
    if code in _KINDS:
        return _KINDS[code]
    return "sequencer strip" if usage.block.dna_type_name.startswith("Strip") else "file"


def usage_exists(usage: Any) -> bool:
    path = Path(usage.abspath)
    if not usage.is_sequence:
        return path.exists()
    try:
        return any(True for _ in file_sequence.expand_sequence(path))
    except file_sequence.DoesNotExist:
        return False


def iter_usages(path: Path) -> Iterator[Any]:
    """BAT's block usages of ``path`` and its libraries; iterate inside :func:`bat_session`."""
    try:
        yield from trace.deps(path)
    except BadInput:
        raise
    except Exception as exc:
        raise bad_blend(path, exc) from exc


def trace_dependencies(path: Path) -> list[Dependency]:
    """Every file ``path`` needs, following linked libraries; one entry per distinct path."""
    path = check_file(path)
    found: dict[Path, Dependency] = {}
    with bat_session():
        for usage in iter_usages(path):
            abspath = Path(usage.abspath)
            if abspath in found:
                continue
            found[abspath] = Dependency(
                path=abspath,
                kind=usage_kind(usage),
                exists=usage_exists(usage),
                is_sequence=bool(usage.is_sequence),
                written_as=str(usage.asset_path),
                used_by=Path(usage.block.bfile.filepath),
            )
    return list(found.values())
