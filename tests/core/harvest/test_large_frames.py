"""Frames over 64 KiB, read and hashed by the check's pool of threads: the same results, in
frame order, as one read of each; a cancel stops the check and leaves no thread running."""

from __future__ import annotations

import hashlib
import json
import os
import struct
import threading
import uuid
import zlib
from pathlib import Path
from typing import Any

import pytest

from farm_addon.core.errors import Cancelled
from farm_addon.core.flamenco import Job
from farm_addon.core.fs.volume import Volume
from farm_addon.core.harvest import checks
from farm_addon.core.harvest.checks import check_jobs
from farm_addon.core.harvest.images import FIRST_READ, read_frame
from farm_addon.core.harvest.run import harvest_release
from farm_addon.core.progress import Progress
from farm_addon.core.release.record import JobRecord, RecordStore, Revision

RELEASE = "big"


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def big_png(seed: int, width: int = 160, height: int = 160) -> bytes:
    """A valid RGB PNG of noise, stored: about 77 KB, over one first read."""
    line = os.urandom(width * 3)
    rows = b"".join(b"\x00" + line[:seed % 7] + bytes([seed % 256]) + line[seed % 7 + 1:]
                    for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n"
            + _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + _chunk(b"IDAT", zlib.compress(rows, 0)) + _chunk(b"IEND", b""))


class Completed:
    """A Manager on which every job of the release has completed."""

    def __init__(self, volume: Volume) -> None:
        self.record = RecordStore(volume).load(RELEASE)

    def get_job(self, job_id: str) -> Job:
        return next(self._job(j) for j in self.record.jobs if j.job_id == job_id)

    def jobs(self, status: Any = None, name: Any = None, metadata: Any = None) -> list[Job]:
        return [self._job(j) for j in self.record.jobs]

    def _job(self, job: Any) -> Job:
        return Job.model_construct(id=job.job_id, status="completed", name=job.name,
                                   metadata={"farm.release": RELEASE})


def make_release(tmp_path: Path, frames: dict[str, int]) -> Volume:
    volume = Volume.init(tmp_path / "vol")
    with RecordStore(volume).transaction(RELEASE, create=True) as rec:
        for name, count in frames.items():
            blend = volume.stored_blend(RELEASE, name)
            blend.parent.mkdir(parents=True, exist_ok=True)
            blend.write_bytes(b"BLENDER-v300" + name.encode())
            sha = hashlib.sha256(name.encode()).hexdigest()
            rec.add_job(JobRecord(
                name=name, source=f"/art/{name}.blend", source_sha256=sha,
                stored_blend=volume.relpath(blend), frames=f"1-{count}", scene="Scene",
                output_format="PNG", file_extension=".png",
                output_dir=f"releases/{RELEASE}/out/{name}",
                metadata={"object": name.split("-")[0], "material": name.split("-")[1]},
                revisions=[Revision(number=1, state="submitted", job_id=str(uuid.uuid4()),
                                    source_sha256=sha)]))
            out = volume.job_out_dir(RELEASE, name)
            out.mkdir(parents=True)
            for f in range(1, count + 1):
                (out / f"{f:06d}.png").write_bytes(big_png(f))
    return volume


