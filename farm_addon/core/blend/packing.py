"""Pack a .blend with all it needs into a store; notice changed sources. No `bpy` module use.

Layout of a store (``releases/<release>/store/`` or ``quick/store/``)::

    <job>.blend                            the source, its dependency paths rewritten to
                                           `//<job>.deps/...`
    <job>.deps/textures/wood.png           a dependency under the source's folder keeps its
                                           path relative to that folder
    <job>.deps/_outside/mnt/lib/metal.png  one elsewhere is stored under its absolute path,
                                           root stripped (a drive letter becomes a folder)
    <job>.deps/lib/props.blend             linked libraries too, their own paths rewritten

Each job has its own ``<job>.deps`` folder, so two jobs in one store never collide, even when
their sources have equal relative paths to different files, and one job can be re-packed or
removed alone. A dependency is stored once per volume all the same: each file in a
``<job>.deps`` folder is a hard link of the volume's pool file for its content
(:mod:`..fs.pool`), so 30 jobs sharing a texture cost one copy of it. The job's own rewritten
.blend and the linked libraries whose paths BAT rewrote are the job's own files. The file
system counts the links; removing or replacing a job sweeps the pool files no job uses any
more. Where the file system refuses hard links, dependencies are copied per job and
:attr:`PackResult.warnings` says so once. All paths inside packed blends are relative
(``//``), so the store works wherever the volume is mounted, on any operating system.

Missing dependencies: a missing linked library is an error (:class:`MissingLibrary`; objects
would silently vanish from the render); any other missing file (a texture, a cache) is
packed without, and listed in :attr:`PackResult.missing` for the caller to warn about:
Blender renders it pink or empty, which an artist may accept for a test.

Packing is atomic: everything is written into a ``.farm-tmp-*`` folder inside the store,
then ``<job>.deps`` and, last, ``<job>.blend`` are renamed into place. On failure or
cancellation nothing is left behind.

Every file packed is stamped (:mod:`.stamps`: size, modification time, SHA-256, computed from
the very bytes copied), so :func:`.stamps.changed_since` can later say which sources changed;
:func:`source_fingerprint` stamps a source and its dependencies as they are now.

BAT here is farm's own instance (:mod:`.bat`): packing changes nothing other add-ons see.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path, PurePath
from typing import Any

from ..errors import Cancelled, FarmError
from ..fs.atomic import TEMP_PREFIX, owner_tag, share_mode, sweep_temps
from ..fs.names import validate_name
from ..fs.pool import Pool, sweep_unused
from ..fs.volume import Volume
from ..progress import Progress
from .bat import bat_session, bpathlib, pack, transfer
from .deps import Dependency, trace_dependencies, usage_kind
from .errors import BadBlendFile, bad_blend, check_file
from .stamps import (
    FileStamp,
    Fingerprint,
    MissingFile,
    PackedFile,
    PackResult,
    copy_stamped,
    stamp,
)

OUTSIDE = "_outside"


class MissingLibrary(BadBlendFile):
    """A linked library of the source does not exist."""


class AlreadyPacked(FarmError):
    """The store already holds a packed blend for this job."""


def _dependency_files(dependencies: Iterable[Dependency]) -> Iterator[Path]:
    """Each file of each dependency; a missing dependency as its own path."""
    for dep in dependencies:
        yield from dep.files() or [dep.path]


def source_fingerprint(source: Path) -> Fingerprint:
    """Stamp ``source`` and every file it depends on (traced with BAT, libraries followed)."""
    source = check_file(source)
    blend = stamp(source.absolute())
    deps = [stamp(path) for path in _dependency_files(trace_dependencies(source))]
    return Fingerprint(blend=blend, dependencies=deps)


# --- packing ----------------------------------------------------------------------------


class _InlineTransferer(transfer.FileTransferer):
    """BAT's transferer without its thread: the packer copies files itself, inline."""

    def start(self) -> None:  # no thread: nothing is ever queued
        pass

    def run(self) -> None:
        pass

    def done_and_join(self) -> None:
        self.done.set()

    def abort_and_join(self) -> None:
        self.abort()


