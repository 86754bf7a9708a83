"""The release verbs through the real `farm` CLI: plan (bad input), seed, status, kill and
slash-and-burn, against the emulator, with real .blend files on a real volume.

Exit codes are checked on the console entry point in a subprocess (``python -m farm_addon``);
the rest runs ``farm_addon.core.cli.main`` in this process, which is the same code, faster.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from farm_addon.core.fs.volume import Volume
from farm_addon.core.release.plan import PlanRequest, plan_release
from farm_addon.core.session import FarmSession
from tests.core.conftest import ROOT, FarmRunner, farm_jobs
from tests.emulator import Emulator, compiler

pytestmark = pytest.mark.timeout(120)

Tree = Callable[[Path], dict[str, str]]


def plan(session: FarmSession, release: str, *sources: Path | str, **kw: Any) -> None:
    result = plan_release(session, PlanRequest(release=release,
                                               sources=[str(s) for s in sources], **kw))
    assert result.ok, result.jobs


def job_status(emulator: Emulator, release: str, job: str) -> str:
    [found] = farm_jobs(emulator, farm_release=release, farm_job=job)
    return str(found.status)  # type: ignore[attr-defined]


# --- plan: bad input ---------------------------------------------------------------------------

# (id, arguments after `farm`, files to make in the work folder, text the message must hold)
PlanCase = tuple[str, list[str], dict[str, str], str]

BAD_PLANS: list[PlanCase] = [
    ("missing-source", ["plan", "release", "r", "nope.blend"], {}, "'nope.blend' does not exist"),
    ("not-a-blend", ["plan", "release", "r", "notes.txt"], {"notes.txt": "text"},
     "is not a .blend file"),
    ("text-named-blend", ["plan", "release", "r", "fake.blend"], {"fake.blend": "text"},
     "is not a .blend file"),
    ("corrupted", ["plan", "release", "r", "simple.blend", "cut.blend"],
     {"simple.blend": "@simple", "cut.blend": "@cut"}, "damaged or incomplete"),
    ("slash", ["plan", "release", "r", "assets/{object}/{material}.blend", "--name",
               "{object}/{material}"], {}, "contains '/'"),
    ("dotdot", ["plan", "release", "r", "assets/{object}/{material}.blend", "--name",
                "{object}..{material}"], {}, "contains '..'"),
    ("nul-in-plan-file", ["plan", "release", "--from", "p.toml"],
     {"p.toml": 'release = "r"\nsources = ["assets/{object}/{material}.blend"]\n'
                'name = "{object}\\u0000{material}"\n'}, "U+0000"),
    ("reserved-colon", ["plan", "release", "r", "assets/{object}/{material}.blend", "--name",
                        "{object}:{material}"], {}, "contains ':'"),
    ("reserved-hash-in-plan-file", ["plan", "release", "--from", "p.toml"],
     {"p.toml": 'release = "r"\n[jobs."chair#1"]\nsource = "simple.blend"\n',
      "simple.blend": "@simple"}, "contains '#'"),
    ("bad-release-name", ["plan", "release", "bad|name", "simple.blend"],
     {"simple.blend": "@simple"}, "release name 'bad|name' contains '|'"),
    ("same-job-name", ["plan", "release", "r", "assets/{object}/{material}.blend", "--name",
                       "{material}"], {"assets/lamp/oak.blend": "@simple"},
     "Two sources make the job 'oak'"),
    ("names-differ-in-case", ["plan", "release", "r", "a/Chair.blend", "b/chair.blend"],
     {"a/Chair.blend": "@simple", "b/chair.blend": "@simple"}, "differ only in case"),
    ("frames-do-not-parse", ["plan", "release", "r", "simple.blend", "--frames", "1-x"],
     {"simple.blend": "@simple"}, "frame range '1-x'"),
    ("frames-empty", ["plan", "release", "r", "simple.blend", "--frames", ""],
     {"simple.blend": "@simple"}, "frame range is empty"),
    ("frames-backwards", ["plan", "release", "r", "simple.blend", "--frames", "10-1"],
     {"simple.blend": "@simple"}, "runs backwards"),
    ("frames-in-plan-file", ["plan", "release", "--from", "p.toml"],
     {"p.toml": 'release = "r"\nsources = ["simple.blend"]\n[jobs.simple]\nframes = "a-b"\n',
      "simple.blend": "@simple"}, "frame range 'a-b'"),
    ("chunk-size-0", ["plan", "release", "r", "simple.blend", "--chunk-size", "0"],
     {"simple.blend": "@simple"}, "--chunk-size 0"),
    ("chunk-size-in-plan-file", ["plan", "release", "--from", "p.toml"],
     {"p.toml": 'release = "r"\nsources = ["simple.blend"]\n\n[defaults]\nchunk_size = -3\n',
      "simple.blend": "@simple"}, "chunk_size (line 5)"),
    ("unknown-worker-tag", ["plan", "release", "r", "simple.blend", "--worker-tag", "tpu"],
     {"simple.blend": "@simple"}, "Unknown worker tag 'tpu'. Known tags: cpu, gpu"),
    ("unknown-scene", ["plan", "release", "r", "simple.blend", "--scene", "Nope"],
     {"simple.blend": "@simple"}, "no scene named 'Nope'"),
    ("video-format", ["plan", "release", "r", "simple.blend", "--output-format", "FFMPEG"],
     {"simple.blend": "@simple"}, "not one farm can deliver"),
    ("missing-library", ["plan", "release", "r", "simple.blend", "linked/scene/linked.blend"],
     {"simple.blend": "@simple", "linked": "@linked-without-lib"}, "missing library"),
    ("nothing-to-plan", ["plan", "release", "r"], {}, "Nothing to plan"),
    ("existing-release", ["plan", "release", "base", "simple.blend"],
     {"simple.blend": "@simple"}, "already exists"),
    ("plan-file-not-toml", ["plan", "release", "--from", "p.toml"],
     {"p.toml": 'release = "r"\nsources = ["simple.blend"\n'}, "line 2"),
    ("plan-file-unknown-key", ["plan", "release", "--from", "p.toml"],
     {"p.toml": 'release = "r"\n\n[jobs.simple]\nframe = "1-3"\n'},
     "jobs.simple.frame (line 4): unknown setting"),
    ("plan-file-missing", ["plan", "release", "--from", "nope.toml"], {}, "does not exist"),
    ("seed-missing-file", ["seed", "job", "nope.blend", "look"], {}, "does not exist"),
    ("seed-not-a-blend", ["seed", "job", "notes.txt", "look"], {"notes.txt": "x"},
     "is not a .blend file"),
    ("seed-corrupted", ["seed", "job", "cut.blend", "look"], {"cut.blend": "@cut"},
     "damaged or incomplete"),
    ("seed-bad-job-name", ["seed", "job", "simple.blend", "a/b"], {"simple.blend": "@simple"},
     "contains '/'"),
    ("seed-frames-empty", ["seed", "job", "simple.blend", "look", "--frames", ""],
     {"simple.blend": "@simple"}, "frame range is empty"),
    ("seed-chunk-size-0", ["seed", "job", "simple.blend", "look", "--chunk-size", "0"],
     {"simple.blend": "@simple"}, "chunk size must be at least 1"),
    ("seed-unknown-worker-tag", ["seed", "job", "simple.blend", "look", "--worker-tag", "tpu"],
     {"simple.blend": "@simple"}, "Unknown worker tag 'tpu'"),
    ("seed-missing-library", ["seed", "job", "linked/scene/linked.blend", "look"],
     {"linked": "@linked-without-lib"}, "missing library"),
    ("bad-query", ["kill", "jobs", "colour:red"], {}, "Unknown query key 'colour'"),
    ("unknown-release-status", ["status", "nope"], {}, "There is no release 'nope'"),
    ("unknown-release-kill", ["kill", "nope.jobs", "*"], {}, "Unknown release 'nope'"),
]


def _make_files(work: Path, files: dict[str, str], blends: dict[str, Path]) -> None:
    for rel in ("assets/chair/oak.blend", "assets/chair/walnut.blend"):
        (work / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(blends["simple"], work / rel)
    for rel, content in files.items():
        target = work / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if content == "@cut":
            target.write_bytes(blends["simple"].read_bytes()[:4096])
        elif content == "@linked-without-lib":
            shutil.copytree(blends["linked"].parent.parent, target)
            shutil.rmtree(target / "lib")
        elif content.startswith("@"):
            shutil.copy2(blends[content[1:]], target)
        else:
            target.write_text(content, encoding="utf-8")


@pytest.mark.emulator(worker_tags=["gpu", "cpu"])
@pytest.mark.parametrize(("args", "files", "message"),
                         [c[1:] for c in BAD_PLANS], ids=[c[0] for c in BAD_PLANS])
def test_bad_input_exits_2_and_changes_nothing(
    args: list[str], files: dict[str, str], message: str, farm: FarmRunner, session: FarmSession,
    emulator: Emulator, volume: Volume, blends: dict[str, Path], work: Path, tree: Tree,
) -> None:
    plan(session, "base", blends["textured"])  # something to keep unchanged
    _make_files(work, files, blends)
    before = tree(volume.root)
    jobs = {j.id: j.status for j in emulator.jobs.values()}
    requests_before = len(emulator.requests)

    res = farm(args)
    assert res.code == 2, res.text
    assert message in res.err, res.err
    assert "Traceback" not in res.err
    assert tree(volume.root) == before
    assert {j.id: j.status for j in emulator.jobs.values()} == jobs
    sent = [r for r in emulator.requests[requests_before:] if r.method not in ("GET",)]
    assert all(r.path in ("/api/v3/jobs/check", "/api/v3/jobs/query") for r in sent), sent


def test_unknown_job_type_exits_2(
    farm: FarmRunner, emulator: Emulator, volume: Volume, blends: dict[str, Path],
    tree: Tree, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delitem(compiler.JOB_TYPES, "simple-blender-render")  # the emulator's job types
    before = tree(volume.root)
    res = farm(["plan", "release", "r", str(blends["simple"])])
    assert res.code == 2, res.text
    assert "no job type 'simple-blender-render'" in res.err
    assert tree(volume.root) == before and not emulator.jobs


def test_unreachable_manager_exits_2(
    farm: FarmRunner, volume: Volume, blends: dict[str, Path], tree: Tree,
) -> None:
    before = tree(volume.root)
    for args in (["plan", "release", "r", str(blends["simple"])], ["status"],
                 ["kill", "jobs", "*"], ["seed", "job", str(blends["simple"]), "q"]):
        res = farm(args, env={"FARM_MANAGER_URL": "http://127.0.0.1:9"})
        assert res.code == 2, res.text
        assert "Cannot reach Flamenco Manager at http://127.0.0.1:9" in res.err
    assert tree(volume.root) == before


def test_incompatible_manager_exits_2(
    farm: FarmRunner, emulator_factory: Callable[..., Emulator], volume: Volume,
    blends: dict[str, Path], tree: Tree,
) -> None:
    old = emulator_factory(version="3.3.0")
    before = tree(volume.root)
    res = farm(["plan", "release", "r", str(blends["simple"])],
               env={"FARM_MANAGER_URL": old.url})
    assert res.code == 2, res.text
    assert "3.3 is too old" in res.err
    assert tree(volume.root) == before and not old.jobs


def test_not_a_farm_volume_exits_2(
    farm: FarmRunner, emulator: Emulator, blends: dict[str, Path], work: Path, tree: Tree,
) -> None:
    before = tree(work)
    res = farm(["plan", "release", "r", str(blends["simple"])], env={"FARM_VOLUME": str(work)})
    assert res.code == 2, res.text
    assert "is not a farm volume" in res.err and "farm init" in res.err
    assert tree(work) == before and not emulator.jobs


def test_plan_and_status_through_the_console(
    farm: FarmRunner, emulator: Emulator, volume: Volume, blends: dict[str, Path],
) -> None:
    res = farm(["plan", "release", "spring", str(blends["simple"]), str(blends["exr_step"])])
    assert res.code == 0, res.text
    assert "Planned release 'spring': 2 of 2 job(s) on the farm." in res.out
    # No volume given: the Manager's shared storage is the farm volume.
    status = farm(["status", "spring", "--json"], env={"FARM_VOLUME": ""})
    assert status.code == 0, status.text
    data = json.loads(status.out)
    assert data["release"] == "spring"
    assert {(j["name"], j["status"]) for j in data["jobs"]} == {
        ("simple", "queued"), ("exr_step", "queued")}
    assert {j["job_id"] for j in data["jobs"]} == set(emulator.jobs)


# --- seed --------------------------------------------------------------------------------------


@pytest.mark.emulator(worker="instant")
def test_seed_with_file_and_reseed_moves_frames_aside(
    farm_inproc: FarmRunner, emulator: Emulator, volume: Volume, blends: dict[str, Path],
) -> None:
    res = farm_inproc(["seed", "job", str(blends["simple"]), "look", "--frames", "1-3"])
    assert res.code == 0, res.text
    [job] = emulator.jobs.values()
    assert job.name == "quick/look"
    assert job.metadata["farm.release"] == "quick" and job.metadata["farm.job"] == "look"
    assert (volume.root / "quick/store/look.blend").is_file()
    assert job.settings["render_output_path"] == "{my_storage}/quick/out/look/######"

    busy = farm_inproc(["seed", "job", str(blends["simple"]), "look"])
    assert busy.code == 2 and "still on the farm" in busy.err  # not finished yet
    emulator.run_worker()
    out = volume.root / "quick/out/look"
    assert sorted(os.listdir(out)) == ["000001.png", "000002.png", "000003.png"]

    for _ in range(2):  # twice within a second: two folders aside
        again = farm_inproc(["seed", "job", str(blends["exr_step"]), "look"])
        assert again.code == 0, again.text
        assert "Earlier frames of 'look' moved to" in again.out
        emulator.run_worker()
    aside = sorted(p for p in (volume.root / "quick/out").iterdir() if p.name.startswith("look@"))
    assert len(aside) == 2
    assert sorted(os.listdir(aside[0])) == ["000001.png", "000002.png", "000003.png"]
    assert len(emulator.jobs) == 3


def test_seed_without_file(
    farm: FarmRunner, emulator: Emulator, volume: Volume, blends: dict[str, Path], work: Path,
) -> None:
    none = farm(["seed", "job", "q"], cwd=work)
    assert none.code == 2 and "There is no .blend file in" in none.err
    shutil.copy2(blends["simple"], work / "only.blend")
    one = farm(["seed", "job", "q"], cwd=work)
    assert one.code == 0, one.text
    assert len(emulator.jobs) == 1
    [job] = emulator.jobs.values()
    assert job.metadata["farm.job"] == "q" and job.settings["frames"] == "1-12"
    shutil.copy2(blends["simple"], work / "other.blend")
    several = farm(["seed", "job", "q2"], cwd=work)
    assert several.code == 2
    assert "several .blend files (only.blend, other.blend)" in several.err
    assert len(emulator.jobs) == 1


# --- status ------------------------------------------------------------------------------------


def test_status_rows_and_overview(
    farm_inproc: FarmRunner, session: FarmSession, emulator: Emulator, volume: Volume,
    blends: dict[str, Path],
) -> None:
    plan(session, "spring", blends["simple"], blends["exr_step"])
    res = farm_inproc(["status", "spring"])
    assert res.code == 0, res.text
    lines = res.out.splitlines()
    assert lines[0] == "Release spring: 0/20 frames, 0/2 jobs completed"
    rows = {line.split()[0]: line.split() for line in lines[3:]}
    assert rows["simple"][1:4] == ["queued", "0/12", "1"]
    assert rows["exr_step"][1:4] == ["queued", "0/8", "1"]

    overview = farm_inproc(["status", "--json"])
    data = json.loads(overview.out)
    assert data["manager"]["version"] == emulator.version
    assert data["releases"] == [{"name": "spring", "jobs": 2, "completed": 0, "frames_done": 0,
                                 "frames_total": 20, "error": ""}]
    text = farm_inproc(["status"]).out
    assert f"Flamenco {emulator.version}" in text and "spring" in text


def _first_draw(watch: subprocess.Popen[str], marker: str) -> str:
    """The output of ``watch`` up to and including its first line starting with ``marker``."""
    assert watch.stdout is not None
    seen = ""
    while True:
        line = watch.stdout.readline()
        seen += line
        if not line or line.startswith(marker):
            return seen


@pytest.mark.emulator(worker="instant")
@pytest.mark.parametrize("json_flag", [[], ["--json"]], ids=["text", "json"])
def test_status_watch_exits_0_when_all_completed(
    json_flag: list[str], session: FarmSession, emulator: Emulator, blends: dict[str, Path],
    farm_env: dict[str, str], work: Path,
) -> None:
    plan(session, "spring", blends["simple"], blends["exr_step"])
    watch = subprocess.Popen(
        [sys.executable, "-m", "farm_addon", "status", "spring", "--watch", "--interval", "0.1",
         *json_flag],
        cwd=work, env={**os.environ, **farm_env, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL,
    )
    try:
        # The Worker starts only once --watch has drawn the unfinished release: a fixed sleep
        # let a slow start (a loaded machine) draw only the finished state.
        first = _first_draw(watch, "{" if json_flag else "Release spring:")
        assert watch.poll() is None, "--watch ended before the jobs finished"
        emulator.start_worker_thread()
        out, err = watch.communicate(timeout=60)
        out = first + out
    finally:
        if watch.poll() is None:
            watch.kill()
    assert watch.returncode == 0, out + err
    if json_flag:
        states = [json.loads(line) for line in out.splitlines()]
        assert len(states) >= 2 and not states[0]["finished"]  # redrawn
        assert states[-1]["all_completed"] and states[-1]["frames_done"] == 20
    else:
        assert out.count("Release spring:") >= 2  # redrawn
        assert "Release spring: 20/20 frames, 2/2 jobs completed" in out


@pytest.mark.emulator(worker="instant")
def test_status_watch_exits_1_when_a_job_was_canceled(
    farm: FarmRunner, session: FarmSession, emulator: Emulator, blends: dict[str, Path],
) -> None:
    plan(session, "spring", blends["simple"], blends["exr_step"])
    [simple] = farm_jobs(emulator, farm_job="simple")
    session.client.cancel_job(simple.id, "test")  # type: ignore[attr-defined]
    emulator.run_worker()
    res = farm(["status", "spring", "--watch", "--interval", "0.1", "--json"])
    assert res.code == 1, res.text
    [line] = res.out.splitlines()  # --watch --json: one JSON line per redraw
    data = json.loads(line)
    assert {j["name"]: j["status"] for j in data["jobs"]} == {
        "simple": "canceled", "exr_step": "completed"}


def test_status_marks_stale_jobs(
    farm_inproc: FarmRunner, session: FarmSession, work_blend: Callable[..., Path],
) -> None:
    textured = work_blend("textured")
    simple = work_blend("simple")
    plan(session, "spring", textured, simple)
    wood = textured.parent / "textures" / "wood.png"
    later = time.time() + 10
    os.utime(wood, (later, later))  # touched, same bytes: not a change
    data = json.loads(farm_inproc(["status", "spring", "--json"]).out)
    assert not any(j["stale"] for j in data["jobs"])
    wood.write_bytes(wood.read_bytes() + b"\0")  # really changed
    res = farm_inproc(["status", "spring", "--json"])
    jobs = {j["name"]: j for j in json.loads(res.out)["jobs"]}
    assert jobs["textured"]["stale"] and jobs["textured"]["stale_files"] == [str(wood)]
    assert not jobs["simple"]["stale"]
    text = farm_inproc(["status", "spring"]).out
    assert any(line.startswith("textured") and "stale" in line for line in text.splitlines())


# --- kill --------------------------------------------------------------------------------------


def _catalogue(session: FarmSession, work: Path, blends: dict[str, Path],
               release: str = "spring") -> None:
    for obj, material in (("chair", "oak"), ("chair", "walnut"), ("lamp", "brass")):
        target = work / release / obj / f"{material}.blend"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(blends["simple"], target)
    plan(session, release, f"{release}/{{object}}/{{material}}.blend", cwd=work)


def test_kill_jobs_query(
    farm_inproc: FarmRunner, session: FarmSession, emulator: Emulator, blends: dict[str, Path],
    work: Path,
) -> None:
    _catalogue(session, work, blends)
    res = farm_inproc(["kill", "jobs", "meta.object:chair", "--yes", "--json"])
    assert res.code == 0, res.text
    outcomes = json.loads(res.out)["outcomes"]
    assert sorted((o["name"], o["outcome"]) for o in outcomes) == [
        ("chair-oak", "cancel requested"), ("chair-walnut", "cancel requested")]
    assert job_status(emulator, "spring", "chair-oak") == "canceled"
    assert job_status(emulator, "spring", "lamp-brass") == "queued"
    # One job: no confirmation needed; terms are ANDed.
    one = farm_inproc(["kill", "jobs", "lamp-*", "status:queued"])
    assert one.code == 0, one.text
    assert job_status(emulator, "spring", "lamp-brass") == "canceled"


def test_kill_release_jobs_only_touches_that_release(
    farm_inproc: FarmRunner, session: FarmSession, emulator: Emulator, blends: dict[str, Path],
    work: Path,
) -> None:
    _catalogue(session, work, blends, "spring")
    _catalogue(session, work, blends, "summer")
    res = farm_inproc(["kill", "summer.jobs", "chair-*", "--yes"])
    assert res.code == 0, res.text
    assert job_status(emulator, "summer", "chair-oak") == "canceled"
    assert job_status(emulator, "summer", "lamp-brass") == "queued"
    assert job_status(emulator, "spring", "chair-oak") == "queued"


def test_kill_dry_run_and_confirmation(
    farm: FarmRunner, farm_inproc: FarmRunner, session: FarmSession, emulator: Emulator,
    blends: dict[str, Path], work: Path,
) -> None:
    _catalogue(session, work, blends)
    dry = farm_inproc(["kill", "spring.jobs", "*", "--dry-run"])
    assert dry.code == 0, dry.text
    assert "3 job(s) would be asked to cancel; nothing was sent" in dry.out
    assert all(line.split()[0] == "spring" for line in dry.out.splitlines()[2:5])
    assert {j.status for j in emulator.jobs.values()} == {"queued"}

    asked = farm(["kill", "jobs", "chair-*"])  # stdin is not a terminal
    assert asked.code == 2, asked.text
    assert "Pass --yes" in asked.err
    assert {j.status for j in emulator.jobs.values()} == {"queued"}


@pytest.mark.emulator(worker="instant")
def test_kill_reports_an_outcome_per_job(
    farm_inproc: FarmRunner, session: FarmSession, emulator: Emulator, blends: dict[str, Path],
) -> None:
    plan(session, "spring", blends["simple"])
    emulator.run_worker()
    plan(session, "spring", blends["exr_step"], add=True)
    res = farm_inproc(["kill", "spring.jobs", "*", "--yes", "--json"])
    assert res.code == 0, res.text
    outcomes = {o["name"]: o for o in json.loads(res.out)["outcomes"]}
    assert outcomes["simple"]["outcome"] == "skipped"
    assert outcomes["simple"]["message"] == "already completed"
    assert outcomes["exr_step"]["outcome"] == "cancel requested"
    assert job_status(emulator, "spring", "simple") == "completed"
    assert job_status(emulator, "spring", "exr_step") == "canceled"
    text = farm_inproc(["kill", "jobs", "nothing-like-this"])
    assert text.code == 0 and "No job matches" in text.out


# --- slash-and-burn ----------------------------------------------------------------------------


def _farm_in_use(session: FarmSession, volume: Volume, blends: dict[str, Path],
                 farm_inproc: FarmRunner) -> None:
    plan(session, "spring", blends["simple"])
    assert farm_inproc(["seed", "job", str(blends["simple"]), "look"]).code == 0
    for folder in ("dist", "archives"):
        (volume.root / folder / "spring").mkdir()
        (volume.root / folder / "spring" / "keep.txt").write_text("keep")


def test_slash_and_burn_dry_run_and_confirmation(
    farm: FarmRunner, farm_inproc: FarmRunner, session: FarmSession, emulator: Emulator,
    volume: Volume, blends: dict[str, Path], tree: Tree,
) -> None:
    _farm_in_use(session, volume, blends, farm_inproc)
    before = tree(volume.root)
    dry = farm_inproc(["slash-and-burn", "--dry-run"])
    assert dry.code == 0, dry.text
    assert "2 job(s) on the Manager will be cancelled and deleted." in dry.out
    assert "spring/simple" in dry.out and "quick/look" in dry.out
    assert str(volume.root / "quick" / "store") in dry.out
    assert "Dry run: nothing was changed." in dry.out
    asked = farm(["slash-and-burn"])
    assert asked.code == 2 and "--yes" in asked.err
    assert tree(volume.root) == before
    assert {j.status for j in emulator.jobs.values()} == {"queued"}
    assert not any(j.delete_requested_at for j in emulator.jobs.values())


def test_slash_and_burn_resets_the_farm(
    farm_inproc: FarmRunner, session: FarmSession, emulator: Emulator, volume: Volume,
    blends: dict[str, Path],
) -> None:
    _farm_in_use(session, volume, blends, farm_inproc)
    res = farm_inproc(["slash-and-burn", "--yes"])
    assert res.code == 0, res.text
    assert "Deleted 2 job(s)" in res.out
    assert not session.client.jobs()
    assert list((volume.root / "quick").iterdir()) == []
    assert (volume.root / "releases/spring/release.json").is_file()
    assert (volume.root / "releases/spring/store/simple.blend").is_file()
    assert (volume.root / "dist/spring/keep.txt").is_file()
    assert (volume.root / "archives/spring/keep.txt").is_file()
    assert volume.marker_path.is_file()

    again = farm_inproc(["slash-and-burn", "--yes", "--include", "dist"])
    assert again.code == 0, again.text
    assert list((volume.root / "dist").iterdir()) == []
    assert (volume.root / "archives/spring/keep.txt").is_file()
    assert (volume.root / "releases/spring/release.json").is_file()
