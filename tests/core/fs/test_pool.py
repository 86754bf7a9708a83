"""The volume's content-addressed pool: real files, real hard links."""

from __future__ import annotations

import errno
import hashlib
import os
from pathlib import Path

import pytest

from farm_addon.core.fs import pool as pool_module
from farm_addon.core.fs.atomic import TEMP_PREFIX, owner_tag
from farm_addon.core.fs.pool import Pool, pool_path, store_linked, sweep_unused
from farm_addon.core.fs.volume import LAYOUT, Volume


@pytest.fixture
def volume(tmp_path: Path) -> Volume:
    return Volume.init(tmp_path / "volume", name="test")


def _source(tmp_path: Path, data: bytes = b"texture bytes" * 1000) -> tuple[Path, str]:
    path = tmp_path / "wood.png"
    path.write_bytes(data)
    return path, hashlib.sha256(data).hexdigest()


def _pool_files(volume: Volume) -> list[Path]:
    return sorted(p for p in volume.pool_dir.rglob("*") if p.is_file())


def test_pool_is_part_of_the_layout(tmp_path: Path, volume: Volume) -> None:
    assert "pool" in LAYOUT
    assert volume.pool_dir == volume.root / "pool"
    assert volume.pool_dir.is_dir()
    # An existing volume made before the pool: `farm init` accepts it and adds the pool.
    volume.pool_dir.rmdir()
    assert Volume.init(volume.root).pool_dir.is_dir()


def test_store_linked_shares_one_inode(tmp_path: Path, volume: Volume) -> None:
    source, sha = _source(tmp_path)
    store = volume.store_dir("r")
    targets = [store / f"job{i}.deps" / "textures" / "wood.png" for i in range(3)]
    pool = Pool(volume)
    assert all(store_linked(volume, source, target, sha, pool) for target in targets)
    pooled = pool_path(volume, sha)
    assert pooled == volume.pool_dir / sha[:2] / sha
    assert pooled.read_bytes() == source.read_bytes()
    inodes = {os.stat(p).st_ino for p in [*targets, pooled]}
    assert len(inodes) == 1
    assert pooled.stat().st_nlink == 4
    assert pool.warnings == []
    assert pool.added == [sha]
    assert not list(volume.pool_dir.glob(f"{TEMP_PREFIX}*"))


def test_store_linked_refuses_content_that_is_not_the_sha(tmp_path: Path, volume: Volume) -> None:
    source, _ = _source(tmp_path)
    target = volume.store_dir("r") / "job.deps" / "wood.png"
    with pytest.raises(ValueError):
        store_linked(volume, source, target, "0" * 64)
    assert not target.exists()
    assert _pool_files(volume) == []


def test_two_pools_adding_the_same_content_keep_one_copy(tmp_path: Path, volume: Volume) -> None:
    source, sha = _source(tmp_path)
    first, second = Pool(volume), Pool(volume)
    a = volume.store_dir("r") / "a.deps" / "wood.png"
    b = volume.store_dir("r") / "b.deps" / "wood.png"
    # Both found the pool without the file; the second adopts after the first.
    temp_a, temp_b = first.new_temp(), second.new_temp()
    temp_a.write_bytes(source.read_bytes())
    temp_b.write_bytes(source.read_bytes())
    assert first.adopt(temp_a, sha, a)
    assert second.adopt(temp_b, sha, b)
    assert os.stat(a).st_ino == os.stat(b).st_ino == os.stat(pool_path(volume, sha)).st_ino
    assert not temp_a.exists() and not temp_b.exists()
    assert pool_path(volume, sha).stat().st_nlink == 3


def test_sweep_removes_only_unused_files_and_dead_temps(tmp_path: Path, volume: Volume) -> None:
    used, used_sha = _source(tmp_path, b"used")
    (tmp_path / "other").mkdir()
    unused, unused_sha = _source(tmp_path / "other", b"unused")
    keep = volume.store_dir("r") / "a.deps" / "used.png"
    gone = volume.store_dir("r") / "b.deps" / "unused.png"
    store_linked(volume, used, keep, used_sha)
    store_linked(volume, unused, gone, unused_sha)
    gone.unlink()
    host = owner_tag().rpartition("@")[0]
    (volume.pool_dir / f"{TEMP_PREFIX}{host}@999999999-abcd-add").write_bytes(b"half")
    live = volume.pool_dir / f"{TEMP_PREFIX}{owner_tag()}-abcd-add"
    live.write_bytes(b"being written")

    assert sweep_unused(volume) == 2  # the unused file and the dead process's temp
    assert pool_path(volume, used_sha).is_file()
    assert not pool_path(volume, unused_sha).exists()
    assert not (volume.pool_dir / unused_sha[:2]).exists() or unused_sha[:2] == used_sha[:2]
    assert live.exists()  # a running process's temp stays
    assert keep.read_bytes() == b"used"
    keep.unlink()
    assert sweep_unused(volume, [used_sha]) == 1
    assert _pool_files(volume) == [live]
    assert sweep_unused(volume) == 0


def test_sweep_of_a_volume_without_pool(volume: Volume) -> None:
    volume.pool_dir.rmdir()
    assert sweep_unused(volume) == 0


@pytest.mark.parametrize("code", [errno.EXDEV, errno.EPERM, errno.EOPNOTSUPP])
def test_refused_links_copy_and_warn_once(
    tmp_path: Path, volume: Volume, monkeypatch: pytest.MonkeyPatch, code: int
) -> None:
    def refuse(src: object, dst: object, **kwargs: object) -> None:
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(pool_module.os, "link", refuse)
    source, sha = _source(tmp_path)
    pool = Pool(volume)
    targets = [volume.store_dir("r") / f"j{i}.deps" / "wood.png" for i in range(4)]
    assert not any(store_linked(volume, source, target, sha, pool) for target in targets)
    assert all(t.read_bytes() == source.read_bytes() and t.stat().st_nlink == 1 for t in targets)
    assert len(pool.warnings) == 1
    assert "refuses hard links" in pool.warnings[0]
    assert _pool_files(volume) == []


def test_too_many_links_copies_that_file(
    tmp_path: Path, volume: Volume, monkeypatch: pytest.MonkeyPatch
) -> None:
    source, sha = _source(tmp_path)
    first = volume.store_dir("r") / "a.deps" / "wood.png"
    assert store_linked(volume, source, first, sha)
    real_link = os.link

    def full(src: object, dst: object, **kwargs: object) -> None:
        if Path(str(src)) == pool_path(volume, sha):
            raise OSError(errno.EMLINK, os.strerror(errno.EMLINK))
        real_link(src, dst)  # type: ignore[arg-type]

    monkeypatch.setattr(pool_module.os, "link", full)
    pool = Pool(volume)
    others = [volume.store_dir("r") / f"{n}.deps" / "wood.png" for n in "bc"]
    for target in others:
        store_linked(volume, source, target, sha, pool)
        assert target.read_bytes() == source.read_bytes()
    assert len(pool.warnings) == 1 and "as many hard links" in pool.warnings[0]
    assert not pool.links_refused  # other files may still link


def test_a_failed_copy_leaves_no_pool_file(
    tmp_path: Path, volume: Volume, monkeypatch: pytest.MonkeyPatch
) -> None:
    source, sha = _source(tmp_path)

    def broken(*args: object) -> str:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pool_module, "_copy_hashing", broken)
    with pytest.raises(OSError):
        store_linked(volume, source, volume.store_dir("r") / "a.deps" / "wood.png", sha)
    assert list(volume.pool_dir.rglob("*")) == []
