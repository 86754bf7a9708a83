"""A transfer's journal: its moves, on disk before the first one. No `bpy` module use.

A transfer is a list of :class:`~.mover.Move`, written to a :class:`Journal` (schema
:data:`JOURNAL_SCHEMA`, one JSON document) before the first file moves and removed after the
last; the mover (``mover.py``) carries the moves out. Killed at any moment, running the journal
again finishes the work; :func:`transfer` finishes an interrupted journal before it starts a
new one.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from ..progress import Progress
from .atomic import sweep_temps, write_atomic
from .mover import DEFAULT_OPS, FileOps, Move, TransferError, TransferStats, move_all

JOURNAL_SCHEMA = 2  # 2: moves carry the source's mtime and inode


class Journal:
    """The plan of a transfer, on disk before the first move, removed after the last."""

    def __init__(self, path: Path, root: Path, moves: Sequence[Move],
                 payload: dict[str, Any] | None = None) -> None:
        self.path = Path(path)
        self.root = Path(root)
        self.moves = list(moves)
        self.payload = payload or {}

    @classmethod
    def create(cls, path: Path, root: Path, moves: Sequence[Move],
               payload: dict[str, Any] | None = None, ops: FileOps = DEFAULT_OPS) -> Journal:
        """Write a new journal. Refuses if one is there: an interrupted transfer comes first."""
        path = Path(path)
        if ops.lstat(path) is not None:
            raise TransferError(
                f"An interrupted transfer's journal is at {path}; finish it first."
            )
        journal = cls(path, root, moves, payload)
        sweep_temps(path.parent, locked=True, name=path.name)  # one a killed run was writing
        head = {
            "schema": JOURNAL_SCHEMA,
            "kind": "farm-transfer-journal",
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "payload": journal.payload,
        }

        def chunks() -> Iterator[bytes]:
            # One JSON document, written in pieces: the moves of a big harvest run to
            # tens of megabytes, and need not be in memory twice.
            yield json.dumps(head, separators=(",", ":"))[:-1].encode() + b',"moves":['
            moves = journal.moves
            for i in range(0, len(moves), 4096):
                part = json.dumps([list(m) for m in moves[i:i + 4096]], separators=(",", ":"))
                yield (b"," if i else b"") + part[1:-1].encode()
            yield b"]}"

        try:
            ops.makedirs(path.parent)
            write_atomic(path, chunks(), ops)
        except OSError as exc:
            raise TransferError(
                f"Cannot write the transfer journal {path}: {exc.strerror or exc}. "
                "Nothing was moved."
            ) from exc
        return journal

    @classmethod
    def load(cls, path: Path, root: Path) -> Journal | None:
        """The journal at ``path``, or None if there is none."""
        try:
            raw = Path(path).read_bytes()
        except FileNotFoundError:
            return None
        try:
            doc = json.loads(raw)
            if doc.get("kind") != "farm-transfer-journal":
                raise ValueError("not a transfer journal")
            if int(doc.get("schema", 0)) > JOURNAL_SCHEMA:
                raise ValueError(f"schema {doc['schema']} is newer than this farm")
            moves = [_row(r) for r in doc["moves"]]
            payload = doc.get("payload") or {}
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise TransferError(
                f"The transfer journal {path} is damaged ({exc}); look at it, then remove it "
                "by hand once the files are where they should be."
            ) from None
        return cls(path, root, moves, payload)

    def remove(self, ops: FileOps = DEFAULT_OPS) -> None:
        if ops.lstat(self.path) is not None:
            ops.unlink(self.path)
            ops.fsync_dir(self.path.parent)

    def run(self, ops: FileOps = DEFAULT_OPS, progress: Progress | None = None,
            label: str = "Moving files") -> TransferStats:
        """Carry out (or finish) every move, in order. Safe to run again after any failure."""
        return move_all(self.root, self.moves, self.path, ops, progress, label)


def _row(row: Any) -> Move:
    """A move as a journal stores it: 4 values (schema 1) or 6."""
    if not isinstance(row, list) or len(row) not in (4, 6):
        raise ValueError(f"a move is not a list of 4 or 6 values: {row!r:.80}")
    return Move(str(row[0]), str(row[1]), str(row[2]), *(int(x) for x in row[3:]))


def transfer(moves: Sequence[Move], root: Path, journal_path: Path,
             payload: dict[str, Any] | None = None, ops: FileOps = DEFAULT_OPS,
             progress: Progress | None = None) -> TransferStats:
    """Journal ``moves`` and carry them out; an existing journal is finished first."""
    stats = TransferStats()
    old = Journal.load(journal_path, root)
    if old is not None:
        stats = old.run(ops, progress, "Finishing an interrupted transfer")
        old.remove(ops)
    if not moves:
        return stats
    journal = Journal.create(journal_path, root, moves, payload, ops)
    new = journal.run(ops, progress)
    journal.remove(ops)
    for k in ("moved", "copied", "already", "cleaned", "total", "rehashed"):
        setattr(new, k, getattr(new, k) + getattr(stats, k))
    new.held[:0] = stats.held
    return new