class _Packer(pack.Packer):
    """BAT's Packer with farm's layout, inline copies that stamp what they copy,
    missing files sorted by kind, and farm's progress and cancellation."""

    def __init__(
        self, source: Path, tmp: Path, deps_name: str, progress: Progress, pool: Pool
    ) -> None:
        super().__init__(source, source.parent, str(tmp))
        self.source_dir = source.parent
        self.main_target = tmp / source.name
        self.pool = pool
        self.deps_root = tmp / deps_name
        self.progress = progress
        self.missing: list[MissingFile] = []
        self.packed: list[tuple[Path, Path, str, FileStamp]] = []  # source, copy, kind, stamp
        # Blends whose paths BAT rewrites are stamped before it reads them for rewriting.
        self.stamps: dict[Path, FileStamp] = {source: stamp(source)}
        self.rewritten_from: dict[Path, Path] = {}
        self._kind = "blend"
        self._rewrite_in = tmp / ".rewritten"  # same file system as the store: moves are renames
        self._rewrite_in.mkdir()

    # Every dependency moves into <job>.deps, so every reference gets rewritten.
    def _path_in_project(self, path: Path) -> bool:
        return False

    def _visit_asset(self, asset_path: Path, usage: Any) -> None:
        self.progress.check()
        if not usage.is_sequence and not asset_path.exists():
            self._note_missing(asset_path, usage)
        super()._visit_asset(asset_path, usage)

    def _visit_sequence(self, asset_path: Path, usage: Any) -> None:
        before = len(self.missing_files)
        super()._visit_sequence(asset_path, usage)
        if len(self.missing_files) > before:
            self._note_missing(asset_path, usage)

    def _note_missing(self, asset_path: Path, usage: Any) -> None:
        self.missing.append(MissingFile(
            path=str(asset_path), kind=usage_kind(usage), used_by=str(usage.block.bfile.filepath)
        ))

    def _find_new_paths(self) -> None:
        taken: dict[PurePath, Path] = {}
        for path in self._new_location_paths:
            absolute = bpathlib.make_absolute(path)
            try:
                rel: PurePath = absolute.relative_to(self.source_dir)
            except ValueError:
                rel = PurePath(OUTSIDE, bpathlib.strip_root(absolute))
            if taken.setdefault(rel, absolute) != absolute:
                raise FarmError(
                    f"Two dependencies would be packed to one place: {taken[rel]} and "
                    f"{absolute}. Rename one of them."
                )
            self._actions[path].new_path = self.deps_root / rel

    def _rewrite_paths(self) -> None:
        for path, action in self._actions.items():
            if action.rewrites and path not in self.stamps:
                self.stamps[path] = stamp(path)
        super()._rewrite_paths()

    def _create_file_transferer(self) -> transfer.FileTransferer:
        return _InlineTransferer()

    def _write_info_file(self) -> None:
        """No pack-info.txt: the store has its own layout."""

    def _copy_asset_and_deps(self, asset_path: Path, action: Any) -> None:
        self.progress.check()
        self._kind = usage_kind(action.usages[0]) if action.usages else "blend"
        if action.read_from is not None:
            self.rewritten_from[Path(action.read_from)] = asset_path
        super()._copy_asset_and_deps(asset_path, action)
        self.progress.advance()

    def _send_to_target(self, asset_path: Path, target: PurePath, may_move: bool = False) -> None:
        target = Path(target)
        source = self.rewritten_from.get(asset_path)
        if source is None:  # a plain copy (a pool link for dependencies): stamp its bytes
            shared = self.pool if target != self.main_target else None
            file_stamp = copy_stamped(asset_path, target, shared)
            source = asset_path
        else:  # a blend with rewritten paths: move the rewritten copy in
            file_stamp = self.stamps[source]
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(asset_path, target)
            share_mode(target)  # BAT made it as a private temporary file
        self.packed.append((source, target, self._kind, file_stamp))


