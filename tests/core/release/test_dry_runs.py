"""The dry runs of ``seed`` and ``replace`` check as much as a real run does before they say
"would": given bad input, a dry run exits 2 with the message the real run gives; given good
input, it writes nothing on the volume and submits, cancels or deletes nothing on the Manager.

The real ``farm`` CLI, in a subprocess, against the Manager emulator."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from farm_addon.core.fs.volume import Volume
from tests.core.conftest import FarmRunner
from tests.emulator import Emulator

pytestmark = [pytest.mark.timeout(180)]

Tree = Callable[[Path], dict[str, str]]


def manager_state(emulator: Emulator) -> list[tuple[str, str, bool]]:
    """Every job on the Manager: (id, status, not awaiting deletion)."""
    with emulator.store.lock:
        return sorted((j.id, j.status, j.delete_requested_at is None)
                      for j in emulator.jobs.values())


def _last_error(text: str) -> str:
    lines = [line for line in text.splitlines() if line.startswith("farm: error:")]
    assert lines, text
    return lines[-1]


def same_refusal(farm: FarmRunner, argv: list[str], says: str, emulator: Emulator,
                 volume: Volume, tree: Tree, cwd: Path | None = None) -> str:
    """``argv`` with --dry-run, then without: both exit 2 with the same message, which
    ``says``; neither changes the volume or the Manager."""
    before, jobs_before = tree(volume.root), manager_state(emulator)
    dry = farm(["--dry-run", *argv], cwd=cwd)
    assert dry.code == 2, dry.text
    assert "would" not in dry.out.lower(), dry.text
    assert tree(volume.root) == before and manager_state(emulator) == jobs_before
    real = farm(argv, cwd=cwd)
    assert real.code == 2, real.text
    assert _last_error(dry.err) == _last_error(real.err)
    assert says in _last_error(real.err), real.err
    assert manager_state(emulator) == jobs_before
    return _last_error(real.err)


# --- seed --------------------------------------------------------------------------------------


@pytest.fixture
def src(work_blend: Callable[..., Path]) -> Path:
    return work_blend("simple", "shot.blend")


@pytest.mark.parametrize(
    ("case", "says"),
    [
        ("missing file", "does not exist"),
        ("not a .blend", "is not a .blend file"),
        ("job name ..", "job name '../x'"),
        ("job name with a slash", "job name 'x/y'"),
        ("bad frames", "'../'"),
        ("unknown worker tag", "nope"),
        ("no .blend here", "There is no .blend file in"),
    ],
)
def test_seed_dry_run_refuses_what_seed_refuses(
    farm: FarmRunner, emulator: Emulator, volume: Volume, tree: Tree, src: Path, work: Path,
    tmp_path: Path, case: str, says: str,
) -> None:
    argv = {
        "missing file": ["seed", "job", str(work / "nowhere.blend"), "x"],
        "not a .blend": ["seed", "job", str(_text_file(work)), "x"],
        "job name ..": ["seed", "job", str(src), "../x"],
        "job name with a slash": ["seed", "job", str(src), "x/y"],
        "bad frames": ["seed", "job", str(src), "x", "--frames", "1-3,../"],
        "unknown worker tag": ["seed", "job", str(src), "x", "--worker-tag", "nope"],
        "no .blend here": ["seed", "job", "x"],
    }[case]
    empty = tmp_path / "empty"
    empty.mkdir()
    same_refusal(farm, argv, says, emulator, volume, tree, cwd=empty)


def _text_file(folder: Path) -> Path:
    path = folder / "notes.txt"
    path.write_text("not a blend")
    return path


def test_seed_dry_run_refuses_a_job_still_on_the_farm(
    farm: FarmRunner, emulator: Emulator, volume: Volume, tree: Tree, src: Path,
) -> None:
    assert farm(["seed", "job", str(src), "look"]).code == 0  # queued: not finished
    same_refusal(farm, ["seed", "job", str(src), "look"], "still on the farm", emulator,
                 volume, tree)


def test_seed_dry_run_refuses_an_unreachable_manager(
    farm: FarmRunner, emulator: Emulator, volume: Volume, tree: Tree, src: Path,
) -> None:
    same_refusal(farm, ["--manager", "http://127.0.0.1:9", "seed", "job", str(src), "x"],
                 "Cannot reach Flamenco Manager", emulator, volume, tree)


def test_seed_dry_run_writes_and_submits_nothing(
    farm: FarmRunner, emulator: Emulator, volume: Volume, tree: Tree, src: Path,
) -> None:
    before = tree(volume.root)
    dry = farm(["seed", "job", str(src), "look", "--frames", "1-3", "--dry-run"])
    assert dry.code == 0, dry.text
    assert f"Dry run: would seed {src} as job 'look' (frames 1-3)" in dry.out
    assert tree(volume.root) == before and emulator.jobs == {}
    real = farm(["seed", "job", str(src), "look", "--frames", "1-3"])
    assert real.code == 0, real.text and len(emulator.jobs) == 1


# --- replace -----------------------------------------------------------------------------------


@pytest.fixture
def planned(farm: FarmRunner, emulator: Emulator, work_blend: Callable[..., Path]) -> Path:
    """Release 'spring' with one rendered job 'a' (with a texture); returns its source."""
    source = work_blend("textured")
    source = source.rename(source.with_name("a.blend"))
    res = farm(["plan", "release", "spring", str(source)])
    assert res.code == 0, res.text
    emulator.run_worker()
    return source


def _damaged(folder: Path) -> Path:
    path = folder / "broken.blend"
    path.write_bytes(b"BLENDER-v404" + bytes(range(256)) + b"\0" * 44)
    return path


@pytest.mark.emulator(worker="instant")
@pytest.mark.parametrize(
    ("case", "says"),
    [
        ("no such job", "no job 'b'"),
        ("no such release", "no release 'winter'"),
        ("release ../", "release name '../spring'"),
        ("--from a missing file", "x.blend"),
        ("--from a damaged .blend", "broken.blend"),
        ("--from not a .blend", "notes.txt"),
    ],
)
def test_replace_dry_run_refuses_what_replace_refuses(
    farm: FarmRunner, emulator: Emulator, volume: Volume, tree: Tree, planned: Path,
    work: Path, case: str, says: str,
) -> None:
    argv = {
        "no such job": ["replace", "job", "b", "--release", "spring"],
        "no such release": ["replace", "job", "a", "--release", "winter"],
        "release ../": ["replace", "job", "a", "--release", "../spring"],
        "--from a missing file": ["replace", "job", "a", "--from", str(work / "x.blend")],
        "--from a damaged .blend": ["replace", "job", "a", "--from", str(_damaged(work))],
        "--from not a .blend": ["replace", "job", "a", "--from", str(_text_file(work))],
    }[case]
    same_refusal(farm, argv, says, emulator, volume, tree)


@pytest.mark.emulator(worker="instant")
def test_replace_dry_run_refuses_a_folder_linked_out_of_the_volume(
    farm: FarmRunner, emulator: Emulator, volume: Volume, tree: Tree, planned: Path,
    tmp_path: Path,
) -> None:
    outside = tmp_path / "outside.txt"  # a file: the volume's snapshot reads what links lead to
    outside.write_text("keep me")
    (volume.release_dir("spring") / "superseded").symlink_to(outside)
    same_refusal(farm, ["replace", "job", "a"], "outside the farm volume", emulator, volume,
                 tree)
    assert outside.read_text() == "keep me"


@pytest.mark.emulator(worker="instant")
def test_replace_dry_run_refuses_an_unreachable_manager(
    farm: FarmRunner, emulator: Emulator, volume: Volume, tree: Tree, planned: Path,
) -> None:
    same_refusal(farm, ["--manager", "http://127.0.0.1:9", "replace", "job", "a"],
                 "Cannot reach Flamenco Manager", emulator, volume, tree)


@pytest.mark.emulator(worker="instant")
def test_replace_dry_run_changes_nothing(
    farm: FarmRunner, emulator: Emulator, volume: Volume, tree: Tree, planned: Path,
) -> None:
    before, jobs_before = tree(volume.root), manager_state(emulator)
    dry = farm(["replace", "job", "a", "--dry-run"])
    assert dry.code == 0, dry.text
    assert "Dry run: would replace 'a' of release 'spring' with revision 2" in dry.out
    assert tree(volume.root) == before and manager_state(emulator) == jobs_before
    # The stale dry run too, once the texture changed.
    texture = planned.parent / "textures" / "wood.png"
    texture.write_bytes(texture.read_bytes() + b"changed")  # an artist re-exported it
    before = tree(volume.root)
    stale = farm(["replace", "spring.jobs", "--stale", "--dry-run"])
    assert stale.code == 0, stale.text
    assert "a: " in stale.out and "1 stale job(s) would be replaced" in stale.out
    assert tree(volume.root) == before and manager_state(emulator) == jobs_before
    real = farm(["replace", "job", "a"])
    assert real.code == 0, real.text
    assert "Replaced 'a' of release 'spring': revision 1 -> 2, submitted" in real.out
