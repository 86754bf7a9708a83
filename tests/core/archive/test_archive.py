"""Archives: real .tar.gz files, read back with tarfile and GNU tar; faults; prune."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import subprocess
import tarfile
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import pytest

from farm_addon.core import cli
from farm_addon.core.archive import gzwrite, verify
from farm_addon.core.archive.run import ArchiveError, archive_release
from farm_addon.core.errors import BadInput, Cancelled
from farm_addon.core.fs.mover import FileOps
from farm_addon.core.fs.volume import HARVEST_JOURNAL_NAME as JOURNAL_NAME
from farm_addon.core.fs.volume import Volume
from farm_addon.core.progress import Progress
from farm_addon.core.release.record import RecordStore
from tests.emulator.pngwrite import frame_colour, png_bytes

LONG = "d" * 120 + "/" + "f" * 130  # > 100 bytes, > 256 in all: PAX headers


def make_release(root: Path, name: str = "spring", frames: int = 30) -> Volume:
    volume = Volume.init(root / "vol")
    with RecordStore(volume).transaction(name, create=True):
        pass
    rel = volume.release_dir(name)
    store = volume.store_dir(name)
    (store / "chair.deps").mkdir(parents=True)
    (store / "chair.blend").write_bytes(b"BLENDER-v300" + os.urandom(5 << 20))  # > 4 MiB
    (store / "chair.deps" / "wood.png").write_bytes(png_bytes(16, 16))
    (store / "chair.deps" / "empty.txt").write_bytes(b"")
    (store / "chair.deps" / "caf\u00e9 \u2603.txt").write_text("unicode")
    long = store / LONG
    long.parent.mkdir(parents=True)
    long.write_text("long")
    os.symlink("chair.blend", store / "inside-link")
    os.symlink("/etc/hostname", store / "outside-link")
    out = volume.job_out_dir(name, "chair")
    out.mkdir(parents=True)
    for f in range(1, frames + 1):
        (out / f"{f:06d}.png").write_bytes(png_bytes(8, 8, frame_colour(f)))
    (volume.job_out_dir(name, "empty")).mkdir()
    dist = volume.dist_dir(name)
    dist.mkdir(parents=True)
    files = []
    for f in range(1, 4):
        data = png_bytes(8, 8, frame_colour(100 + f))
        (dist / f"chair_{f:04d}.png").write_bytes(data)
        files.append({"name": f"chair_{f:04d}.png", "sha256": hashlib.sha256(data).hexdigest(),
                      "size": len(data), "job": "chair", "revision": 1, "frame": f})
    (dist / "manifest.json").write_text(json.dumps({"schema": 1, "files": files,
                                                    "superseded": []}))
    assert (rel / "release.json").is_file()
    return volume


def expected_members(volume: Volume, name: str = "spring") -> dict[str, tuple[str, bytes]]:
    """member name -> (kind, content or link target) from the disk."""
    out: dict[str, tuple[str, bytes]] = {name: ("dir", b"")}
    for top, prefix in ((volume.release_dir(name), name),
                        (volume.dist_dir(name), f"{name}/dist")):
        if top != volume.release_dir(name):
            out[prefix] = ("dir", b"")
        for p in sorted(top.rglob("*")):
            if p.name == ".lock":
                continue
            m = f"{prefix}/{p.relative_to(top).as_posix()}"
            if p.is_symlink():
                out[m] = ("sym", os.readlink(p).encode())
            elif p.is_dir():
                out[m] = ("dir", b"")
            else:
                out[m] = ("file", p.read_bytes())
    return out


def read_archive(path: Path) -> dict[str, tuple[str, bytes]]:
    found: dict[str, tuple[str, bytes]] = {}
    with tarfile.open(path, "r:gz") as tf:
        for m in tf:
            assert not m.name.startswith("/") and ".." not in m.name.split("/")
            if m.issym():
                found[m.name] = ("sym", m.linkname.encode())
            elif m.isdir():
                found[m.name] = ("dir", b"")
            else:
                f = tf.extractfile(m)
                assert f is not None
                found[m.name] = ("file", f.read())
    return found


def test_archive_round_trip(tmp_path: Path) -> None:
    volume = make_release(tmp_path)
    want = expected_members(volume)
    result = archive_release(volume, "spring")
    path = volume.archive_path("spring")
    assert result.checked and path.is_file() and result.path == path
    assert result.manifest_files == 3
    assert read_archive(path) == want
    assert result.members == len(want)
    assert result.flagged == ["spring/store/outside-link -> /etc/hostname "
                              "(a link pointing outside the volume)"]
    assert not list(volume.archives_dir.glob(".farm-tmp-*"))
    # GNU tar and gzip read it too, with the same names.
    subprocess.run(["gzip", "-t", str(path)], check=True)
    listing = subprocess.run(["tar", "tzf", str(path)], check=True, capture_output=True,
                             text=True).stdout.splitlines()
    assert {n.rstrip("/") for n in listing} == set(want)
    dest = tmp_path / "x"
    dest.mkdir()
    subprocess.run(["tar", "xzf", str(path), "-C", str(dest)], check=True)
    assert (dest / "spring/store" / LONG).read_text() == "long"
    assert os.readlink(dest / "spring/store/outside-link") == "/etc/hostname"
    # Nothing was removed without --prune.
    assert volume.store_dir("spring").is_dir() and volume.dist_dir("spring").is_dir()


def test_existing_archive_refused_unless_force(tmp_path: Path) -> None:
    volume = make_release(tmp_path)
    path = volume.archive_path("spring")
    path.write_bytes(b"old archive")
    with pytest.raises(ArchiveError, match=r"already exists\. Use --force") as exc:
        archive_release(volume, "spring")
    assert exc.value.exit_code == 1
    assert path.read_bytes() == b"old archive"
    archive_release(volume, "spring", force=True)
    assert read_archive(path) == expected_members(volume)


def test_unknown_release(tmp_path: Path) -> None:
    volume = make_release(tmp_path)
    with pytest.raises(BadInput, match=r"no release 'autumn'.*spring") as exc:
        archive_release(volume, "autumn")
    assert exc.value.exit_code == 2
    with pytest.raises(BadInput):
        archive_release(volume, "../escape")


class FullDisk(FileOps):
    """ENOSPC at the n-th write."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.calls = 0

    def write(self, f: BinaryIO, data: bytes) -> None:
        self.calls += 1
        if self.calls >= self.n:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        super().write(f, data)


