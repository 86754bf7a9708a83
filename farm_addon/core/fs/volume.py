"""The shared volume: its layout, its marker, and path safety. No `bpy` module use.

A farm volume is the folder that Flamenco's Manager and workers share (its "shared
storage"), marked as farm's by a ``.farm-volume.toml`` file at its root. Its layout::

    .farm-volume.toml                    name, unique id, schema version, creation time
    jobs/  file-store/                   Flamenco's own (Shaman checkouts and file store)
    quick/store/<job>.blend              ad-hoc jobs (`farm seed`)
    quick/out/<job>/######.png
    releases/<release>/release.json      the release record (see record.py)
    releases/<release>/store/<job>.blend the packed blends, with <job>.deps/ beside each
    pool/<sha256[:2]>/<sha256>           each shared dependency once; the files in the
                                         <job>.deps/ folders are hard links of these (pool.py)
    releases/<release>/out/<job>/######.png
    dist/<release>/                      harvested, renamed frames and their manifest
    archives/<release>.tar.gz

Every command that writes or deletes goes through :meth:`Volume.check_inside` (or
:meth:`Volume.resolve` for volume-relative paths from a record), which refuses any path that
leads outside the volume, through ``..``, an absolute path or a symbolic link. Records
store volume-relative POSIX paths (:meth:`Volume.relpath`), so machines that mount the
volume at different places, or run different operating systems, read the same record.
"""

from __future__ import annotations

import json
import os
import tomllib
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath, PureWindowsPath

from ..errors import BadInput, FarmError, reports_disk_errors
from .atomic import TEMP_PREFIX, atomic_write_text
from .names import validate_name

MARKER = ".farm-volume.toml"
SCHEMA_VERSION = 1

JOBS = "jobs"
FILE_STORE = "file-store"
QUICK = "quick"
RELEASES = "releases"
DIST = "dist"
ARCHIVES = "archives"
POOL = "pool"
LAYOUT = (JOBS, FILE_STORE, QUICK, RELEASES, DIST, ARCHIVES, POOL)

RECORD_NAME = "release.json"
LOCK_NAME = ".lock"
HARVEST_JOURNAL_NAME = ".farm-harvest-journal.json"  # a harvest under way (harvest/ writes it)

# What a folder may already hold for `farm init` to adopt it: Flamenco's shared storage,
# a half-made farm layout, and what operating systems put on fresh volumes.
_ADOPTABLE = frozenset(LAYOUT) | {"lost+found", ".DS_Store", "Thumbs.db", "desktop.ini"}


def expand_user(path: str | os.PathLike[str]) -> Path:
    """``Path(path).expanduser()``; BadInput (not RuntimeError) when ``~user`` names no user."""
    try:
        return Path(path).expanduser()
    except RuntimeError:
        raise BadInput(
            f"{os.fspath(path)!r} starts with '~', but this machine has no such user's home "
            "folder. Give the full path."
        ) from None


class NotAFarmVolume(BadInput):
    """The path given as the volume is not a farm volume."""


class OutsideVolume(BadInput):
    """A path leads outside the volume."""


