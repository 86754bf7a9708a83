"""Harvest against the Manager emulator, with real PNG frames rendered by its instant worker."""

from __future__ import annotations

import hashlib
import json
import os
import textwrap
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from farm_addon.core import cli
from farm_addon.core.errors import BadInput, Cancelled, FarmError
from farm_addon.core.fs.mover import FileOps, TransferError
from farm_addon.core.fs.volume import HARVEST_JOURNAL_NAME as JOURNAL_NAME
from farm_addon.core.fs.volume import Volume
from farm_addon.core.harvest.images import image_problem, read_frame
from farm_addon.core.harvest.run import HarvestIncomplete, harvest_release, load_manifest
from farm_addon.core.progress import Progress
from farm_addon.core.release.record import JobRecord, RecordStore
from farm_addon.core.release.submit import submit_pending
from farm_addon.core.release.superseded import mark_superseded
from farm_addon.core.session import FarmSession
from farm_addon.core.settings import Settings
from tests.core.faulty import FaultyOps
from tests.emulator import Emulator
from tests.emulator.pngwrite import png_bytes, read_png

pytest_plugins = ["tests.emulator.fixtures"]

TURNTABLE = "{meta.object}-{meta.material}_r{angle:03d}{ext}"


@dataclass
class Farm:
    volume: Volume
    emu: Emulator
    session: FarmSession

    @property
    def client(self) -> Any:
        return self.session.client

    def out(self, release: str, job: str) -> Path:
        return self.volume.job_out_dir(release, job)

    def dist(self, release: str) -> Path:
        return self.volume.dist_dir(release)

    def plan(self, release: str, jobs: dict[str, tuple[str, dict[str, str]]],
             render: bool = True, **record: Any) -> None:
        """Record the jobs directly (planning is not under test), submit them, render them."""
        store = RecordStore(self.volume)
        with store.transaction(release, create=True) as rec:
            for key, value in record.items():
                setattr(rec, key, value)
            for name, (frames, meta) in jobs.items():
                blend = self.volume.stored_blend(release, name)
                blend.parent.mkdir(parents=True, exist_ok=True)
                blend.write_bytes(b"BLENDER-v300" + name.encode())
                rec.add_job(JobRecord(
                    name=name, source=f"/art/{name}.blend",
                    source_sha256=hashlib.sha256(name.encode()).hexdigest(),
                    stored_blend=self.volume.relpath(blend), frames=frames, scene="Scene",
                    output_format="PNG", file_extension=".png",
                    output_dir=f"releases/{release}/out/{name}", metadata=meta))
            outcomes = submit_pending(self.session, store, rec)
            assert all(o.ok for o in outcomes)
        if render:
            self.emu.run_worker()

    def snapshot(self) -> dict[str, bytes]:
        """Every frame file on the volume (out/ and dist/), by path."""
        found = {}
        for top in ("releases", "dist"):
            for p in (self.volume.root / top).rglob("*.png"):
                found[p.relative_to(self.volume.root).as_posix()] = p.read_bytes()
        return found


@pytest.fixture
def farm(emulator_factory: Callable[..., Emulator], tmp_path: Path) -> Iterator[Farm]:
    volume = Volume.init(tmp_path / "vol")
    emu = emulator_factory(storage=volume.root, worker="instant")
    session = FarmSession(Settings(manager_url=emu.url, volume=volume.root))
    yield Farm(volume, emu, session)
    session.close()


CHAIRS = {"chair-oak": ("1-12", {"object": "chair", "material": "oak"}),
          "chair-ash": ("1-12", {"object": "chair", "material": "ash"})}


def angles(tmp_path: Path, frames: range = range(1, 13)) -> Path:
    p = tmp_path / "angles.json"
    p.write_text(json.dumps({str(f): {"angle": (f - 1) * 30} for f in frames}, indent=1))
    return p


def frames_once(farm: Farm, before: dict[str, bytes]) -> None:
    """Every frame of ``before`` is now under exactly one name, with the same bytes."""
    after = farm.snapshot()
    assert sorted(hashlib.sha256(b).hexdigest() for b in after.values()) == sorted(
        hashlib.sha256(b).hexdigest() for b in before.values())


