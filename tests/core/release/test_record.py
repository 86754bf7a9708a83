"""The release record, its atomic writes and its lock."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from pydantic import ValidationError

from farm_addon.core.blend.stamps import PackedFile, changed_since
from farm_addon.core.errors import BadInput
from farm_addon.core.fs import atomic
from farm_addon.core.fs.atomic import Busy, FileLock, atomic_write_bytes, atomic_write_text
from farm_addon.core.fs.volume import Volume
from farm_addon.core.release.record import (
    DamagedRecord,
    JobRecord,
    NewerRecord,
    PlannedFrom,
    RecordStore,
    ReleaseRecord,
    UnknownJob,
    UnknownRelease,
    find_job,
)
from farm_addon.core.release.submit import job_metadata
from farm_addon.core.settings import Settings

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def volume(tmp_path: Path) -> Volume:
    return Volume.init(tmp_path / "volume", name="test")


def make_job(name: str = "chair", **overrides: object) -> JobRecord:
    fields: dict[str, object] = {
        "name": name,
        "source": f"/home/artist/{name}.blend",
        "source_sha256": "a" * 64,
        "source_size": 10,
        "source_mtime_ns": 123,
        "stored_blend": f"releases/spring/store/{name}.blend",
        "frames": "1-10",
        "scene": "Scene",
        "output_format": "PNG",
        "file_extension": ".png",
        "output_dir": f"releases/spring/out/{name}/",
    }
    fields.update(overrides)
    return JobRecord.model_validate(fields)


# --- atomic writes ------------------------------------------------------------------------


def test_atomic_write_replaces_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "data.json"
    atomic_write_text(target, "one")
    atomic_write_bytes(target, b"two")
    assert target.read_bytes() == b"two"
    assert os.listdir(tmp_path) == ["data.json"]


@pytest.mark.skipif(os.name == "nt", reason="POSIX permissions")
def test_written_files_are_readable_by_others(tmp_path: Path) -> None:
    target = tmp_path / "data.json"
    atomic_write_text(target, "x")
    assert target.stat().st_mode & 0o777 == atomic.FILE_MODE


def test_failed_write_keeps_old_content(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "data.json"
    target.write_text("old")

    def no_space(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic.os, "replace", no_space)
    with pytest.raises(OSError, match="No space"):
        atomic_write_text(target, "new")
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["data.json"]


def test_interrupted_writer_leaves_old_content(tmp_path: Path) -> None:
    target = tmp_path / "data.json"
    target.write_text("old")
    with pytest.raises(KeyboardInterrupt), atomic.atomic_writer(target) as handle:
        handle.write(b"half")
        raise KeyboardInterrupt
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["data.json"]


def test_killed_writer_leaves_only_a_findable_temp(tmp_path: Path) -> None:
    target = tmp_path / "data.json"
    target.write_text("old")
    script = textwrap.dedent(f"""
        import os, sys
        sys.path.insert(0, {str(ROOT)!r})
        from pathlib import Path
        from farm_addon.core.fs.atomic import atomic_writer
        with atomic_writer(Path({str(target)!r})) as handle:
            handle.write(b"half")
            handle.flush()
            os._exit(9)
    """)
    result = subprocess.run([sys.executable, "-c", script], check=False)
    assert result.returncode == 9
    assert target.read_text() == "old"
    leftovers = [name for name in os.listdir(tmp_path) if name != "data.json"]
    assert len(leftovers) == 1 and leftovers[0].startswith(atomic.TEMP_PREFIX)


# --- the lock -----------------------------------------------------------------------------

HOLD_LOCK = """
import sys, time
sys.path.insert(0, {root!r})
from pathlib import Path
from farm_addon.core.fs.atomic import FileLock
with FileLock(Path({path!r}), timeout=5, what="farm plan release spring"):
    print("locked", flush=True)
    time.sleep({seconds})