@pytest.mark.parametrize("n", [1, 2, 5])
def test_full_disk(tmp_path: Path, n: int) -> None:
    volume = make_release(tmp_path)
    want = expected_members(volume)
    with pytest.raises(ArchiveError) as exc:
        archive_release(volume, "spring", prune=True, ops=FullDisk(n))
    msg = str(exc.value)
    assert "No space left on device" in msg and "temporary archive was removed" in msg
    assert "nothing was pruned" in msg
    assert list(volume.archives_dir.iterdir()) == []
    assert expected_members(volume) == want


def test_damaged_write_is_caught_by_the_check(tmp_path: Path) -> None:
    class Flip(FileOps):
        calls = 0

        def write(self, f: BinaryIO, data: bytes) -> None:
            self.calls += 1
            if self.calls == 4 and len(data) > 100:
                data = data[:50] + bytes([data[50] ^ 0x55]) + data[51:]
            super().write(f, data)

    volume = make_release(tmp_path)
    with pytest.raises(ArchiveError, match=r"damaged|did not pass"):
        archive_release(volume, "spring", prune=True, ops=Flip())
    assert list(volume.archives_dir.iterdir()) == []
    assert volume.store_dir("spring").is_dir()


def test_manifest_mismatch(tmp_path: Path) -> None:
    volume = make_release(tmp_path)
    (volume.dist_dir("spring") / "chair_0002.png").write_bytes(png_bytes(9, 9))
    with pytest.raises(ArchiveError, match=r"chair_0002\.png: SHA-256 differs from the harvest"):
        archive_release(volume, "spring")
    (volume.dist_dir("spring") / "chair_0002.png").unlink()
    with pytest.raises(ArchiveError, match="in the harvest manifest but not in dist"):
        archive_release(volume, "spring")
    assert list(volume.archives_dir.iterdir()) == []


def test_interrupted_harvest_refused(tmp_path: Path) -> None:
    volume = make_release(tmp_path)
    (volume.release_dir("spring") / JOURNAL_NAME).write_text("{}")
    with pytest.raises(ArchiveError, match="harvest of 'spring' was interrupted"):
        archive_release(volume, "spring")


def test_prune(tmp_path: Path) -> None:
    volume = make_release(tmp_path)
    want = expected_members(volume)
    result = archive_release(volume, "spring", prune=True)
    rel = volume.release_dir("spring")
    assert sorted(p.name for p in rel.iterdir()) == [".farm-archived.json", ".lock",
                                                      "release.json"]
    assert not volume.dist_dir("spring").exists()
    assert {p.name for p in result.pruned} == {"store", "out", "spring"}
    assert read_archive(volume.archive_path("spring")) == want
    assert (tmp_path / "vol").is_dir() and Path("/etc/hostname").exists()
    RecordStore(volume).load("spring")  # the record stays
    with pytest.raises(ArchiveError, match="pruned; its files are only in the archive"):
        archive_release(volume, "spring", force=True)