# --- the happy path -------------------------------------------------------------------------

def test_turntable_harvest(farm: Farm, tmp_path: Path) -> None:
    farm.plan("spring", CHAIRS)
    before = farm.snapshot()
    result = harvest_release(farm.volume, farm.client, "spring", template=TURNTABLE,
                             data_file=angles(tmp_path))
    assert result.delivered == 24 and not result.skipped
    dist = farm.dist("spring")
    assert (dist / "chair-oak_r180.png").is_file()  # frame 7
    assert not any(farm.out("spring", "chair-oak").iterdir())
    frames_once(farm, before)
    doc = load_manifest(farm.volume, "spring")
    assert len(doc["files"]) == 24
    rec = RecordStore(farm.volume).load("spring")
    for item in doc["files"]:
        data = (dist / item["name"]).read_bytes()
        read_png(data)
        assert item["sha256"] == hashlib.sha256(data).hexdigest()
        assert item["size"] == len(data)
        assert item["revision"] == 1
        assert item["source_sha256"] == rec.job(item["job"]).source_sha256
    raw = (dist / "manifest.json").read_text()
    assert raw.count("\n") > 24 and json.loads(raw) == doc  # one file per line, valid JSON
    seven = next(i for i in doc["files"] if i["job"] == "chair-oak" and i["frame"] == 7)
    assert seven["name"] == "chair-oak_r180.png"
    assert rec.harvests[-1].files == 24 and rec.harvests[-1].jobs == {"chair-oak": 1,
                                                                     "chair-ash": 1}
    assert not (farm.volume.release_dir("spring") / JOURNAL_NAME).exists()
    # A second harvest has nothing to do, and needs no frames in out/.
    again = harvest_release(farm.volume, farm.client, "spring", template=TURNTABLE,
                            data_file=angles(tmp_path))
    assert again.delivered == 0 and again.already == 24


def test_default_and_planned_template(farm: Farm) -> None:
    farm.plan("a", {"j": ("1-3", {})})
    harvest_release(farm.volume, farm.client, "a")
    assert sorted(p.name for p in farm.dist("a").iterdir()) == [
        "j_000001.png", "j_000002.png", "j_000003.png", "manifest.json"]
    farm.plan("b", {"k": ("4-5", {"object": "lamp"})},
              naming_template="{release}/{meta.object}.{frame:03d}{ext}")
    harvest_release(farm.volume, farm.client, "b")
    assert sorted(p.name for p in (farm.dist("b") / "b").iterdir()) == ["lamp.004.png",
                                                                       "lamp.005.png"]


def test_dry_run_touches_nothing(farm: Farm, tmp_path: Path) -> None:
    farm.plan("spring", CHAIRS)
    before = farm.snapshot()
    result = harvest_release(farm.volume, farm.client, "spring", template=TURNTABLE,
                             data_file=angles(tmp_path), dry_run=True)
    assert len(result.mapping) == 24
    assert ("releases/spring/out/chair-oak/000007.png", "chair-oak_r180.png", "chair-oak",
            7) in result.mapping
    assert farm.snapshot() == before
    assert not farm.dist("spring").exists()
    assert RecordStore(farm.volume).load("spring").harvests == []


def test_renamer(farm: Farm, tmp_path: Path) -> None:
    farm.plan("spring", CHAIRS)
    r = tmp_path / "rename.py"
    r.write_text(textwrap.dedent("""
        def rename(release, job, frame, ext, meta, data):
            return f"{meta['object']}/{meta['material']}/{data['angle']:03d}{ext}"
    """))
    harvest_release(farm.volume, farm.client, "spring", renamer=r, data_file=angles(tmp_path))
    assert (farm.dist("spring") / "chair" / "ash" / "090.png").is_file()


# --- incomplete releases --------------------------------------------------------------------

