"""Archiving a harvested release into one checked .tar.gz, and pruning it.

No `bpy` module use.
"""

from .run import ArchiveError, ArchiveResult, archive_release

__all__ = ["ArchiveError", "ArchiveResult", "archive_release"]