def pack_blend(
    source: Path,
    volume: Volume,
    store_dir: Path,
    job_name: str,
    progress: Progress | None = None,
    *,
    replace: bool = False,
    sweep: bool = True,
) -> PackResult:
    """Pack ``source`` and its dependencies as ``store_dir/<job_name>.blend`` (see module doc).

    Raises BadBlendFile for a missing or damaged source, MissingLibrary when a linked
    library is missing, AlreadyPacked when the job is in the store and not ``replace``,
    Cancelled when ``progress`` is cancelled. Nothing is left in the store on failure.
    ``sweep=False``: the caller packing many jobs into one store called :func:`sweep_store`
    once before (a sweep per job would scan a store of 10,000 jobs 10,000 times).
    """
    progress = progress or Progress()
    job_name = validate_name(job_name)
    source = Path(os.path.abspath(check_file(source)))
    store_dir = volume.check_inside(store_dir)
    final_blend = store_dir / f"{job_name}.blend"
    final_deps = store_dir / f"{job_name}.deps"
    if not replace and (final_blend.exists() or final_deps.exists()):
        raise AlreadyPacked(
            f"{volume.relpath(final_blend)} is already packed; replace the job to pack it again."
        )
    store_dir.mkdir(parents=True, exist_ok=True)
    if sweep:
        sweep_store(volume, store_dir)
    progress.message(f"Packing {source.name} as {job_name}")
    tmp = Path(tempfile.mkdtemp(prefix=f"{TEMP_PREFIX}{owner_tag()}-pack-", dir=store_dir))
    tmp_deps = tmp / final_deps.name
    pool = Pool(volume)
    replaced = done = False
    try:
        packed, missing = _pack_into(source, tmp, tmp_deps.name, progress, pool)
        changed = [str(src) for src, _, _, old in packed if not _same_size_and_mtime(src, old)]
        if changed:
            raise FarmError(
                f"{changed[0]} changed while it was being packed; save your work and try again."
            )
        progress.check()
        replaced = _move_into_place(tmp, tmp / source.name, tmp_deps, final_blend, final_deps)
        done = True
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if not done and pool.added:  # what this pack added, no job uses
            sweep_unused(volume, pool.added)
    if replaced:  # the old deps are gone: so are the pool files only they used
        sweep_unused(volume)

    blend_stamp = packed[0][3]
    dependencies = [
        PackedFile(
            **file_stamp.model_dump(),
            kind=kind,
            stored=volume.relpath(final_deps / copy.relative_to(tmp_deps)),
        )
        for _, copy, kind, file_stamp in packed[1:]
    ] + [PackedFile(path=item.path, kind=item.kind) for item in missing]
    return PackResult(
        source=str(source),
        stored_blend=final_blend,
        stored_blend_rel=volume.relpath(final_blend),
        deps_dir=final_deps if final_deps.is_dir() else None,
        source_sha256=blend_stamp.sha256 or "",
        fingerprint=Fingerprint(
            blend=blend_stamp, dependencies=[dep.stamp() for dep in dependencies]
        ),
        dependencies=dependencies,
        missing=missing,
        warnings=pool.warnings,
    )


def _same_size_and_mtime(path: Path, old: FileStamp) -> bool:
    try:
        info = os.stat(path)
    except OSError:
        return False
    return info.st_size == old.size and info.st_mtime_ns == old.mtime_ns


