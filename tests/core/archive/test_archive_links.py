"""Archives of releases whose jobs share files through hard links: real links on disk, real
.tar.gz files, extracted with GNU tar; the check's refusals; the prune."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import subprocess
import tarfile
from pathlib import Path

import pytest

from farm_addon.core.archive import ArchiveError, archive_release
from farm_addon.core.archive.collect import Written
from farm_addon.core.archive.verify import check
from farm_addon.core.fs.mover import FileOps
from farm_addon.core.fs.volume import Volume
from tests.core.archive.test_archive import expected_members, make_release, read_archive

TEXTURE = 2 << 20  # incompressible bytes every job uses
JOBS = 20
DEEP = "a" * 120 + "/" + "b" * 20 + ".png"  # a first name over 100 bytes: a PAX linkpath


def pool_file(volume: Volume, data: bytes) -> Path:
    sha = hashlib.sha256(data).hexdigest()
    path = volume.root / "pool" / sha[:2] / sha
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def shared_release(tmp_path: Path, deep: bool = False) -> tuple[Volume, Path]:
    """The test release plus JOBS jobs whose .deps/ hold one texture, hard links of one file
    of the volume's pool (outside the release)."""
    volume = make_release(tmp_path, frames=3)
    store = volume.store_dir("spring")
    pooled = pool_file(volume, os.urandom(TEXTURE))
    if deep:
        (store / DEEP).parent.mkdir(parents=True)
        os.link(pooled, store / DEEP)  # sorts before the jobs: the first name
    for i in range(JOBS):
        (store / f"job{i:02d}.blend").write_bytes(b"BLENDER-v300" + os.urandom(2000))
        deps = store / f"job{i:02d}.deps" / "textures"
        deps.mkdir(parents=True)
        os.link(pooled, deps / "wood.png")
    assert pooled.stat().st_nlink == JOBS + 1 + deep
    return volume, pooled


def sha_tree(top: Path) -> dict[str, str]:
    return {p.relative_to(top).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(top.rglob("*")) if p.is_file() and not p.is_symlink()
            and p.name != ".lock"}


def link_members(path: Path) -> list[tarfile.TarInfo]:
    with tarfile.open(path, "r:gz") as tf:
        return [m for m in tf if m.islnk()]


@pytest.mark.parametrize("deep", [False, True])
def test_shared_texture_is_stored_once(tmp_path: Path, deep: bool) -> None:
    volume, _ = shared_release(tmp_path, deep)
    first = DEEP if deep else "job00.deps/textures/wood.png"
    want = expected_members(volume)
    result = archive_release(volume, "spring")
    path = volume.archive_path("spring")
    assert result.checked and read_archive(path) == want
    links = link_members(path)
    assert len(links) == JOBS - 1 + deep
    assert {m.linkname for m in links} == {f"spring/store/{first}"}
    assert all(m.size == 0 for m in links)
    # The texture's bytes once: the archive is one copy and the rest, not JOBS copies.
    every = [p for top in (volume.release_dir("spring"), volume.dist_dir("spring"))
             for p in top.rglob("*")
             if p.is_file() and not p.is_symlink() and p.name != ".lock"]
    distinct = {p.stat().st_ino: p.stat().st_size for p in every}
    assert result.bytes_in == sum(distinct.values())
    assert sum(p.stat().st_size for p in every) > JOBS * TEXTURE
    assert TEXTURE < path.stat().st_size < result.bytes_in + (64 << 10)
    assert result.bytes_in < 2 * TEXTURE + (6 << 20)  # 5 MiB chair.blend, small rest

    # GNU tar restores every path with its content, the shared ones as hard links.
    dest = tmp_path / "restored"
    dest.mkdir()
    subprocess.run(["tar", "-xzf", str(path), "-C", str(dest)], check=True)
    on_disk = sha_tree(volume.release_dir("spring"))
    on_disk |= {f"dist/{k}": v for k, v in sha_tree(volume.dist_dir("spring")).items()}
    assert sha_tree(dest / "spring") == on_disk
    assert len(on_disk) > JOBS * 2
    restored = [dest / "spring/store" / f"job{i:02d}.deps/textures/wood.png"
                for i in range(JOBS)]
    inodes = {p.stat().st_ino for p in restored}
    assert len(inodes) == 1 and restored[0].stat().st_nlink == JOBS + deep
    assert (dest / "spring/store" / first).samefile(restored[-1])


def test_a_release_without_links_has_no_link_members(tmp_path: Path) -> None:
    volume = make_release(tmp_path, frames=3)
    archive_release(volume, "spring")
    assert link_members(volume.archive_path("spring")) == []


def test_a_link_that_stops_being_the_same_file_fails_the_archive(tmp_path: Path) -> None:
    volume, pooled = shared_release(tmp_path)
    victim = volume.store_dir("spring") / "job07.deps/textures/wood.png"

    class Swap(FileOps):
        def read_bytes(self, path: str | os.PathLike[str], limit: int) -> bytes:
            if str(path).endswith("job00.deps/textures/wood.png"):
                data = pooled.read_bytes()
                victim.unlink()
                victim.write_bytes(data)  # the same bytes, another file
            return super().read_bytes(path, limit)

    with pytest.raises(ArchiveError, match=r"job07\.deps/textures/wood\.png changed while"):
        archive_release(volume, "spring", ops=Swap())
    assert list(volume.archives_dir.iterdir()) == []