def test_missing_and_damaged_frames_are_listed(farm: Farm) -> None:
    farm.plan("spring", CHAIRS)
    out = farm.out("spring", "chair-oak")
    for f in (3, 7, 8, 9):
        (out / f"{f:06d}.png").unlink()
    good = (out / "000005.png").read_bytes()
    (out / "000005.png").write_bytes(good[:-6])  # truncated
    bad_crc = bytearray(png_bytes())
    bad_crc[20] ^= 0xFF
    (out / "000006.png").write_bytes(bytes(bad_crc))
    (out / "000010.png").write_bytes(b"")
    before = farm.snapshot()
    with pytest.raises(HarvestIncomplete) as exc:
        harvest_release(farm.volume, farm.client, "spring")
    msg = str(exc.value)
    assert exc.value.exit_code == 1
    assert "chair-oak (r1): frames" in msg and "missing 3,7-9" in msg
    assert "truncated PNG (no IEND chunk at the end) 5" in msg
    assert "IHDR checksum does not match) 6" in msg and "empty file 10" in msg
    assert "chair-ash" not in msg and "Nothing was moved" in msg
    assert farm.snapshot() == before
    assert [j.name for j in exc.value.jobs] == ["chair-oak"]


def test_unfinished_job_and_partial(farm: Farm) -> None:
    farm.plan("spring", {"chair-oak": CHAIRS["chair-oak"]})
    farm.plan("spring", {"chair-ash": CHAIRS["chair-ash"]}, render=False)
    before = farm.snapshot()
    with pytest.raises(HarvestIncomplete, match=r"chair-ash \(r1\): queued"):
        harvest_release(farm.volume, farm.client, "spring")
    assert farm.snapshot() == before
    result = harvest_release(farm.volume, farm.client, "spring", partial=True)
    assert result.delivered == 12 and [c.name for c in result.skipped] == ["chair-ash"]
    assert RecordStore(farm.volume).load("spring").harvests[-1].partial
    farm.emu.run_worker()
    result = harvest_release(farm.volume, farm.client, "spring")
    assert result.delivered == 12 and result.already == 12
    assert len(load_manifest(farm.volume, "spring")["files"]) == 24


def test_job_deleted_from_manager(farm: Farm) -> None:
    farm.plan("spring", {"chair-oak": CHAIRS["chair-oak"]})
    job_id = RecordStore(farm.volume).load("spring").job("chair-oak").job_id
    assert job_id
    farm.client.delete_job(job_id)
    farm.emu.process_deletions()
    with pytest.raises(HarvestIncomplete, match="not on the Manager"):
        harvest_release(farm.volume, farm.client, "spring")


def test_unknown_release(farm: Farm) -> None:
    farm.plan("spring", {"chair-oak": CHAIRS["chair-oak"]})
    with pytest.raises(BadInput, match=r"There is no release 'autumn'.*spring") as exc:
        harvest_release(farm.volume, farm.client, "autumn")
    assert exc.value.exit_code == 2


# --- bad naming input: clear message, exit 2, every frame where it was ----------------------

def _bad(farm: Farm, fragment: str, **kw: Any) -> None:
    before = farm.snapshot()
    with pytest.raises(BadInput) as exc:
        harvest_release(farm.volume, farm.client, "spring", **kw)
    assert fragment in str(exc.value), str(exc.value)
    assert exc.value.exit_code == 2
    assert farm.snapshot() == before
    assert not (farm.volume.release_dir("spring") / JOURNAL_NAME).exists()
    assert not farm.dist("spring").exists() or not any(farm.dist("spring").iterdir())