"""


def hold_lock(path: Path, seconds: float) -> subprocess.Popen[str]:
    code = HOLD_LOCK.format(root=str(ROOT), path=str(path), seconds=seconds)
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == "locked"
    return holder


def test_lock_contention_between_processes(tmp_path: Path) -> None:
    path = tmp_path / ".lock"
    holder = hold_lock(path, 30)
    try:
        started = time.monotonic()
        with pytest.raises(Busy) as caught, FileLock(path, timeout=0.3):
            pass
        assert time.monotonic() - started >= 0.3
        message = str(caught.value)
        assert f"process {holder.pid} on {socket.gethostname()}" in message
        assert "(farm plan release spring)" in message
        assert "Wait for it to finish" in message and "check that process" in message
        assert caught.value.exit_code == 1
    finally:
        holder.kill()
        holder.wait()
    # The lock dies with its process: no stale lock.
    with FileLock(path, timeout=2) as lock:
        assert lock.locked


def test_lock_waits_for_a_short_holder(tmp_path: Path) -> None:
    path = tmp_path / ".lock"
    holder = hold_lock(path, 0.3)
    try:
        with FileLock(path, timeout=10):
            assert holder.wait(timeout=10) == 0
    finally:
        holder.kill()
        holder.wait()


def test_lock_is_not_reentrant_and_releases(tmp_path: Path) -> None:
    path = tmp_path / ".lock"
    with FileLock(path, timeout=0), pytest.raises(Busy), FileLock(path, timeout=0):
        pass
    with FileLock(path, timeout=0):
        pass
    assert path.read_text() == ""  # holder info is cleared on release


# --- the record ---------------------------------------------------------------------------


def test_round_trip(volume: Volume) -> None:
    store = RecordStore(volume)
    dep = PackedFile(path="/home/artist/wood.png", size=3, mtime_ns=5, sha256="b" * 64,
                     kind="image", stored="releases/spring/store/chair.deps/wood.png")
    with store.transaction("spring", create=True) as record:
        assert record.jobs == []
        record.planned_from = PlannedFrom.here(["shots/*.blend"], None)
        record.naming_template = "{job}_{frame:04d}"
        record.add_job(make_job("chair", dependencies=[dep], metadata={"object": "chair"},
                                worker_tag="gpu", priority=70, chunk_size=5))
        record.add_job(make_job("table"))
    loaded = store.load("spring")
    assert loaded.volume_id == volume.id
    assert loaded.job_names == ["chair", "table"]
    chair = loaded.job("chair")
    assert chair.dependencies == [dep]
    assert (chair.revision, chair.current.number, chair.current.state) == (1, 1, "planned")
    assert chair.current.source_sha256 == "a" * 64
    assert chair.job_id is None
    assert loaded.planned_from.sources == ["shots/*.blend"]
    assert loaded.planned_from.host == socket.gethostname()
    assert loaded == ReleaseRecord.model_validate_json(
        volume.record_path("spring").read_text())

    text = volume.record_path("spring").read_text()
    assert text.endswith("\n") and '\n  "jobs": [' in text  # indented, human-readable
    data = json.loads(text)
    assert data["schema_version"] == 1
    assert not [p for p in volume.release_dir("spring").iterdir()
                if p.name.startswith(atomic.TEMP_PREFIX)]


def test_revisions(volume: Volume) -> None:
    store = RecordStore(volume)
    with store.transaction("spring", create=True) as record:
        job = record.add_job(make_job())
        job.current.state = "submitted"
        job.current.job_id = "11111111-2222-3333-4444-555555555555"
    with store.transaction("spring") as record:
        job = record.job("chair")
        job.current.state = "superseded"
        job.current.superseded_dir = "releases/spring/out/chair.r1"
        job.new_revision("c" * 64)
    job = store.load("spring").job("chair")
    assert job.revision == 2
    assert [(r.number, r.state) for r in job.revisions] == [(1, "superseded"), (2, "planned")]
    assert job.source_sha256 == job.current.source_sha256 == "c" * 64
    assert job.superseded_dirs == ["releases/spring/out/chair.r1"]
    assert job.job_id is None


def test_inconsistent_revisions_are_refused() -> None:
    with pytest.raises(ValueError, match="does not match"):
        make_job(revision=2, revisions=[{"number": 1, "source_sha256": "a"}])


def test_no_write_when_the_block_fails(volume: Volume) -> None:
    store = RecordStore(volume)
    with store.transaction("spring", create=True) as record:
        record.add_job(make_job())
    before = volume.record_path("spring").read_bytes()
    with pytest.raises(RuntimeError), store.transaction("spring") as record:
        record.add_job(make_job("table"))
        raise RuntimeError("submission failed")
    assert volume.record_path("spring").read_bytes() == before


def test_failed_creation_leaves_nothing(volume: Volume) -> None:
    store = RecordStore(volume)
    with pytest.raises(RuntimeError), store.transaction("spring", create=True) as record:
        record.add_job(make_job())
        raise RuntimeError("a source was broken")
    assert not volume.release_dir("spring").exists()
    assert volume.list_releases() == []


def test_duplicate_job_names(volume: Volume) -> None:
    record = ReleaseRecord(name="spring")
    record.add_job(make_job("Chair"))
    with pytest.raises(BadInput, match="already has a job 'Chair'"):
        record.add_job(make_job("chair"))
    with pytest.raises(ValueError, match="same name"):
        ReleaseRecord(name="spring", jobs=[make_job("a"), make_job("A")])


def test_unknown_release_lists_known_ones(volume: Volume) -> None:
    store = RecordStore(volume)
    with pytest.raises(UnknownRelease, match="no releases on this volume yet"):
        store.load("spring")
    for name in ("autumn", "winter"):
        with store.transaction(name, create=True):
            pass
    with pytest.raises(UnknownRelease, match="Releases on this volume: autumn, winter"):
        store.load("spring")
    with pytest.raises(UnknownRelease), store.transaction("spring"):
        pass
    assert not volume.release_dir("spring").exists()
    assert store.exists("autumn") and not store.exists("spring")


def test_unknown_job_lists_jobs(volume: Volume) -> None:
    record = ReleaseRecord(name="spring", jobs=[make_job("chair"), make_job("table")])
    with pytest.raises(UnknownJob, match="Its jobs: chair, table"):
        record.job("lamp")


def test_newer_schema_is_refused(volume: Volume) -> None:
    store = RecordStore(volume)
    with store.transaction("spring", create=True) as record:
        record.add_job(make_job())
    path = volume.record_path("spring")
    data = json.loads(path.read_text())
    data["schema_version"] = 2
    data["something_new"] = True
    path.write_text(json.dumps(data))
    with pytest.raises(NewerRecord, match=r"newer farm .*schema 2.*Update farm"):
        store.load("spring")
    with pytest.raises(NewerRecord), store.transaction("spring"):
        pass
    assert json.loads(path.read_text())["schema_version"] == 2  # untouched


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"name": "spring",\n "jobs": [}', "not valid JSON \\(line 2"),
        ("[]", "not hold a valid release record"),
        ('{"name": "a/b"}', "at name"),
        ('{"name": "spring", "jobs": [{"name": "x"}]}', "more problems"),
        ('{"name": "spring", "surprise": 1}', "at surprise"),
    ],
)
def test_damaged_record(volume: Volume, text: str, message: str) -> None:
    volume.release_dir("spring").mkdir()
    volume.record_path("spring").write_text(text)
    with pytest.raises(DamagedRecord, match=message):
        RecordStore(volume).load("spring")


def test_transaction_lock_contention(volume: Volume) -> None:
    store = RecordStore(volume, lock_timeout=0.2)
    with store.transaction("spring", create=True):
        pass
    holder = hold_lock(volume.lock_path("spring"), 30)
    try:
        with pytest.raises(Busy, match=r"releases/spring/\.lock is locked by process"), \
                store.transaction("spring"):
            pass
    finally:
        holder.kill()
        holder.wait()


def test_find_job(volume: Volume) -> None:
    store = RecordStore(volume)
    with store.transaction("spring", create=True) as record:
        record.add_job(make_job("chair"))
        record.add_job(make_job("table"))
    with store.transaction("autumn", create=True) as record:
        record.add_job(make_job("chair"))
    assert [(rel, job.name) for rel, job in find_job(volume, "chair")] == [
        ("autumn", "chair"), ("spring", "chair")]
    assert [rel for rel, _ in find_job(volume, "table")] == ["spring"]
    assert find_job(volume, "lamp") == []


def test_job_metadata(volume: Volume) -> None:
    record = ReleaseRecord(name="spring")
    job = record.add_job(make_job("chair", metadata={"object": "chair", "farm.job": "evil",
                                                      "project": "Override"}))
    settings = Settings(project="Sprite Fright", user_name="Ada", user_email="ada@example.com")
    assert job_metadata(record, job, settings, volume) == {
        "project": "Override",
        "user.name": "Ada",
        "user.email": "ada@example.com",
        "object": "chair",
        "farm.release": "spring",
        "farm.job": "chair",
        "farm.revision": "1",
        "farm.volume": volume.id,
    }
    empty = job_metadata(record, make_job("x"), Settings(user_name="", user_email=""), volume)
    assert set(empty) == {"farm.release", "farm.job", "farm.revision", "farm.volume"}


def test_job_fingerprint(tmp_path: Path) -> None:
    source = tmp_path / "chair.blend"
    source.write_bytes(b"BLENDER")
    stat = source.stat()
    job = make_job(source=str(source), source_sha256=hashlib.sha256(b"BLENDER").hexdigest(),
                   source_size=stat.st_size, source_mtime_ns=stat.st_mtime_ns)
    assert changed_since(job.fingerprint()) == []
    source.write_bytes(b"BLENDER!")
    assert changed_since(job.fingerprint()) == [str(source)]


def test_invalid_fields_are_refused() -> None:
    with pytest.raises(ValueError, match="job name"):
        make_job("a/b")
    with pytest.raises(ValidationError, match="runs backwards"):
        make_job(frames="10-1")
    with pytest.raises(ValidationError):
        make_job(chunk_size=0)
    with pytest.raises(ValidationError):
        make_job(priority=101)
