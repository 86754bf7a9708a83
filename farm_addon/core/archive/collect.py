"""What goes into an archive: the release and its delivery folder, walked. No `bpy` module use.

:func:`collect` lists, depth first and sorted, every member of ``archives/<release>.tar.gz``:
the release folder (``releases/<release>/``: its record, ``store/`` and ``out/``) as
``<release>/...`` and its delivery folder (``dist/<release>/``) as ``<release>/dist/...``.
Symbolic links are listed as links, never followed; one pointing outside the volume is
listed but reported in ``flagged``, and so is a special file (which is skipped). A file with
several names (hard links: jobs sharing a file of the volume's pool) is listed as a file at
its first name and as a hard link to that name (``tarfile.LNKTYPE``) at every later one, so
the archive holds its bytes once.

Also here, as the ground the other archive modules stand on: :class:`ArchiveError`, the
archived marker's name and :class:`Written`, what was written of each member.
"""

from __future__ import annotations

import os
import stat
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from ..errors import FarmError
from ..fs.atomic import TEMP_PREFIX
from ..fs.volume import LOCK_NAME, Volume

ARCHIVED_MARKER = ".farm-archived.json"


class ArchiveError(FarmError):
    """Writing or checking an archive failed; the temporary archive was removed."""


class Stat(NamedTuple):
    """The part of a stat result an archive member needs (a full one weighs ten times more:
    a release has 100,000 members)."""

    st_mode: int
    st_uid: int
    st_gid: int
    st_size: int
    st_mtime_ns: int


def _st(st: os.stat_result) -> Stat:
    return Stat(st.st_mode, st.st_uid, st.st_gid, st.st_size, st.st_mtime_ns)


class Entry(NamedTuple):
    """One member to write: where it is on disk, its member name and what it is."""

    path: str
    name: str  # member name, without a trailing slash
    kind: bytes  # tarfile.REGTYPE, DIRTYPE, SYMTYPE or LNKTYPE
    st: Stat
    linkname: str = ""  # a symbolic link's target; a hard link's: the first member's name


class Written(NamedTuple):
    """What was written of one member (a tuple of plain values: the garbage collector stops
    tracking it, which matters for 100,000 of them)."""

    kind: bytes
    size: int  # of a file's content (a hard link: its target's; the member itself holds none)
    digest: bytes  # SHA-256 of a file's (or a hard link's) content, b"" otherwise
    linkname: str
    mtime_ns: int  # of the file on disk; -1: it no longer matches the archive


#: (st_dev, st_ino) -> member name of the first name seen, for files with several names only.
Inodes = dict[tuple[int, int], str]


def _walk(top: str, prefix: str, skip: Callable[[str], bool], out: list[Entry],
          volume_root: Path, flagged: list[str], inodes: Inodes) -> None:
    """Depth-first, sorted, never following links. Names only are listed (a folder of
    100,000 frames as DirEntry objects would weigh 30 MB); each is lstat-ed once."""
    try:
        names = sorted(os.listdir(top))
    except OSError as exc:
        raise ArchiveError(f"Cannot read {top}: {exc.strerror}. Nothing was archived.") from exc
    base = top + os.sep
    for entry_name in names:
        if skip(entry_name):
            continue
        name = f"{prefix}/{entry_name}"
        path = base + entry_name
        try:
            full = os.lstat(path)
        except FileNotFoundError:
            continue  # gone since it was listed
        st = _st(full)
        if stat.S_ISLNK(st.st_mode):
            target = os.readlink(path)
            out.append(Entry(path, name, tarfile.SYMTYPE, st, target))
            where = os.path.normpath(os.path.join(top, target))
            if not Path(where).is_relative_to(volume_root):
                flagged.append(f"{name} -> {target} (a link pointing outside the volume)")
        elif stat.S_ISDIR(st.st_mode):
            out.append(Entry(path, name, tarfile.DIRTYPE, st))
            _walk(path, name, lambda n: False, out, volume_root, flagged, inodes)
        elif stat.S_ISREG(st.st_mode):
            first = None
            if full.st_nlink > 1:
                key = (full.st_dev, full.st_ino)
                first = inodes.setdefault(key, name)
            if first is None or first == name:
                out.append(Entry(path, name, tarfile.REGTYPE, st))
            else:
                out.append(Entry(path, name, tarfile.LNKTYPE, st, first))
        else:
            flagged.append(f"{name} (not a regular file, folder or link; skipped)")


def collect(volume: Volume, release: str, flagged: list[str]) -> list[Entry]:
    """Every member of the release's archive, in the order they are written."""
    rel_dir = volume.release_dir(release)
    dist = volume.dist_dir(release)
    root = Path(os.path.normpath(volume.root.absolute()))
    entries = [Entry(str(rel_dir), release, tarfile.DIRTYPE, _st(os.lstat(rel_dir)))]

    def skip_release(name: str) -> bool:
        return name in (LOCK_NAME, ARCHIVED_MARKER) or name.startswith(TEMP_PREFIX)

    if (rel_dir / "dist").exists() or (rel_dir / "dist").is_symlink():
        raise ArchiveError(
            f"{rel_dir / 'dist'} is in the way of the archive's {release}/dist/ member; "
            "move it out of the release folder."
        )
    inodes: Inodes = {}
    _walk(str(rel_dir), release, skip_release, entries, root, flagged, inodes)
    if os.path.islink(dist):  # stored as the link it is, like every link; never followed
        target = os.readlink(dist)
        entries.append(Entry(str(dist), f"{release}/dist", tarfile.SYMTYPE, _st(os.lstat(dist)),
                             target))
        if not Path(os.path.normpath(os.path.join(dist.parent, target))).is_relative_to(root):
            flagged.append(f"{release}/dist -> {target} (the delivery folder is a link pointing "
                           "outside the volume; what it points to is not archived)")
    elif os.path.isdir(dist):
        entries.append(Entry(str(dist), f"{release}/dist", tarfile.DIRTYPE, _st(os.lstat(dist))))
        _walk(str(dist), f"{release}/dist", lambda n: n.startswith(TEMP_PREFIX), entries, root,
              flagged, inodes)
    return entries