def test_bad_naming_inputs(farm: Farm, tmp_path: Path) -> None:
    farm.plan("spring", CHAIRS)
    _bad(farm, "unknown field {meta.colour}", template="{meta.colour}_{frame}{ext}")
    _bad(farm, "none was given", template=TURNTABLE)
    bad_json = tmp_path / "bad.json"
    bad_json.write_text('{"1": {"angle": 0},\n "2": {"angle": 30}\n "3": 1}')
    _bad(farm, "line 3", template=TURNTABLE, data_file=bad_json)
    _bad(farm, "has no entry for job 'chair-ash' frames 11-12; job 'chair-oak' frames 11-12",
         template=TURNTABLE, data_file=angles(tmp_path, range(1, 11)))
    _bad(farm, "job 'chair-oak' frame 1, job 'chair-oak' frame 2, job 'chair-oak' frame 3 "
         "and 9 more all map to 'chair-oak.png'", template="{job}{ext}")
    _bad(farm, "both map to 'chair1.png'", template="{meta.object}{frame}{ext}")
    raising = tmp_path / "raising.py"
    raising.write_text("def rename(release, job, frame, ext, meta, data):\n"
                       "    return 1 / 0\n")
    _bad(farm, f"{raising} line 2: rename() raised ZeroDivisionError", renamer=raising)
    unsafe = tmp_path / "unsafe.py"
    unsafe.write_text("def rename(**kw):\n    return '../../escape.png'\n")
    _bad(farm, "unsafe name", renamer=unsafe)


def test_case_insensitive_collision(farm: Farm) -> None:
    farm.plan("spring", {"a": ("1", {"object": "Lamp"}), "b": ("1", {"object": "lamp"})})
    before = farm.snapshot()
    with pytest.raises(BadInput, match=r"'Lamp\.png' \('lamp\.png', differing only in case"):
        harvest_release(farm.volume, farm.client, "spring", template="{meta.object}{ext}")
    assert farm.snapshot() == before


def test_target_taken_by_another_file(farm: Farm) -> None:
    farm.plan("spring", {"chair-oak": CHAIRS["chair-oak"]})
    farm.dist("spring").mkdir(parents=True)
    (farm.dist("spring") / "Chair-Oak_000004.png").write_bytes(b"someone else's")
    _bad_keep = farm.snapshot()
    with pytest.raises(BadInput, match="already exists in the delivery folder"):
        harvest_release(farm.volume, farm.client, "spring")
    assert farm.snapshot() == _bad_keep


# --- faults, kills and resume ---------------------------------------------------------------

@pytest.mark.parametrize("cross", [False, True])
def test_full_disk_then_rerun(farm: Farm, tmp_path: Path, cross: bool) -> None:
    farm.plan("spring", CHAIRS)
    before = farm.snapshot()
    faulty = FaultyOps({"rename", "write"} if cross else {"rename"}, 9, cross=cross)
    with pytest.raises(TransferError) as exc:
        harvest_release(farm.volume, farm.client, "spring", template=TURNTABLE,
                        data_file=angles(tmp_path), ops=faulty)
    assert "No space left on device" in str(exc.value) and exc.value.exit_code == 1
    frames_once(farm, before)
    assert (farm.volume.release_dir("spring") / JOURNAL_NAME).exists()
    assert not list(farm.volume.root.rglob(".farm-tmp-*"))
    # The rerun finishes (even with another template: the journal's plan comes first).
    result = harvest_release(farm.volume, farm.client, "spring", template=TURNTABLE,
                             data_file=angles(tmp_path))
    assert result.resumed == 24 and result.delivered == 0
    frames_once(farm, before)
    doc = load_manifest(farm.volume, "spring")
    assert sorted(i["name"] for i in doc["files"]) == sorted(
        p.name for p in farm.dist("spring").glob("*.png"))
    assert len(doc["files"]) == 24


NEW_RENDER = png_bytes(8, 8, (9, 9, 9))


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class RerenderOnMove(FileOps):
    """A worker re-renders ``frame`` (in place, as Blender writes) after the harvest checked
    it, just before it is moved."""

    def __init__(self, frame: str = "chair-oak/000005.png") -> None:
        self.frame = frame
        self.done = False

    def move(self, src: Any, dst: Any) -> None:
        if not self.done and str(src).endswith(self.frame):
            with open(src, "r+b") as f:
                f.truncate(0)
                f.write(NEW_RENDER)
            self.done = True
        super().move(src, dst)


