"""Temporary: the old names of this module, now in journal.py, mover.py and atomic.py.
No `bpy` module use.

Re-exports only, so that harvest/ and archive/ keep importing while they move to the new
modules; removed at the merge.
"""

from __future__ import annotations

from pathlib import Path

from .atomic import TEMP_PREFIX, sweep_temps, write_atomic
from .journal import JOURNAL_SCHEMA, Journal, transfer
from .mover import (
    CHUNK,
    DEFAULT_OPS,
    RACY_MARGIN_NS,
    FileOps,
    Move,
    TransferError,
    TransferStats,
    gc_paused,
    sha256_file,
)

TMP_PREFIX = TEMP_PREFIX


def remove_stale_temps(path: Path) -> None:
    """``sweep_temps(path.parent, locked=True, name=path.name)``."""
    sweep_temps(path.parent, locked=True, name=path.name)


__all__ = [
    "CHUNK", "DEFAULT_OPS", "JOURNAL_SCHEMA", "RACY_MARGIN_NS", "TMP_PREFIX", "FileOps", "Journal",
    "Move", "TransferError", "TransferStats", "gc_paused", "remove_stale_temps", "sha256_file",
    "transfer", "write_atomic",
]