def test_prune_refuses_when_files_changed(tmp_path: Path) -> None:
    class Touch(FileOps):
        def rename(self, src: Path, dst: Path) -> None:
            super().rename(src, dst)
            if dst.suffix == ".gz":  # after the check, before the prune
                late = volume.job_out_dir("spring", "chair") / "000999.png"
                late.write_bytes(png_bytes())

    volume = make_release(tmp_path)
    with pytest.raises(ArchiveError, match=r"Not pruning.*000999\.png appeared"):
        archive_release(volume, "spring", prune=True, ops=Touch())
    assert volume.archive_path("spring").is_file()
    assert volume.store_dir("spring").is_dir()


def test_cancel_removes_temporary_archive(tmp_path: Path) -> None:
    class CancelAt(Progress):
        def on_update(self) -> None:
            if self.done == 10:
                self.cancel()

    volume = make_release(tmp_path)
    with pytest.raises(Cancelled):
        archive_release(volume, "spring", prune=True, progress=CancelAt())
    assert list(volume.archives_dir.iterdir()) == []
    assert volume.store_dir("spring").is_dir()


def test_dry_run(tmp_path: Path) -> None:
    volume = make_release(tmp_path)
    result = archive_release(volume, "spring", prune=True, dry_run=True)
    assert result.dry_run and result.members == len(expected_members(volume))
    assert list(volume.archives_dir.iterdir()) == []


def test_memory_stays_flat(tmp_path: Path) -> None:
    volume = make_release(tmp_path, frames=2)
    big = volume.store_dir("spring") / "big"
    big.mkdir()
    for i in range(4):
        (big / f"{i}.bin").write_bytes(os.urandom(16 << 20))
    tracemalloc.start()
    try:
        archive_release(volume, "spring")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 24 << 20, peak  # 64 MiB of data, blocks of 1 MiB in flight


def test_precompressed_members_are_stored(tmp_path: Path) -> None:
    """PNG data goes in as deflate stored blocks (big ones in many), the rest compressed;
    the result is one standard gzip stream that every reader reads back."""
    volume = make_release(tmp_path, frames=5)
    big = volume.store_dir("spring") / "chair.deps"
    (big / "plate.png").write_bytes(os.urandom(5 << 20) + b"x")  # > 4 MiB: read in pieces
    (big / "tile.PNG").write_bytes(os.urandom(70_000))  # > one stored block
    (big / "notes.txt").write_bytes(b"compressible " * 50_000)
    archive_release(volume, "spring")
    path = volume.archive_path("spring")
    assert read_archive(path) == expected_members(volume)
    subprocess.run(["gzip", "-t", str(path)], check=True)
    assert gzwrite.precompressed("a/b.PNG") and not gzwrite.precompressed("png/x")
    # The text compressed, the random PNG data did not grow much.
    assert path.stat().st_size < (5 << 20) + 70_000 + (6 << 20)


def test_gzip_levels(tmp_path: Path) -> None:
    volume = make_release(tmp_path)
    for level in (0, 6, 9):
        archive_release(volume, "spring", force=True, level=level, threads=1)
        assert read_archive(volume.archive_path("spring")) == expected_members(volume)


def test_member_names_are_checked() -> None:
    assert verify.unsafe_member("spring/out/x.png", "spring") is None
    for bad in ("/spring/x", "spring/../x", "other/x", "spring//x", "spring\\x"):
        assert verify.unsafe_member(bad, "spring")


@pytest.fixture
def farm_cli(monkeypatch: pytest.MonkeyPatch) -> Callable[..., int]:
    mine = tuple(v for v in ("harvest", "archive") if v not in cli.VERB_MODULES)
    monkeypatch.setattr(cli, "VERB_MODULES", (*cli.VERB_MODULES, *mine))
    return lambda *argv: cli.main(list(argv))


def test_cli_archive(tmp_path: Path, farm_cli: Callable[..., int],
                     capsys: pytest.CaptureFixture[str]) -> None:
    volume = make_release(tmp_path)
    vol = ["--volume", str(volume.root)]
    assert farm_cli(*vol, "--dry-run", "archive", "release", "spring") == 0
    assert "would be archived" in capsys.readouterr().out
    assert farm_cli(*vol, "archive", "release", "spring") == 0
    captured = capsys.readouterr()
    assert "read back and checked (3 files of the harvest manifest)" in captured.out
    assert "outside-link" in captured.out
    assert farm_cli(*vol, "archive", "release", "spring") == 1
    assert "already exists" in capsys.readouterr().err
    assert farm_cli(*vol, "--json", "archive", "release", "spring", "--force", "--prune") == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["ok"] and doc["checked"] and len(doc["pruned"]) == 3
    assert farm_cli(*vol, "archive", "release", "nope") == 2
    shutil.rmtree(tmp_path / "vol")