@pytest.mark.parametrize("aged", [True, False], ids=["rendered-long-ago", "rendered-just-now"])
def test_frame_rewritten_between_check_and_move_is_held(farm: Farm, aged: bool) -> None:
    """The frame is not delivered with the checksum it no longer has: it stays in out/ with
    its new content, the other 23 are delivered, and the next harvest delivers it. Frames
    modified long before the check are compared by inode, size and time (one hashed again:
    the changed one); frames modified just before it are all hashed again after the move."""
    farm.plan("spring", CHAIRS)
    if aged:
        old = time.time_ns() - 3600 * 10**9
        for p in farm.volume.root.joinpath("releases").rglob("*.png"):
            os.utime(p, ns=(old, old))
    result = harvest_release(farm.volume, farm.client, "spring", ops=RerenderOnMove())
    src = "releases/spring/out/chair-oak/000005.png"
    assert result.held == [("chair-oak", 5, src)]
    assert result.rehashed == (1 if aged else 24)
    assert result.delivered == 23 and src not in [m[0] for m in result.mapping]
    assert "1 frame(s) changed on disk" in result.held_message()
    assert "job 'chair-oak' frames 5" in result.held_message()
    assert (farm.volume.root / src).read_bytes() == NEW_RENDER
    doc = load_manifest(farm.volume, "spring")
    assert len(doc["files"]) == 23 and all(i["source"] != src for i in doc["files"])
    assert RecordStore(farm.volume).load("spring").harvests[-1].files == 23
    assert not (farm.volume.release_dir("spring") / JOURNAL_NAME).exists()

    again = harvest_release(farm.volume, farm.client, "spring")
    assert again.delivered == 1 and again.held == [] and again.already == 23
    doc = load_manifest(farm.volume, "spring")
    five = [i for i in doc["files"] if i["source"] == src]
    assert [i["sha256"] for i in five] == [hashlib.sha256(NEW_RENDER).hexdigest()]
    assert (farm.dist("spring") / five[0]["name"]).read_bytes() == NEW_RENDER


