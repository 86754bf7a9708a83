"""Archiving a finished release into one checked ``.tar.gz``: the run. No `bpy` module use.

:func:`archive_release` writes ``archives/<release>.tar.gz`` holding the release folder
(``releases/<release>/``: its record, ``store/`` and ``out/``) and its delivery folder
(``dist/<release>/``) as members ``<release>/...`` and ``<release>/dist/...``
(:mod:`.collect` lists them, :mod:`.write` writes them, streaming).

- It is written to ``archives/.farm-tmp-<release>.tar.gz``, then read back (:mod:`.verify`):
  every member's type, size and SHA-256 must match what was read from disk, and every file
  of the harvest manifest must be there with its checksum. Only then is it renamed into
  place. An existing archive is refused unless ``force``.
- ``prune`` then removes the archived folders (:mod:`.prune`; never the record, never
  anything outside the volume), after checking that nothing changed or appeared since.
- Symbolic links are stored as links, never followed; one pointing outside the volume is
  stored but reported in :attr:`ArchiveResult.flagged`.
- A file with several names in the release (jobs sharing a file of the volume's pool
  through hard links) is stored once: its later names are hard-link members, which plain
  ``tar -xzf`` restores as hard links. :attr:`ArchiveResult.files` and ``bytes_in`` count
  each such file once.

Any failure (a full disk, a file that changes while it is read, a check that does not pass)
removes the temporary archive and prunes nothing.
"""

from __future__ import annotations

import os
import tarfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import BadInput, reports_disk_errors
from ..fs.atomic import TEMP_PREFIX, FileLock, sweep_temps
from ..fs.mover import DEFAULT_OPS, FileOps
from ..fs.volume import HARVEST_JOURNAL_NAME, RECORD_NAME, Volume
from ..progress import Progress
from .collect import ARCHIVED_MARKER, ArchiveError, Entry, Written, collect
from .prune import prune_and_mark, read_marker
from .verify import check, manifest_sums, written_from_archive
from .write import write

__all__ = ["ARCHIVED_MARKER", "DEFAULT_LEVEL", "ArchiveError", "ArchiveResult",
           "archive_release"]

#: gzip level. Frames are PNG/JPEG/EXR, already compressed: level 1 saves what there is to
#: save (tar headers, padding, .blend files) at the least cost. See scripts/bench_archive.py.
DEFAULT_LEVEL = 1


def _mb(n: int) -> str:
    return f"{n / 1e6:,.1f} MB"


@dataclass
class ArchiveResult:
    release: str
    path: Path
    dry_run: bool = False
    members: int = 0
    files: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    seconds: float = 0.0
    checked: bool = False
    manifest_files: int = 0
    pruned: list[Path] = field(default_factory=list)
    #: Symbolic links pointing outside the volume (stored as links) and skipped special files.
    flagged: list[str] = field(default_factory=list)
    #: A prune was asked for (a dry run says it would follow).
    prune: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "release": self.release, "archive": str(self.path), "dry_run": self.dry_run,
            "members": self.members, "files": self.files, "bytes_in": self.bytes_in,
            "bytes_out": self.bytes_out, "seconds": round(self.seconds, 3),
            "checked": self.checked, "manifest_files": self.manifest_files,
            "pruned": [str(p) for p in self.pruned], "flagged": self.flagged,
        }

    @property
    def summary(self) -> str:
        """What was done, for a person: the text ``farm archive`` prints (the warnings of
        :attr:`flagged` apart); a prune adds a second line naming what was removed."""
        if self.dry_run:
            return (f"Dry run: {self.members:,} members ({self.files:,} files, "
                    f"{_mb(self.bytes_in)}) would be archived to {self.path}"
                    + (" and then pruned" if self.prune else "") + "; nothing was written.")
        text = (f"Archived {self.release}: {self.members:,} members, {_mb(self.bytes_in)} -> "
                f"{_mb(self.bytes_out)} in {self.seconds:.1f} s; read back and checked"
                + (f" ({self.manifest_files:,} files of the harvest manifest)"
                   if self.manifest_files else "") + f". {self.path}")
        if self.pruned:
            text += "\nPruned: " + ", ".join(str(p) for p in self.pruned)
        return text


@reports_disk_errors("archive the release")
def archive_release(volume: Volume, release: str, force: bool = False, prune: bool = False,
                    progress: Progress | None = None, *, dry_run: bool = False,
                    level: int = DEFAULT_LEVEL, threads: int | None = None,
                    ops: FileOps = DEFAULT_OPS, lock_timeout: float = 10.0) -> ArchiveResult:
    """Write, check and rename ``archives/<release>.tar.gz``; then prune if asked.

    Holds the release's lock, so that no harvest or replace changes the release while it is
    archived. A prune that was interrupted is finished by the same command again."""
    rel_dir = volume.release_dir(release)
    if not (rel_dir / RECORD_NAME).is_file():
        known = volume.list_releases()
        listed = ", ".join(known[:10]) if known else "none"
        raise BadInput(f"There is no release {release!r} on {volume.root} (releases: {listed}).")
    if dry_run:
        return _archive(volume, release, force, prune, progress, True, level, threads, ops)
    with FileLock(volume.lock_path(release), lock_timeout, f"archiving {release}"):
        return _archive(volume, release, force, prune, progress, False, level, threads, ops)