@pytest.mark.parametrize("workers", [0, 2, 4])
def test_large_frames_checked_in_order_as_one_read_each(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: int) -> None:
    """The same findings with the pool (2 or 4 threads) as without (0), in frame order."""
    monkeypatch.setattr(checks, "_WORKERS", workers)
    threads: set[str] = set()
    real = checks.read_frame_status

    def seen(path: str, ext: str) -> Any:
        threads.add(threading.current_thread().name.split("_")[0])
        return real(path, ext)

    monkeypatch.setattr(checks, "read_frame_status", seen)
    volume = make_release(tmp_path, {"chair-oak": 30, "chair-ash": 5})
    out = volume.job_out_dir(RELEASE, "chair-oak")
    # Damage some, of every kind, among the large ones; one small good frame among them.
    (out / "000004.png").unlink()
    data = (out / "000007.png").read_bytes()
    (out / "000007.png").write_bytes(data[:-12])  # truncated: no IEND
    (out / "000011.png").write_bytes(b"JUNK" + data[4:])  # not a PNG
    (out / "000012.png").write_bytes(data[:-12])
    (out / "000013.png").write_bytes(b"")
    (out / "000020.png").write_bytes(big_png(20, 8, 8))  # small
    assert (out / "000001.png").stat().st_size > FIRST_READ
    record = RecordStore(volume).load(RELEASE)
    found = check_jobs(volume, record, {"chair-oak": "completed", "chair-ash": "completed"},
                       {}, Progress())
    oak, ash = found
    assert oak.problems == {
        "missing": [4], "truncated PNG (no IEND chunk at the end)": [7, 12],
        "not a PNG (bad signature)": [11], "empty file": [13]}
    assert list(oak.problems) == ["missing", "truncated PNG (no IEND chunk at the end)",
                                  "not a PNG (bad signature)", "empty file"]
    assert [f[0] for f in oak.ready] == [f for f in range(1, 31) if f not in (4, 7, 11, 12, 13)]
    assert not ash.problems and [f[0] for f in ash.ready] == [1, 2, 3, 4, 5]
    for chk in found:
        for frame, src, size, sha, _mtime, _ino in chk.ready:
            assert (None, size, sha) == read_frame(volume.root / src, ".png"), frame
    assert not [t for t in threading.enumerate() if t.name.startswith("farm-harvest-check")]
    # Large frames in the pool; the small damaged ones (and the small frame) read inline.
    assert threads == ({"MainThread"} if not workers else {"MainThread", "farm-harvest-check"})


def test_large_frames_harvested_with_their_checksums(tmp_path: Path) -> None:
    volume = make_release(tmp_path, {"chair-oak": 20, "table-ash": 9})
    before = {hashlib.sha256(p.read_bytes()).hexdigest()
              for p in (volume.root / "releases").rglob("*.png")}
    result = harvest_release(volume, Completed(volume), RELEASE)
    assert result.delivered == 29 and not result.held
    assert [(j, f) for _s, _n, j, f in result.mapping] == (
        [("chair-oak", f) for f in range(1, 21)] + [("table-ash", f) for f in range(1, 10)])
    dist = volume.dist_dir(RELEASE)
    doc = json.loads((dist / "manifest.json").read_text())
    assert len(doc["files"]) == 29
    for item in doc["files"]:
        data = (dist / item["name"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == item["sha256"] and len(data) == item["size"]
    assert {i["sha256"] for i in doc["files"]} == before


class CancelAt(Progress):
    def __init__(self, at: int) -> None:
        super().__init__()
        self.at = at

    def on_update(self) -> None:
        if self.done >= self.at:
            self.cancel()


def test_cancel_during_large_frames_check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                          ) -> None:
    volume = make_release(tmp_path, {"chair-oak": 400})
    reads: list[str] = []
    real = checks.read_frame_status

    def counted(path: str, ext: str) -> Any:
        reads.append(path)
        return real(path, ext)

    monkeypatch.setattr(checks, "read_frame_status", counted)
    snapshot = sorted(p.name for p in volume.job_out_dir(RELEASE, "chair-oak").iterdir())
    with pytest.raises(Cancelled):
        harvest_release(volume, Completed(volume), RELEASE, progress=CancelAt(2))
    # The check stopped at the first progress step (2 frames), with a few reads in flight.
    assert len(reads) <= 2 + 2 * checks._WORKERS + 1
    assert not [t for t in threading.enumerate() if t.name.startswith("farm-harvest-check")]
    assert sorted(p.name for p in volume.job_out_dir(RELEASE, "chair-oak").iterdir()) == snapshot
    assert not volume.dist_dir(RELEASE).exists()