def test_cli_harvest_with_a_held_frame(farm: Farm, farm_cli: Callable[..., int],
                                      capsys: pytest.CaptureFixture[str],
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Exit 1 (the delivery is not complete), the frame named, and the way on."""
    farm.plan("spring", CHAIRS)
    original = FileOps.move
    hook = RerenderOnMove("chair-ash/000002.png")

    def move(self: FileOps, src: Any, dst: Any) -> None:
        if not hook.done and str(src).endswith(hook.frame):
            Path(src).write_bytes(NEW_RENDER)
            hook.done = True
        original(self, src, dst)

    monkeypatch.setattr(FileOps, "move", move)  # the CLI uses the default file layer
    assert farm_cli("harvest", "release", "spring") == 1
    io = capsys.readouterr()
    assert "Delivered 23 frame(s)" in io.out
    assert "farm: error: 1 frame(s) changed on disk" in io.err
    assert "job 'chair-ash' frames 2" in io.err
    assert "farm harvest release spring` again" in io.err
    monkeypatch.undo()
    assert farm_cli("--json", "harvest", "release", "spring") == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["ok"] and doc["delivered"] == 1 and doc["held"] == []


def test_cancel_during_moves_then_rerun(farm: Farm) -> None:
    class CancelAt(Progress):
        def on_update(self) -> None:
            if self.label.startswith("Moving") and self.done == 5:
                self.cancel()

    farm.plan("spring", CHAIRS)
    before = farm.snapshot()
    with pytest.raises(Cancelled):
        harvest_release(farm.volume, farm.client, "spring", progress=CancelAt())
    frames_once(farm, before)
    harvest_release(farm.volume, farm.client, "spring")
    frames_once(farm, before)
    assert len(list(farm.dist("spring").glob("*.png"))) == 24


def harvest_killed(farm: Farm, ops: FileOps) -> int:
    """Harvest "spring" in a child process whose ``ops`` kill it (exit 9); its exit code."""
    farm.session.close()
    pid = os.fork()
    if pid == 0:
        try:
            harvest_release(farm.volume, farm.session.client, "spring", ops=ops)
        finally:
            os._exit(0)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status)
    return os.WEXITSTATUS(status)


@pytest.mark.parametrize("step", [1, 3, 5, 8, 14, 20, 27, 29])
def test_killed_harvest_is_finished_by_the_next(farm: Farm, step: int) -> None:
    """kill -9 at a file operation of the harvest, then run it again."""
    farm.plan("spring", CHAIRS)
    before = farm.snapshot()
    harvest_killed(farm, FaultyOps({"*"}, step, action=lambda: os._exit(9)))
    for name, data in before.items():  # every frame under at least one name meanwhile
        assert (farm.volume.root / name).exists() or data in farm.snapshot().values()
    harvest_release(farm.volume, farm.client, "spring")
    frames_once(farm, before)
    doc = load_manifest(farm.volume, "spring")
    assert len(doc["files"]) == 24
    assert not (farm.volume.release_dir("spring") / JOURNAL_NAME).exists()


class RerenderThenKill(FaultyOps):
    """chair-oak frame 5 is re-rendered just before its move, and the harvest is killed at
    the ``n``-th file operation (the move back of that frame included)."""

    back_at = 0  # the number of the operation that moves the frame back

    def move(self, src: Path, dst: Path) -> None:
        if str(src).endswith("chair-oak/000005.png"):
            Path(src).write_bytes(NEW_RENDER)
        if "/dist/" in str(src):
            self.back_at = self.calls + 1
        super().move(src, dst)


def test_count_of_operations_with_a_rerendered_frame(farm: Farm) -> None:
    """The operations the next test kills at: the journal's write, 24 moves, the held frame's
    move back, the manifest's write, the record's."""
    farm.plan("spring", CHAIRS)
    counter = RerenderThenKill({"*"}, 10**9)
    result = harvest_release(farm.volume, farm.client, "spring", ops=counter)
    assert [h[:2] for h in result.held] == [("chair-oak", 5)]
    assert counter.calls == KILL_COUNT
    assert counter.back_at in KILL_STEPS  # killed at the move back too


KILL_COUNT = 30
KILL_STEPS = [2, 5, 8, 10, 11, 12, 13, 16, 24, 27, 28, 29, 30]


@pytest.mark.parametrize("step", KILL_STEPS)
def test_killed_harvest_holding_a_frame_is_finished_by_the_next(farm: Farm, step: int) -> None:
    """kill -9 anywhere in a harvest that holds a re-rendered frame back; the next harvest
    finishes the journal (holding it back again) and then checks and delivers the new
    render: 24 frames in the manifest, each with the checksum of the file delivered."""
    farm.plan("spring", CHAIRS)
    before = farm.snapshot()
    assert harvest_killed(farm, RerenderThenKill({"*"}, step, action=lambda: os._exit(9))) == 9
    result = harvest_release(farm.volume, farm.client, "spring")
    assert result.held == []
    # Frame 5 is delivered old (killed before the re-render) or new; every frame exists once.
    five = before.pop("releases/spring/out/chair-oak/000005.png")
    item = next(i for i in load_manifest(farm.volume, "spring")["files"]
                if (i["job"], i["frame"]) == ("chair-oak", 5))
    delivered = (farm.dist("spring") / item["name"]).read_bytes()
    assert delivered in (five, NEW_RENDER)
    after = farm.snapshot()
    assert sorted(map(sha, after.values())) == sorted([*map(sha, before.values()), sha(delivered)])
    doc = load_manifest(farm.volume, "spring")
    assert len(doc["files"]) == 24
    for item in doc["files"]:
        data = (farm.dist("spring") / item["name"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == item["sha256"], item["name"]
    assert not list(farm.volume.root.rglob(".farm-tmp-*"))
    assert not (farm.volume.release_dir("spring") / JOURNAL_NAME).exists()


# --- replaced jobs --------------------------------------------------------------------------

def _replace(farm: Farm, release: str, job: str) -> None:
    """What `farm replace` does to the record, the Manager and the manifest."""
    store = RecordStore(farm.volume)
    with store.transaction(release) as rec:
        j = rec.job(job)
        j.current.state = "superseded"
        j.new_revision(hashlib.sha256(b"v2" + job.encode()).hexdigest())
        submit_pending(farm.session, store, rec)
    mark_superseded(farm.volume, release, job, 1)
    farm.emu.run_worker()


def test_replaced_job_supersedes_delivered_files(farm: Farm) -> None:
    farm.plan("spring", CHAIRS)
    harvest_release(farm.volume, farm.client, "spring")
    old = (farm.dist("spring") / "chair-oak_000003.png").read_bytes()
    _replace(farm, "spring", "chair-oak")
    result = harvest_release(farm.volume, farm.client, "spring")
    assert result.delivered == 12 and len(result.superseded) == 12
    aside = farm.dist("spring") / ".superseded" / "chair-oak" / "r1" / "chair-oak_000003.png"
    assert aside.read_bytes() == old
    new = farm.dist("spring") / "chair-oak_000003.png"
    assert new.is_file()
    doc = load_manifest(farm.volume, "spring")
    by_name = {i["name"]: i for i in doc["files"]}
    assert by_name["chair-oak_000003.png"]["revision"] == 2
    assert by_name["chair-oak_000003.png"]["sha256"] == hashlib.sha256(
        new.read_bytes()).hexdigest()
    assert by_name["chair-ash_000003.png"]["revision"] == 1
    sup = {i["name"]: i for i in doc["superseded"]}
    assert sup[".superseded/chair-oak/r1/chair-oak_000003.png"]["delivered_as"] == (
        "chair-oak_000003.png")
    assert len(doc["files"]) == 24 and len(doc["superseded"]) == 12


@pytest.mark.parametrize("step", [4, 10, 15, 16, 20, 27, 28])
def test_killed_harvest_after_replace(farm: Farm, step: int) -> None:
    """Old deliveries move aside and new frames take their names, in one journal: killed
    anywhere in it, the next harvest finishes with every file in its one right place."""
    farm.plan("spring", CHAIRS)
    harvest_release(farm.volume, farm.client, "spring")
    old = {p.name: p.read_bytes() for p in farm.dist("spring").glob("chair-oak_*.png")}
    _replace(farm, "spring", "chair-oak")
    new = {f"chair-oak_{f:06d}.png": (farm.out("spring", "chair-oak") / f"{f:06d}.png")
           .read_bytes() for f in range(1, 13)}
    farm.session.close()
    pid = os.fork()
    if pid == 0:
        try:
            harvest_release(farm.volume, farm.session.client, "spring",
                            ops=FaultyOps({"*"}, step, action=lambda: os._exit(9)))
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    harvest_release(farm.volume, farm.client, "spring")
    dist = farm.dist("spring")
    aside = dist / ".superseded" / "chair-oak" / "r1"
    assert {p.name: p.read_bytes() for p in aside.iterdir()} == old
    assert {n: (dist / n).read_bytes() for n in new} == new
    assert not any(farm.out("spring", "chair-oak").iterdir())
    doc = load_manifest(farm.volume, "spring")
    assert len(doc["files"]) == 24 and len(doc["superseded"]) == 12
    assert not (farm.volume.release_dir("spring") / JOURNAL_NAME).exists()
    assert len(RecordStore(farm.volume).load("spring").harvests) == 2


# --- frame checks ---------------------------------------------------------------------------

def test_image_checks(tmp_path: Path) -> None:
    png = png_bytes(4, 4)
    assert image_problem(png[:64], png[-16:], len(png), ".png") is None
    assert "signature" in str(image_problem(b"GIF89a" + png[6:64], png[-16:], 99, ".png"))
    assert image_problem(b"", b"", 0, ".png") == "empty file"
    jpg = b"\xff\xd8\xff\xe0" + bytes(40) + b"\xff\xd9"
    assert image_problem(jpg[:64], jpg[-16:], len(jpg), ".jpg") is None
    assert "truncated JPEG" in str(image_problem(jpg[:64], jpg[-16:-2], 40, ".jpg"))
    exr = b"\x76\x2f\x31\x01\x02\x00\x00\x00" + bytes(30)
    assert image_problem(exr, exr[-16:], len(exr), ".exr") is None
    assert "OpenEXR" in str(image_problem(png, png, len(png), ".exr"))
    assert image_problem(b"anything", b"anything", 8, ".tga") is None
    p = tmp_path / "big.png"
    p.write_bytes(png[:-12] + bytes(5 << 20) + png[-12:])  # > 4 MiB: the streaming path
    problem, size, digest = read_frame(p, ".png")
    assert problem is None and size == p.stat().st_size
    assert digest == hashlib.sha256(p.read_bytes()).hexdigest()
    assert read_frame(tmp_path / "none.png", ".png")[0] == "missing"


# --- the CLI --------------------------------------------------------------------------------

@pytest.fixture
def farm_cli(monkeypatch: pytest.MonkeyPatch, farm: Farm) -> Callable[..., int]:
    mine = tuple(v for v in ("harvest", "archive") if v not in cli.VERB_MODULES)
    monkeypatch.setattr(cli, "VERB_MODULES", (*cli.VERB_MODULES, *mine))

    def run(*argv: str) -> int:
        return cli.main(["--manager", farm.emu.url, "--volume", str(farm.volume.root), *argv])

    return run


def test_cli_harvest(farm: Farm, farm_cli: Callable[..., int], tmp_path: Path,
                     capsys: pytest.CaptureFixture[str]) -> None:
    farm.plan("spring", CHAIRS)
    data = str(angles(tmp_path))
    assert farm_cli("--dry-run", "harvest", "release", "spring", "--template", TURNTABLE,
                    "--data", data) == 0
    out = capsys.readouterr().out
    assert "releases/spring/out/chair-oak/000007.png -> chair-oak_r180.png" in out
    assert "nothing was moved" in out
    assert farm_cli("harvest", "release", "spring", "--template", "{nope}") == 2
    assert "unknown field {nope}" in capsys.readouterr().err
    assert farm_cli("--json", "harvest", "release", "spring", "--template", TURNTABLE,
                    "--data", data) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["ok"] and doc["delivered"] == 24
    assert farm_cli("harvest", "release", "nope") == 2
    assert "There is no release 'nope'" in capsys.readouterr().err


def test_cli_timeout_option_and_environment(farm: Farm, farm_cli: Callable[..., int],
                                           capsys: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """--timeout (or FARM_TIMEOUT) bounds each wait for the Manager; a bad value is refused
    before anything is asked, naming where it came from."""
    farm.plan("spring", CHAIRS)
    farm.emu.faults.add(method="GET", path="/api/v3/version", kind="latency", count=20,
                        seconds=1.5)
    started = time.monotonic()
    code = farm_cli("--timeout", "0.3", "harvest", "release", "spring")
    err = capsys.readouterr().err
    assert code != 0 and "did not answer within 0.3 s" in err, err
    assert time.monotonic() - started < 10
    assert not farm.dist("spring").exists()
    farm.emu.faults.clear()

    monkeypatch.setenv("FARM_TIMEOUT", "soon")
    assert farm_cli("status") == 2
    err = capsys.readouterr().err
    assert "FARM_TIMEOUT 'soon' is not a number of seconds" in err and "FARM_TIMEOUT=60" in err
    assert farm_cli("--timeout", "0", "status") == 2
    assert "--timeout '0' is not a number of seconds" in capsys.readouterr().err
    monkeypatch.setenv("FARM_TIMEOUT", "45")
    assert farm_cli("harvest", "release", "spring") == 0


def test_cli_harvest_incomplete_json(farm: Farm, farm_cli: Callable[..., int],
                                     capsys: pytest.CaptureFixture[str]) -> None:
    farm.plan("spring", CHAIRS)
    (farm.out("spring", "chair-ash") / "000004.png").unlink()
    assert farm_cli("--json", "harvest", "release", "spring") == 1
    doc = json.loads(capsys.readouterr().out)
    assert not doc["ok"] and doc["jobs"][0]["problems"] == {"missing": "4"}
    assert farm_cli("harvest", "release", "spring", "--partial") == 0
    out = capsys.readouterr().out
    assert "Delivered 12 frame(s)" in out and "chair-ash" in out and "missing 4" in out


def test_errors_are_farm_errors() -> None:
    assert issubclass(HarvestIncomplete, FarmError)