def _archive(volume: Volume, release: str, force: bool, prune: bool,
             progress: Progress | None, dry_run: bool, level: int, threads: int | None,
             ops: FileOps) -> ArchiveResult:
    progress = progress or Progress()
    started = time.perf_counter()
    rel_dir = volume.release_dir(release)
    target = volume.archive_path(release)
    result = ArchiveResult(release, target, dry_run=dry_run, prune=prune)
    if (rel_dir / HARVEST_JOURNAL_NAME).exists():
        raise ArchiveError(
            f"A harvest of {release!r} was interrupted; run `farm harvest release {release}` "
            "to finish it before archiving."
        )
    marker = rel_dir / ARCHIVED_MARKER
    if not dry_run:
        sweep_temps(rel_dir, locked=True)  # a marker a killed run was writing
    state = read_marker(marker)
    if state.get("pruned"):
        raise ArchiveError(
            f"{release!r} was archived to {target} and pruned; its files are only in the "
            "archive now, so it is not archived again."
        )
    exists = ops.lstat(target) is not None
    if state and not exists:
        raise ArchiveError(
            f"Pruning {release!r} was interrupted and its archive {target} is gone: some "
            "of its files were only in that archive. Restore the archive, then run "
            f"`farm archive release {release} --prune` to finish."
        )
    if state and (force or not prune):  # some files are only in the archive now
        raise ArchiveError(
            f"Pruning {release!r} after archiving it to {target} was interrupted; some of "
            "its files are only in the archive now, so it is not archived again. Run "
            f"`farm archive release {release} --prune` to finish the prune."
        )
    if exists and prune and not force:
        # The archive is there (a run killed after writing it, or an earlier archive): it
        # was checked when written; prune what it holds unchanged, refuse if anything else.
        if dry_run:
            return result
        archived = written_from_archive(volume, release, target)
        result.checked = True
        result.members = len(archived)
        info = state or {"archive": volume.relpath(target), "members": len(archived),
                         "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                         "bytes": os.stat(target).st_size}
        result.pruned = prune_and_mark(volume, release, archived, target, ops, marker, info)
        result.seconds = time.perf_counter() - started
        return result
    if ops.lstat(target) is not None and not force:
        raise ArchiveError(
            f"{target} already exists. Use --force to replace it with a new archive."
        )
    volume.archives_dir.mkdir(exist_ok=True)
    flagged: list[str] = []
    entries = collect(volume, release, flagged)
    result.flagged = flagged
    result.members = len(entries)
    result.files = sum(1 for e in entries if e.kind == tarfile.REGTYPE)
    result.bytes_in = sum(e.st.st_size for e in entries if e.kind == tarfile.REGTYPE)
    if dry_run:
        return result
    manifest = manifest_sums(volume.dist_dir(release), release)
    tmp = volume.archives_dir / f"{TEMP_PREFIX}{release}.tar.gz"
    volume.check_inside(tmp)
    written: dict[str, Written] = {}
    try:
        if ops.lstat(tmp) is not None:
            ops.unlink(tmp)  # left by a killed run
        result.bytes_in, result.bytes_out, result.manifest_files = _write_and_check(
            entries, tmp, release, written, manifest, ops, level,
            threads or min(4, os.cpu_count() or 1), progress)
        result.checked = True
        if ops.lstat(target) is not None and not force:
            raise ArchiveError(f"{target} appeared while archiving; not replaced.")
        ops.rename(tmp, target)
        ops.fsync_dir(target.parent)
    except OSError as exc:
        _remove(tmp)
        raise ArchiveError(
            f"Writing the archive {target} failed: {exc.strerror or exc}. The temporary "
            "archive was removed; nothing was pruned."
        ) from exc
    except BaseException:
        _remove(tmp)
        raise
    if prune:
        info = {"archive": volume.relpath(target), "pruned": False,
                "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "members": result.members, "bytes": result.bytes_out}
        result.pruned = prune_and_mark(volume, release, written, target, ops, marker, info)
    result.seconds = time.perf_counter() - started
    return result


def _write_and_check(entries: list[Entry], tmp: Path, release: str,
                     written: dict[str, Written], manifest: dict[str, str], ops: FileOps,
                     level: int, threads: int, progress: Progress) -> tuple[int, int, int]:
    """Write the archive, then read it back: ``(bytes in, bytes out, manifest files)``.

    The check follows the writing rather than running beside it: both are Python loops, and
    20,000 frames measured no faster in two threads (2.8-3.0 s) than one after the other
    (2.1-2.8 s)."""
    count = len(entries)
    with ops.open_new(tmp) as f:
        progress.start(count, f"Archiving {release}")
        bytes_in, bytes_out = write(entries, f, ops, level, threads, progress, written)
        ops.fsync(f)
    progress.start(count, "Checking the archive")

    def tick() -> None:
        progress.check()
        progress.advance()

    with ops.open_read(tmp) as raw:
        found = check(raw, tmp, release, written, manifest, tick)
    return bytes_in, bytes_out, found


def _remove(tmp: Path) -> None:
    tmp.unlink(missing_ok=True)
