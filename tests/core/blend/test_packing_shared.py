"""Jobs that share dependencies store them once per volume: real .blend files, real links."""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
from pathlib import Path

import pytest

from farm_addon.core.blend.deps import trace_dependencies
from farm_addon.core.blend.packing import (
    pack_blend,
    pack_warnings,
    remove_packed,
)
from farm_addon.core.blend.stamps import changed_since
from farm_addon.core.fs import pool as pool_module
from farm_addon.core.fs.pool import pool_path, sweep_unused
from farm_addon.core.fs.volume import Volume
from tests import blendgen

TEXTURE_BYTES = 4 << 20
JOBS = 30


@pytest.fixture
def shots(blends: dict[str, Path], tmp_path: Path) -> list[Path]:
    """30 .blend files in one folder, all using //textures/wood.png (4 MB) and metal.png."""
    first = blendgen.copy_kind(blends["textured"], tmp_path / "artist")
    wood = first.parent / "textures" / "wood.png"
    wood.write_bytes(os.urandom(TEXTURE_BYTES))
    shots = [first]
    for i in range(1, JOBS):
        shots.append(first.with_name(f"shot{i:02}.blend"))
        shutil.copyfile(first, shots[-1])
    return shots


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _disk_bytes(*folders: Path) -> int:
    """Bytes on disk under ``folders``, each inode counted once (what `du` counts)."""
    seen: dict[tuple[int, int], int] = {}
    for folder in folders:
        for path in folder.rglob("*"):
            info = path.lstat()
            if path.is_file():
                seen[(info.st_dev, info.st_ino)] = info.st_blocks * 512
    return sum(seen.values())


def _pool_files(volume: Volume) -> list[Path]:
    return [p for p in volume.pool_dir.rglob("*") if p.is_file()]


def _pack_all(volume: Volume, shots: list[Path], store: Path) -> list[str]:
    warnings: list[str] = []
    for i, shot in enumerate(shots):
        for warning in pack_warnings(pack_blend(shot, volume, store, f"job{i:02}")):
            if warning not in warnings:
                warnings.append(warning)
    return warnings


def test_thirty_jobs_store_a_shared_texture_once(volume: Volume, shots: list[Path]) -> None:
    store = volume.store_dir("spring")
    assert _pack_all(volume, shots, store) == []
    wood = shots[0].parent / "textures" / "wood.png"
    copies = [store / f"job{i:02}.deps" / "textures" / "wood.png" for i in range(JOBS)]
    pooled = pool_path(volume, _sha256(wood))
    assert {os.stat(p).st_ino for p in [*copies, pooled]} == {pooled.stat().st_ino}
    assert pooled.stat().st_nlink == JOBS + 1
    blends = sum(p.stat().st_size for p in store.glob("*.blend"))
    # About one copy of the texture plus the blends (not 30 copies: 120 MB).
    assert _disk_bytes(store, volume.pool_dir) < TEXTURE_BYTES * 1.1 + blends * 2 + (1 << 20)
    assert len(_pool_files(volume)) == 2  # wood.png and metal.png
    # Every packed blend still refers only to its own //<job>.deps/ files, which resolve.
    for i in (0, JOBS - 1):
        deps = trace_dependencies(store / f"job{i:02}.blend")
        assert deps and all(
            dep.written_as.startswith(f"//job{i:02}.deps/") and dep.exists for dep in deps)
    # The job's own blend is never shared.
    assert all(p.stat().st_nlink == 1 for p in store.glob("*.blend"))


def test_removing_jobs_never_removes_what_another_uses(volume: Volume, shots: list[Path]) -> None:
    store = volume.store_dir("spring")
    _pack_all(volume, shots[:3], store)
    wood = shots[0].parent / "textures" / "wood.png"
    pooled = pool_path(volume, _sha256(wood))
    remove_packed(volume, store, "job00")
    assert pooled.stat().st_nlink == 3
    for job in ("job01", "job02"):
        assert (store / f"{job}.deps" / "textures" / "wood.png").read_bytes() == wood.read_bytes()
    remove_packed(volume, store, "job01")
    remove_packed(volume, store, "job02")
    assert _pool_files(volume) == []
    assert sweep_unused(volume) == 0


def test_replacing_a_job_sweeps_its_old_files(volume: Volume, shots: list[Path]) -> None:
    store = volume.store_dir("spring")
    first = pack_blend(shots[0], volume, store, "job00")
    pack_blend(shots[1], volume, store, "job01")
    wood = shots[0].parent / "textures" / "wood.png"
    old = pool_path(volume, _sha256(wood))
    assert changed_since(first.fingerprint) == []
    wood.write_bytes(os.urandom(TEXTURE_BYTES))  # changed after planning: both jobs are stale
    stale = [str(wood)]
    assert changed_since(first.fingerprint) == stale
    new = pool_path(volume, _sha256(wood))

    pack_blend(shots[0], volume, store, "job00", replace=True)
    assert old.stat().st_nlink == 2  # job01 still uses the old content
    assert new.stat().st_nlink == 2
    assert (store / "job01.deps" / "textures" / "wood.png").stat().st_ino == old.stat().st_ino
    pack_blend(shots[1], volume, store, "job01", replace=True)
    assert not old.exists()
    assert new.stat().st_nlink == 3


def test_refused_links_copy_per_job_and_warn_once(
    volume: Volume, shots: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(src: object, dst: object, **kwargs: object) -> None:
        raise OSError(errno.EXDEV, os.strerror(errno.EXDEV))

    monkeypatch.setattr(pool_module.os, "link", refuse)
    store = volume.store_dir("spring")
    warnings = _pack_all(volume, shots[:3], store)
    assert len(warnings) == 1 and "refuses hard links" in warnings[0]
    wood = shots[0].parent / "textures" / "wood.png"
    for i in range(3):
        copy = store / f"job{i:02}.deps" / "textures" / "wood.png"
        assert copy.read_bytes() == wood.read_bytes() and copy.stat().st_nlink == 1
    assert _pool_files(volume) == []
    result = pack_blend(shots[3], volume, store, "job03")
    assert len(result.warnings) == 1  # once per pack, not once per file
    assert changed_since(result.fingerprint) == []


def test_a_failed_pack_leaves_no_pool_file(
    volume: Volume, shots: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from farm_addon.core.blend import packing

    def fail(*args: object) -> bool:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(packing, "_move_into_place", fail)
    with pytest.raises(OSError):
        pack_blend(shots[0], volume, volume.store_dir("spring"), "job00")
    assert _pool_files(volume) == []
    assert not list(volume.store_dir("spring").iterdir())