def test_prune_removes_every_name_and_sweeps_the_pool(tmp_path: Path) -> None:
    volume, pooled = shared_release(tmp_path)
    want = expected_members(volume)
    archive_release(volume, "spring", prune=True)
    assert not volume.store_dir("spring").exists()
    assert read_archive(volume.archive_path("spring")) == want
    assert not pooled.exists()  # only the pruned release used it: the pool was swept


def test_prune_of_an_earlier_archive_knows_its_links(tmp_path: Path) -> None:
    """An archive written first, pruned later: each link is matched to the file on disk."""
    volume, _ = shared_release(tmp_path)
    archive_release(volume, "spring")
    result = archive_release(volume, "spring", prune=True)
    assert {p.name for p in result.pruned} == {"store", "out", "spring"}
    assert not volume.store_dir("spring").exists()


def test_prune_of_an_earlier_archive_refuses_a_changed_link(tmp_path: Path) -> None:
    volume, pooled = shared_release(tmp_path)
    archive_release(volume, "spring")
    victim = volume.store_dir("spring") / "job03.deps/textures/wood.png"
    victim.unlink()
    victim.write_bytes(os.urandom(TEXTURE))  # same size, other content
    with pytest.raises(ArchiveError, match=r"Not pruning.*job03\.deps/textures/wood\.png "
                                           r"changed after it was archived"):
        archive_release(volume, "spring", prune=True)
    assert volume.store_dir("spring").is_dir()
    # The same content as a copy (another inode) matches by its checksum.
    victim.unlink()
    victim.write_bytes(pooled.read_bytes())
    os.utime(victim, ns=(pooled.stat().st_atime_ns, pooled.stat().st_mtime_ns))
    archive_release(volume, "spring", prune=True)
    assert not volume.store_dir("spring").exists()


# The check, on hand-made archives.

ABC = hashlib.sha256(b"abc").digest()
WRITTEN = {
    "spring": Written(tarfile.DIRTYPE, 0, b"", "", 0),
    "spring/a": Written(tarfile.REGTYPE, 3, ABC, "", 0),
    "spring/h": Written(tarfile.LNKTYPE, 3, ABC, "spring/a", 0),
}
D = ("spring", tarfile.DIRTYPE, "")
A = ("spring/a", tarfile.REGTYPE, "abc")
H = ("spring/h", tarfile.LNKTYPE, "spring/a")


def _tgz(members: list[tuple[str, bytes, str]]) -> bytes:
    """A .tar.gz of (name, type, content or link target) members."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, kind, text in members:
            info = tarfile.TarInfo(name)
            info.type = kind
            if kind == tarfile.REGTYPE:
                info.size = len(text)
                tar.addfile(info, io.BytesIO(text.encode()))
            else:
                info.linkname = text
                tar.addfile(info)
    return gzip.compress(buf.getvalue())


def _check(members: list[tuple[str, bytes, str]], written: dict[str, Written] | None = None,
           manifest: dict[str, str] | None = None) -> int:
    return check(io.BytesIO(_tgz(members)), Path("test.tar.gz"), "spring",
                 written or dict(WRITTEN), manifest or {}, lambda: None)


def test_a_good_archive_with_a_link_passes() -> None:
    assert _check([D, A, H]) == 0
    manifest = {"spring/h": ABC.hex(), "spring/a": ABC.hex()}
    assert _check([D, A, H], manifest=manifest) == 2
    with pytest.raises(ArchiveError, match=r"spring/h: SHA-256 differs from the harvest"):
        _check([D, A, H], manifest={"spring/h": "0" * 64})


@pytest.mark.parametrize("members, written, match", [
    ([D, H], None, r"spring/h: hard link to 'spring/a', which is not a file earlier"),
    ([D, H, A], None, r"spring/h: hard link to 'spring/a', which is not a file earlier"),
    ([D, A, H], {**WRITTEN, "spring/h": Written(tarfile.LNKTYPE, 3,
                                                hashlib.sha256(b"xyz").digest(), "spring/a",
                                                0)},
     r"spring/h: content of its hard link's target differs from the file on disk"),
    ([D, A, H], {**WRITTEN, "spring/h": Written(tarfile.LNKTYPE, 4, ABC, "spring/a", 0)},
     r"spring/h: content of its hard link's target differs"),
    ([D, A, ("spring/h", tarfile.LNKTYPE, "other/a")],
     {**WRITTEN, "spring/h": Written(tarfile.LNKTYPE, 3, ABC, "other/a", 0)},
     r"spring/h: hard link to 'other/a', which is outside spring/"),
    ([D, A, ("spring/h", tarfile.LNKTYPE, "spring/../a")],
     {**WRITTEN, "spring/h": Written(tarfile.LNKTYPE, 3, ABC, "spring/../a", 0)},
     r"which is not a safe relative name"),
    ([D, A, ("spring/h", tarfile.LNKTYPE, "spring/b")], None,
     r"spring/h: link target 'spring/b' != 'spring/a'"),
    ([D, A, ("spring/l", tarfile.SYMTYPE, "a"), ("spring/h", tarfile.LNKTYPE, "spring/l")],
     {**WRITTEN, "spring/l": Written(tarfile.SYMTYPE, 0, b"", "a", 0),
      "spring/h": Written(tarfile.LNKTYPE, 3, ABC, "spring/l", 0)},
     r"hard link to 'spring/l', which is not a file earlier"),
    ([D, A, ("spring/h", tarfile.REGTYPE, "abc")], None, r"spring/h: wrong type"),
    ([D, A], None, r"spring/h is missing from the archive"),
])
def test_bad_links_are_refused(members: list[tuple[str, bytes, str]],
                               written: dict[str, Written] | None, match: str) -> None:
    with pytest.raises(ArchiveError, match=match):
        _check(members, written)