def _pack_into(
    source: Path, tmp: Path, deps_name: str, progress: Progress, pool: Pool
) -> tuple[list[tuple[Path, Path, str, FileStamp]], list[MissingFile]]:
    """Run BAT's packer into ``tmp``: the packed files (the blend first) and the missing ones."""
    with bat_session():
        packer = _Packer(source, tmp, deps_name, progress, pool)
        try:
            _strategise(packer, source)
            libraries = [item.path for item in packer.missing if item.kind == "library"]
            if libraries:
                raise MissingLibrary(
                    f"{source} links to missing "
                    f"{'library' if len(libraries) == 1 else 'libraries'} "
                    + ", ".join(libraries)
                    + ". Its linked objects would be missing from the render; restore the "
                    "file or fix the link in Blender, then try again."
                )
            progress.start(len(packer._actions), f"Packing {source.name}")
            try:
                packer.execute()
            except pack.Aborted as exc:
                raise FarmError(f"Packing {source} failed: {exc}") from exc
        finally:
            packer.close()
    main = tmp / source.name
    packed = sorted(packer.packed, key=lambda entry: entry[1] != main)
    if not packed or packed[0][1] != main:  # pragma: no cover - BAT always packs the blend
        raise FarmError(f"Packing {source} did not produce a blend file.")
    return packed, packer.missing


def _strategise(packer: _Packer, source: Path) -> None:
    """BAT's tracing step, with its errors turned into farm's."""
    try:
        packer.strategise()
    except (FarmError, Cancelled):
        raise
    except Exception as exc:  # not a blend, unreadable, or its bytes are wrong
        raise bad_blend(source, exc) from exc


def _move_into_place(
    tmp: Path, tmp_blend: Path, tmp_deps: Path, final_blend: Path, final_deps: Path
) -> bool:
    """Rename the packed deps folder, then the blend, into the store (the blend last);
    True if an old deps folder was replaced (it is left in ``tmp``)."""
    old_deps = tmp / "old.deps"
    replaced = final_deps.exists()
    if replaced:
        os.replace(final_deps, old_deps)
    try:
        if tmp_deps.exists():
            os.replace(tmp_deps, final_deps)
        os.replace(tmp_blend, final_blend)
    except BaseException:
        if tmp_blend.exists() and final_deps.exists() and not tmp_deps.exists():
            os.replace(final_deps, tmp_deps)
        if old_deps.exists() and not final_deps.exists():
            os.replace(old_deps, final_deps)
        raise
    return replaced


def sweep_store(volume: Volume, store_dir: Path) -> None:
    """Remove what killed packers left in ``store_dir`` (half-done packs) and in the pool (the
    pool files only those packs used, or files they were adding)."""
    if sweep_temps(store_dir):
        sweep_unused(volume)
    else:
        sweep_temps(volume.pool_dir)


def remove_packed(
    volume: Volume, store_dir: Path, job_name: str, *, sweep: bool = True
) -> None:
    """Delete ``<job>.blend`` and ``<job>.deps`` from a store (to undo a plan that failed),
    then (``sweep``) the pool files no job uses any more; a caller removing many jobs may
    pass ``sweep=False`` and call :func:`..fs.pool.sweep_unused` once after."""
    job_name = validate_name(job_name)
    had_deps = False
    for path in (store_dir / f"{job_name}.blend", store_dir / f"{job_name}.deps"):
        if path.is_symlink() or path.is_file():
            volume.check_inside(path.parent)
            path.unlink()
        elif path.is_dir():
            shutil.rmtree(volume.check_inside(path))
            had_deps = True
    if sweep and had_deps:
        sweep_unused(volume)


def pack_warnings(result: PackResult) -> list[str]:
    """Every warning about a pack: the files it lacks, then the packing's own (hard links
    refused). Callers packing many jobs keep each distinct warning once."""
    warning = missing_warning(result)
    return ([warning] if warning else []) + list(result.warnings)


def missing_warning(result: PackResult) -> str | None:
    """A one-line warning about the files a pack lacks, or None."""
    if not result.missing:
        return None
    listed = ", ".join(f"{item.kind} {item.path}" for item in result.missing[:3])
    more = f" and {len(result.missing) - 3} more" if len(result.missing) > 3 else ""
    return (f"{Path(result.source).name} is packed without {listed}{more}; "
            "they will be missing from the render.")