@dataclass(frozen=True)
class Volume:
    """An opened farm volume. ``root`` is the path as this machine mounts it (not resolved)."""

    root: Path
    name: str
    id: str
    created: str
    schema_version: int = SCHEMA_VERSION
    _real_root: Path = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_real_root", self.root.resolve())

    # --- creating and opening -----------------------------------------------------------

    @classmethod
    @reports_disk_errors("make the farm volume")
    def init(cls, path: Path | str, name: str | None = None) -> Volume:
        """Make ``path`` a farm volume (or return it if it already is one).

        ``path`` may be missing, empty, or a Flamenco shared storage (holding only
        ``jobs/`` and ``file-store/``); any other content is refused so that farm never
        takes over a folder that holds someone's files.
        """
        root = expand_user(path).absolute()
        if (root / MARKER).is_file():
            volume = cls.open(root)
            if name is not None and name != volume.name:
                raise BadInput(
                    f"{root} is already the farm volume {volume.name!r}; "
                    f"it cannot be renamed to {name!r}."
                )
            volume.ensure_layout()
            return volume
        if root.exists() and not root.is_dir():
            raise BadInput(f"{root} is a file; a farm volume must be a folder.")
        if root.is_dir():
            foreign = sorted(
                entry for entry in os.listdir(root)
                if entry not in _ADOPTABLE and not entry.startswith(TEMP_PREFIX)
            )
            if foreign:
                listed = ", ".join(foreign[:5]) + (" ..." if len(foreign) > 5 else "")
                raise BadInput(
                    f"{root} is not empty (it holds {listed}). farm only makes an empty folder "
                    "or a Flamenco shared storage (jobs/, file-store/) into a farm volume; "
                    "choose such a folder."
                )
        volume_name = validate_name(name if name is not None else root.name, "volume name")
        root.mkdir(parents=True, exist_ok=True)
        volume = cls(
            root=root,
            name=volume_name,
            id=str(uuid.uuid4()),
            created=datetime.now(UTC).isoformat(timespec="seconds"),
        )
        volume.ensure_layout()
        atomic_write_text(root / MARKER, volume._marker_text())  # last: marks a complete layout
        return volume

    @classmethod
    def open(cls, path: Path | str) -> Volume:
        """Open the farm volume at ``path``; NotAFarmVolume if it is not one."""
        root = expand_user(path).absolute()
        marker = root / MARKER
        if not marker.is_file():
            if not root.exists():
                problem = "does not exist"
            elif not root.is_dir():
                problem = "is not a folder"
            else:
                problem = f"is not a farm volume (no {MARKER})"
            raise NotAFarmVolume(
                f"{root} {problem}. Run `farm init {root}` to make it one, "
                "or pass --volume with the right path."
            )
        try:
            data = tomllib.loads(marker.read_text(encoding="utf-8"))
            version = data["schema_version"]
            if not isinstance(version, int):
                raise TypeError("schema_version is not a number")
            if version > SCHEMA_VERSION:
                raise FarmError(
                    f"{root} was made by a newer farm (volume schema {version}; this farm "
                    f"knows {SCHEMA_VERSION}). Update farm to use this volume."
                )
            return cls(
                root=root,
                name=str(data["name"]),
                id=str(data["id"]),
                created=str(data.get("created", "")),
                schema_version=version,
            )
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, KeyError, TypeError) as exc:
            raise FarmError(
                f"The volume marker {marker} is damaged ({exc}). Restore it from a backup, "
                f"or delete it and run `farm init {root}` (the volume gets a new id)."
            ) from exc

    def _marker_text(self) -> str:
        def quoted(value: str) -> str:
            return json.dumps(value, ensure_ascii=False)  # a valid TOML basic string

        return (
            "# This folder is a farm volume: Flamenco shared storage managed by `farm`.\n"
            "# Do not edit or delete this file; farm refuses to write where it is missing.\n"
            f"schema_version = {self.schema_version}\n"
            f"name = {quoted(self.name)}\n"
            f"id = {quoted(self.id)}\n"
            f"created = {quoted(self.created)}\n"
        )

    def ensure_layout(self) -> None:
        """Create whichever top-level folders of the layout are missing."""
        for entry in LAYOUT:
            (self.root / entry).mkdir(exist_ok=True)

    # --- the layout -----------------------------------------------------------------------

    @property
    def marker_path(self) -> Path:
        return self.root / MARKER

    @property
    def jobs_dir(self) -> Path:
        return self.root / JOBS

    @property
    def file_store_dir(self) -> Path:
        return self.root / FILE_STORE

    @property
    def quick_dir(self) -> Path:
        return self.root / QUICK

    @property
    def quick_store_dir(self) -> Path:
        return self.root / QUICK / "store"

    def quick_out_dir(self, job: str) -> Path:
        return self.root / QUICK / "out" / validate_name(job)

    @property
    def releases_dir(self) -> Path:
        return self.root / RELEASES

    @property
    def dist_root(self) -> Path:
        return self.root / DIST

    @property
    def archives_dir(self) -> Path:
        return self.root / ARCHIVES

    @property
    def pool_dir(self) -> Path:
        return self.root / POOL

    def release_dir(self, release: str) -> Path:
        return self.root / RELEASES / validate_name(release, "release name")

    def record_path(self, release: str) -> Path:
        return self.release_dir(release) / RECORD_NAME

    def lock_path(self, release: str) -> Path:
        return self.release_dir(release) / LOCK_NAME

    def store_dir(self, release: str) -> Path:
        return self.release_dir(release) / "store"

    def stored_blend(self, release: str, job: str) -> Path:
        return self.store_dir(release) / f"{validate_name(job)}.blend"

    def out_dir(self, release: str) -> Path:
        return self.release_dir(release) / "out"

    def job_out_dir(self, release: str, job: str) -> Path:
        return self.out_dir(release) / validate_name(job)

    def dist_dir(self, release: str) -> Path:
        return self.root / DIST / validate_name(release, "release name")

    def archive_path(self, release: str) -> Path:
        return self.root / ARCHIVES / f"{validate_name(release, 'release name')}.tar.gz"

    def list_releases(self) -> list[str]:
        """Names of the releases on this volume (folders with a record), sorted."""
        try:
            entries = list(os.scandir(self.releases_dir))
        except FileNotFoundError:
            return []
        return sorted(
            entry.name for entry in entries
            if not entry.name.startswith(".") and entry.is_dir()
            and os.path.isfile(os.path.join(entry.path, RECORD_NAME))
        )

    # --- path safety ----------------------------------------------------------------------

    def resolve(self, relpath: str | PurePosixPath) -> Path:
        """The absolute path of a volume-relative path, refusing any that leads outside.

        Accepts ``/`` or ``\\`` separators. Refuses absolute paths, drive letters, and
        anything that, once ``..`` and symbolic links are followed, is not inside the volume.
        """
        text = str(relpath).replace("\\", "/")
        if PurePosixPath(text).is_absolute() or PureWindowsPath(text).drive or text.startswith("~"):
            raise OutsideVolume(
                f"{str(relpath)!r} is not a volume-relative path; paths in farm's records "
                f"are relative to the volume root {self.root}."
            )
        parts = [part for part in PurePosixPath(text).parts if part not in ("", ".")]
        path = self.root.joinpath(*parts)
        self._require_inside(path, shown=str(relpath))
        return path

    def check_inside(self, path: Path | str, *, allow_root: bool = False) -> Path:
        """Return ``path`` (made absolute) if it is inside the volume; OutsideVolume if not.

        Symbolic links are followed, so a link inside the volume pointing out is refused.
        The root itself is refused unless ``allow_root``: nothing may delete the volume.
        Call this before every write or delete.
        """
        absolute = expand_user(path).absolute()
        real = self._require_inside(absolute, shown=str(path))
        if real == self._real_root and not allow_root:
            raise OutsideVolume(f"Refusing to act on the volume root {self.root} itself.")
        return absolute

    def _require_inside(self, path: Path, shown: str) -> Path:
        real = path.resolve()
        if not real.is_relative_to(self._real_root):
            raise OutsideVolume(
                f"{shown!r} leads outside the farm volume {self.root} (to {real}); "
                "farm only reads and writes inside its volume."
            )
        return real

    def relpath(self, path: Path | str) -> str:
        """``path`` relative to the volume root, with ``/`` separators; OutsideVolume if outside.

        A path under the root as given is taken as is; otherwise it is resolved first (so a
        path through a different mount of the same folder still works).
        """
        absolute = Path(os.path.normpath(expand_user(path).absolute()))
        real = self._require_inside(absolute, shown=str(path))
        if absolute.is_relative_to(self.root):
            return absolute.relative_to(self.root).as_posix()
        return real.relative_to(self._real_root).as_posix()

    def contains(self, path: Path | str) -> bool:
        """True if ``path`` is inside the volume (see :meth:`check_inside`)."""
        try:
            self.check_inside(path, allow_root=True)
        except OutsideVolume:
            return False
        return True
