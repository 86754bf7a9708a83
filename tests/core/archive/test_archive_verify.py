"""The archive check (tarfile over GzipFile): every kind of damage it must catch; the run's
summary; the garbage collector left alone."""

from __future__ import annotations

import gc
import gzip
import hashlib
import io
import tarfile
from pathlib import Path

import pytest

from farm_addon.core.archive import ArchiveError, ArchiveResult, archive_release
from farm_addon.core.archive.collect import Written
from farm_addon.core.archive.verify import check
from farm_addon.core.progress import Progress
from tests.core.archive.test_archive import make_release

ABC = hashlib.sha256(b"abc").digest()
WRITTEN = {
    "spring": Written(tarfile.DIRTYPE, 0, b"", "", 0),
    "spring/a": Written(tarfile.REGTYPE, 3, ABC, "", 0),
    "spring/l": Written(tarfile.SYMTYPE, 0, b"", "a", 0),
}


def _tar(members: list[tuple[str, bytes, str | bytes]], tail: bytes = b"") -> bytes:
    """A tar stream of (name, type, data or link target) members, ``tail`` after its end."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, kind, data in members:
            info = tarfile.TarInfo(name)
            info.type = kind
            if kind == tarfile.SYMTYPE:
                assert isinstance(data, str)
                info.linkname = data
                tar.addfile(info)
            elif kind == tarfile.REGTYPE:
                assert isinstance(data, bytes)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                tar.addfile(info)
    return buf.getvalue() + tail


GOOD = [("spring", tarfile.DIRTYPE, b""), ("spring/a", tarfile.REGTYPE, b"abc"),
        ("spring/l", tarfile.SYMTYPE, "a")]


def _check(data: bytes, manifest: dict[str, str] | None = None) -> int:
    return check(io.BytesIO(data), Path("test.tar.gz"), "spring", dict(WRITTEN),
                 manifest or {}, lambda: None)


def test_a_good_archive_passes() -> None:
    assert _check(gzip.compress(_tar(GOOD))) == 0
    assert _check(gzip.compress(_tar(GOOD)), {"spring/a": ABC.hex()}) == 1


@pytest.mark.parametrize("members, match", [
    (GOOD[:2], r"spring/l is missing"),
    ([*GOOD, ("spring/b", tarfile.REGTYPE, b"x")], r"'spring/b' was not written"),
    ([*GOOD, ("spring/a", tarfile.REGTYPE, b"abc")], r"'spring/a' appears twice"),
    ([*GOOD, ("spring/../x", tarfile.REGTYPE, b"x")], r"not a safe relative name"),
    ([*GOOD, ("other/x", tarfile.REGTYPE, b"x")], r"is outside spring/"),
    ([GOOD[0], ("spring/a", tarfile.REGTYPE, b"abd"), GOOD[2]], r"spring/a: content differs"),
    ([GOOD[0], ("spring/a", tarfile.SYMTYPE, "abc"), GOOD[2]], r"spring/a: wrong type"),
    ([*GOOD[:2], ("spring/l", tarfile.SYMTYPE, "b")], r"spring/l: link target 'b' != 'a'"),
])
def test_every_member_is_checked(members: list[tuple[str, bytes, str | bytes]],
                                 match: str) -> None:
    with pytest.raises(ArchiveError, match=match):
        _check(gzip.compress(_tar(members)))


def test_manifest_sums_are_checked() -> None:
    with pytest.raises(ArchiveError, match="differs from the harvest manifest"):
        _check(gzip.compress(_tar(GOOD)), {"spring/a": "0" * 64})
    with pytest.raises(ArchiveError, match="in the harvest manifest but not in dist"):
        _check(gzip.compress(_tar(GOOD)), {"spring/dist/gone.png": "0" * 64})


def test_damage_to_the_stream_is_caught() -> None:
    good = gzip.compress(_tar(GOOD))
    with pytest.raises(ArchiveError, match=r"truncated|did not pass"):
        _check(good[:len(good) // 2])
    with pytest.raises(ArchiveError, match="truncated"):
        _check(good[:-4])  # the gzip trailer cut
    crc = bytearray(good)
    crc[-8] ^= 0xFF  # the CRC-32 of the trailer
    with pytest.raises(ArchiveError, match="damaged"):
        _check(bytes(crc))
    with pytest.raises(ArchiveError, match="damaged"):
        _check(good + b"garbage after the gzip stream")
    with pytest.raises(ArchiveError, match="data after the end of the archive"):
        _check(gzip.compress(_tar(GOOD, tail=b"x" * 512)))
    with pytest.raises(ArchiveError, match="damaged"):
        _check(b"not gzip at all" * 100)


def test_summary_is_what_the_cli_prints(tmp_path: Path) -> None:
    volume = make_release(tmp_path)
    dry = archive_release(volume, "spring", prune=True, dry_run=True)
    assert dry.summary == (f"Dry run: {dry.members:,} members ({dry.files:,} files, "
                           f"{dry.bytes_in / 1e6:,.1f} MB) would be archived to {dry.path} "
                           "and then pruned; nothing was written.")
    done = archive_release(volume, "spring", prune=True)
    first, second = done.summary.split("\n")
    assert first == (f"Archived spring: {done.members:,} members, {done.bytes_in / 1e6:,.1f} MB "
                     f"-> {done.bytes_out / 1e6:,.1f} MB in {done.seconds:.1f} s; read back "
                     f"and checked (3 files of the harvest manifest). {done.path}")
    assert second == "Pruned: " + ", ".join(str(p) for p in done.pruned)
    assert isinstance(ArchiveResult("x", Path("x")).summary, str)


def test_the_garbage_collector_is_left_alone(tmp_path: Path) -> None:
    states: list[bool] = []

    class Watch(Progress):
        def on_update(self) -> None:
            states.append(gc.isenabled())

    volume = make_release(tmp_path)
    assert gc.isenabled()
    archive_release(volume, "spring", progress=Watch())
    assert states and all(states)
