"""Pruning a release after archiving it, and the archived marker. No `bpy` module use.

A prune removes the archived folders (``store/``, ``out/``, ``dist/<release>/``...; never the
record, never anything outside the volume), after checking that nothing changed or appeared
since it was archived. The marker ``.farm-archived.json`` in the release folder says "pruning"
before the first folder goes and "pruned" after the last, so that an interrupted prune is
finished by the same command, never archived again over the complete archive. Between the
two, once the folders are gone, the volume's pool is swept (:func:`_sweep_pool`): no shared
file that only the pruned release used stays behind.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..fs.atomic import TEMP_PREFIX, atomic_write_text
from ..fs.mover import FileOps
from ..fs.pool import sweep_unused
from ..fs.volume import LOCK_NAME, RECORD_NAME, Volume
from .collect import ARCHIVED_MARKER, ArchiveError, Written


def read_marker(marker: Path) -> dict[str, Any]:
    """The archived marker's content ({} if there is none); an unreadable one counts as a
    finished prune, the careful reading."""
    try:
        doc = json.loads(marker.read_bytes())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError):
        return {"pruned": True}
    return doc if isinstance(doc, dict) else {"pruned": True}


def _prune(volume: Volume, release: str, written: dict[str, Written],
           archive: Path, ops: FileOps) -> list[Path]:
    """Remove what was archived, once nothing changed since."""
    rel_dir = volume.release_dir(release)
    dist = volume.dist_dir(release)
    tops = [p for p in sorted(rel_dir.iterdir())
            if p.name not in (RECORD_NAME, LOCK_NAME, ARCHIVED_MARKER)
            and not p.name.startswith(TEMP_PREFIX)]
    if dist.is_dir() and not dist.is_symlink():
        tops.append(dist)
    changed: list[str] = []
    for top in tops:
        volume.check_inside(top.parent)
        for e in _iter_tree(top):
            name = _member_name(e, rel_dir, dist, release)
            w = written.get(name)
            if w is None:
                changed.append(f"{e} appeared after it was archived")
            elif not stat.S_ISDIR(e.stat(follow_symlinks=False).st_mode) and (
                    e.stat(follow_symlinks=False).st_mtime_ns != w.mtime_ns):
                changed.append(f"{e} changed after it was archived")
    if changed:
        raise ArchiveError(
            f"Not pruning: {'; '.join(changed[:5])}. The archive {archive} is complete and "
            "checked; look at these files, then archive again with --force."
        )
    removed = []
    for top in tops:
        if top.is_symlink() or not top.is_dir():
            ops.unlink(top)
        else:
            shutil.rmtree(top)
        removed.append(top)
    return removed


def _iter_tree(top: Path) -> Iterator[Path]:
    yield top
    if top.is_dir() and not top.is_symlink():
        for dirpath, dirnames, filenames in os.walk(top):
            for n in dirnames + filenames:
                yield Path(dirpath) / n


def _member_name(p: Path, rel_dir: Path, dist: Path, release: str) -> str:
    if p.is_relative_to(dist):
        rel = p.relative_to(dist).as_posix()
        return f"{release}/dist" + ("" if rel == "." else f"/{rel}")
    return f"{release}/{p.relative_to(rel_dir).as_posix()}"


def _sweep_pool(volume: Volume) -> None:
    """Remove the pool files no release uses any more (:func:`..fs.pool.sweep_unused`)."""
    sweep_unused(volume)


def prune_and_mark(volume: Volume, release: str, written: dict[str, Written],
                    target: Path, ops: FileOps, marker: Path, info: dict[str, Any]) -> list[Path]:
    """Prune, between two states of the marker: "pruning" (written first, so that an
    interrupted prune is finished, never archived again over the complete archive), then
    "pruned"."""
    atomic_write_text(marker, json.dumps({**info, "pruned": False}, indent=2) + "\n")
    try:
        pruned = _prune(volume, release, written, target, ops)
        _sweep_pool(volume)
    except OSError as exc:
        raise ArchiveError(
            f"Pruning {release!r} failed: {exc.strerror or exc}. The archive {target} is "
            f"complete and checked; run `farm archive release {release} --prune` again to "
            "finish the prune."
        ) from exc
    atomic_write_text(marker, json.dumps({**info, "pruned": True}, indent=2) + "\n")
    return pruned
