"""Self-tests of the Flamenco Manager emulator: API behaviour, job compiler, state machine."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests

from tests.emulator import Emulator
from tests.emulator.frames import FrameRangeError, frame_chunks, merge_frames
from tests.emulator.samples import echo_job, render_job

pytest_plugins = ["tests.emulator.fixtures"]

API = "/api/v3"
UNKNOWN_ID = "00000000-0000-4000-8000-000000000000"


def get(emu: Emulator, path: str) -> requests.Response:
    return requests.get(emu.url + API + path, timeout=10)


def post(emu: Emulator, path: str, body: Any = None) -> requests.Response:
    return requests.post(emu.url + API + path, json=body, timeout=10)


def submit(emu: Emulator, body: dict[str, Any]) -> dict[str, Any]:
    resp = post(emu, "/jobs", body)
    assert resp.status_code == 200, resp.text
    job: dict[str, Any] = resp.json()
    return job


def tasks_of(emu: Emulator, job_id: str) -> list[dict[str, Any]]:
    resp = get(emu, f"/jobs/{job_id}/tasks")
    assert resp.status_code == 200, resp.text
    tasks: list[dict[str, Any]] = resp.json()["tasks"]
    return tasks


def set_status(emu: Emulator, job_id: str, status: str) -> None:
    resp = post(emu, f"/jobs/{job_id}/setstatus", {"status": status, "reason": "test"})
    assert resp.status_code == 204, resp.text


# Meta -------------------------------------------------------------------------------------------
def test_version_and_configuration(emulator: Emulator) -> None:
    version = get(emulator, "/version").json()
    assert version["version"] == version["shortversion"] == "3.8.5"
    assert version["name"] and version["git"]
    config = get(emulator, "/configuration").json()
    assert config == {"storageLocation": str(emulator.storage), "shamanEnabled": False,
                      "isFirstRun": False}
    assert get(emulator, "/status").json() == {"status": "inoperative"}  # worker mode none


@pytest.mark.emulator(variables={"my_storage": {"linux": "/mnt/farm", "windows": "F:\\farm",
                                                "darwin": "/Volumes/farm"}})
def test_variables_and_shared_storage(emulator: Emulator) -> None:
    windows = get(emulator, "/configuration/variables/users/windows").json()
    assert windows["my_storage"] == {"value": "F:\\farm", "is_twoway": True}
    assert windows["blender"]["is_twoway"] is False
    assert windows["blenderArgs"]["value"] == "-b -y"
    storage = get(emulator, "/configuration/shared-storage/users/linux").json()
    assert storage == {"location": str(emulator.storage), "audience": "users",
                       "platform": "linux", "shamanEnabled": False}


def test_shared_storage_follows_twoway_variables(emulator: Emulator) -> None:
    # Default two-way variable: my_storage, linux = the storage folder.
    windows = get(emulator, "/configuration/shared-storage/workers/windows").json()
    assert windows["location"] == "F:\\farm"
    darwin = get(emulator, "/configuration/shared-storage/users/darwin").json()
    assert darwin["location"] == "/Volumes/farm"


@pytest.mark.emulator(shaman=True)
def test_shaman_location_is_jobs_folder(emulator: Emulator) -> None:
    storage = get(emulator, "/configuration/shared-storage/users/linux").json()
    assert storage["location"] == str(emulator.storage / "jobs")
    assert storage["shamanEnabled"] is True


@pytest.mark.emulator(worker="blender")
def test_blender_variable_is_the_standin_in_blender_mode(emulator: Emulator) -> None:
    linux = get(emulator, "/configuration/variables/workers/linux").json()
    assert "blender_standin.py" in linux["blender"]["value"]
    windows = get(emulator, "/configuration/variables/workers/windows").json()
    assert windows["blender"]["value"] == "blender"


# Spec checks ------------------------------------------------------------------------------------
@pytest.mark.emulator(allow_violations=True)
def test_spec_check_refuses_bad_request(emulator: Emulator) -> None:
    resp = requests.post(emulator.url + API + "/jobs", json={"name": 1}, timeout=10)
    assert resp.status_code == 400
    assert set(resp.json()) == {"code", "message"}
    assert len(emulator.violations) == 1
    assert "submitter_platform" in emulator.violations[0]
    assert not emulator.jobs

    resp = requests.post(emulator.url + API + "/jobs", data=b"{not json",
                         headers={"Content-Type": "application/json"}, timeout=10)
    assert resp.status_code == 400
    assert len(emulator.violations) == 2


@pytest.mark.emulator(allow_violations=True)
def test_spec_check_refuses_out_of_range_priority(emulator: Emulator) -> None:
    job = submit(emulator, echo_job())
    resp = post(emulator, f"/jobs/{job['id']}/setpriority", {"priority": 150})
    assert resp.status_code == 400
    assert emulator.jobs[job["id"]].priority == 50
    assert "priority" in emulator.violations[0]


@pytest.mark.emulator(allow_violations=True)
def test_spec_check_records_bad_response(emulator: Emulator) -> None:
    from tests.emulator.api import Response

    for route in emulator._dispatcher.router.routes:
        if route.template == "/api/v3/version":
            route.handler = lambda ctx: Response(body={"version": 3})
    resp = get(emulator, "/version")
    assert resp.status_code == 200  # still sent
    assert resp.json() == {"version": 3}
    assert any("response 200 to GET /api/v3/version" in v for v in emulator.violations)


def test_spec_patches_allow_known_mistakes(emulator: Emulator) -> None:
    # JobTasksSummary (tasks), ManagerVariable (no name), AvailableJobSetting (untyped default).
    job = submit(emulator, echo_job())
    assert tasks_of(emulator, job["id"])
    assert get(emulator, "/configuration/variables/users/linux").status_code == 200
    assert get(emulator, "/jobs/types").status_code == 200
    assert emulator.violations == []


def test_unknown_paths_and_methods(emulator: Emulator) -> None:
    assert get(emulator, "/no-such-thing").status_code == 404
    resp = requests.put(emulator.url + API + "/version", timeout=10)
    assert resp.status_code == 405
    assert set(resp.json()) == {"code", "message"}


def test_ids_must_be_uuids(emulator: Emulator) -> None:
    for path in ("/jobs/not-a-uuid", "/jobs/not-a-uuid/tasks", "/tasks/1234",
                 "/worker-mgt/workers/abc"):
        resp = get(emulator, path)
        assert resp.status_code == 400, path
        assert resp.json()["code"] == 400
    for path in (f"/jobs/{UNKNOWN_ID}", f"/tasks/{UNKNOWN_ID}", f"/jobs/{UNKNOWN_ID}/tasks"):
        resp = get(emulator, path)
        assert resp.status_code == 404, path
        assert set(resp.json()) == {"code", "message"}


# Job types and the compiler ---------------------------------------------------------------------
def test_job_types_and_etag(emulator: Emulator) -> None:
    types = get(emulator, "/jobs/types").json()["job_types"]
    names = {t["name"] for t in types}
    assert names == {"simple-blender-render", "echo-sleep-test"}
    sbr = get(emulator, "/jobs/type/simple-blender-render").json()
    assert len(sbr["etag"]) == 40
    keys = [s["key"] for s in sbr["settings"]]
    assert keys[:5] == ["frames", "chunk_size", "render_output_root", "add_path_components",
                        "render_output_path"]
    assert get(emulator, "/jobs/type/nope").status_code == 404


def test_frame_chunks_like_the_job_compiler() -> None:
    assert frame_chunks("1-10,20,30-40", 3) == [
        "1-3", "4-6", "7-9", "10,20,30", "31-33", "34-36", "37-39", "40"]
    assert frame_chunks("1..10,20..25,40,3..8", 4) == ["1-4", "5-8", "9,10,20,21", "22-25", "40"]
    assert frame_chunks("47", 1) == ["47"]
    assert frame_chunks(" 3, 5-10, 47-327 ", 1000) == ["3,5-10,47-327"]
    assert merge_frames([1, 2, 4, 5, 6, 9]) == "1,2,4-6,9"
    for bad, size in (("", 1), ("a-b", 1), ("1-2-3", 1), ("5-1", 1), ("1-10", 0)):
        with pytest.raises(FrameRangeError):
            frame_chunks(bad, size)


def test_submit_compiles_tasks_like_the_script(emulator: Emulator) -> None:
    storage = emulator.storage
    job = submit(emulator, render_job(storage, "shot", frames="1-10,20,30-40", chunk_size=3))
    assert job["status"] == "queued"
    output = job["settings"]["render_output_path"]
    assert "{timestamp}" not in output and output.endswith("/######")
    assert output.startswith("{my_storage}/renders/shot/")  # two-way variable
    tasks = tasks_of(emulator, job["id"])
    assert [t["name"] for t in tasks] == [
        "render-1-3", "render-4-6", "render-7-9", "render-10,20,30", "render-31-33",
        "render-34-36", "render-37-39", "render-40", "preview-video"]
    assert [t["task_type"] for t in tasks] == ["blender"] * 8 + ["ffmpeg"]
    assert job["steps_total"] == 22 + 1

    render = get(emulator, f"/tasks/{tasks[3]['id']}").json()
    (command,) = render["commands"]
    assert command["name"] == "blender-render"
    assert command["total_step_count"] == 3
    params = command["parameters"]
    assert params["exe"] == "{blender}" and params["exeArgs"] == "{blenderArgs}"
    assert params["blendfile"] == "{my_storage}/project/shot.blend"
    assert params["args"] == ["--scene", "Scene", "--render-output", output,
                              "--render-format", "PNG", "--render-frame", "10,20,30"]
    assert get(emulator, f"/tasks/{tasks[0]['id']}").json()["commands"][0]["parameters"][
        "args"][-1] == "1..3"

    video = emulator.tasks[tasks[-1]["id"]]
    assert set(video.depends_on) == {t["id"] for t in tasks[:-1]}
    video_params = video.commands[0]["parameters"]
    render_dir = output.rsplit("/", 1)[0]
    assert video_params["outputFile"] == f"{render_dir}/shot-1-40.mp4"
    assert video_params["inputGlob"] == f"{render_dir}/*.png"
    assert video_params["fps"] == 24.0


@pytest.mark.emulator(version="3.9-beta1")
def test_39_adds_python_expr(emulator: Emulator) -> None:
    job = submit(emulator, render_job(emulator.storage, frames="1-3", chunk_size=3))
    args = emulator.tasks[job_task_ids(emulator, job)[0]].commands[0]["parameters"]["args"]
    assert args[:3] == ["--scene", "Scene", "--python-expr"]
    assert "use_overwrite = False" in args[3]
    assert args[4:] == ["--render-output", job["settings"]["render_output_path"],
                        "--render-format", "PNG", "--render-frame", "1..3"]


def job_task_ids(emu: Emulator, job: dict[str, Any]) -> list[str]:
    return list(emu.jobs[job["id"]].task_ids)


@pytest.mark.parametrize(("settings", "video"), [
    ({}, True),
    ({"fps": None}, False),
    ({"format": "OPEN_EXR"}, False),
    ({"format": "OPEN_EXR", "has_previews": True, "image_file_extension": ".exr"}, True),
])
def test_preview_video_only_when_the_script_makes_one(
        emulator: Emulator, settings: dict[str, Any], video: bool) -> None:
    job = submit(emulator, render_job(emulator.storage, frames="1-4", settings=settings))
    names = [t["name"] for t in tasks_of(emulator, job["id"])]
    assert ("preview-video" in names) is video
    if settings.get("has_previews"):
        glob = emulator.tasks[job_task_ids(emulator, job)[-1]].commands[0]["parameters"]
        assert glob["inputGlob"].endswith("*.jpg")


def test_check_endpoint(emulator: Emulator) -> None:
    etag = get(emulator, "/jobs/type/simple-blender-render").json()["etag"]
    good = render_job(emulator.storage, type_etag=etag)
    assert post(emulator, "/jobs/check", good).status_code == 204
    assert not emulator.jobs
    stale = render_job(emulator.storage, type_etag="0" * 40)
    assert post(emulator, "/jobs/check", stale).status_code == 412
    assert post(emulator, "/jobs", stale).status_code == 412
    for settings in ({"frames": None}, {"frames": "1-x"}, {"format": "FFMPEG"},
                     {"render_output_path": None}, {"chunk_size": "3"}):
        resp = post(emulator, "/jobs/check", render_job(emulator.storage, settings=settings))
        assert resp.status_code == 400, settings
        assert resp.json()["code"] == 400
    unknown_type = {**echo_job(), "type": "nope"}
    assert post(emulator, "/jobs/check", unknown_type).status_code == 400
    assert not emulator.jobs


def test_twoway_variables_rewritten_on_submit(emulator_factory: Any) -> None:
    emu = emulator_factory(variables={"my_storage": {"linux": "/mnt/farm",
                                                     "windows": "F:\\farm"}})
    body = render_job("F:\\farm", "win", platform="windows",
                      metadata={"farm.volume": "F:\\farm\\vol", "other": "C:\\x"})
    job = submit(emu, body)
    assert job["settings"]["blendfile"] == "{my_storage}\\project\\shot.blend"
    assert job["metadata"] == {"farm.volume": "{my_storage}\\vol", "other": "C:\\x"}
    assert job["submitter_platform"] == "windows"
    # The worker (linux) gets its own value with its own separators.
    from tests.emulator.worker import WORKER_PLATFORM
    task = emu.tasks[emu.jobs[job["id"]].task_ids[0]]
    expanded = emu.variables.expand_all(task.commands, WORKER_PLATFORM)[0]["parameters"]
    assert expanded["blendfile"] == "/mnt/farm/project/shot.blend"
    assert expanded["exe"] == "blender" and expanded["exeArgs"] == "-b -y"


# Job life cycle ---------------------------------------------------------------------------------
def statuses(emu: Emulator, job_id: str) -> list[str]:
    return [t["status"] for t in tasks_of(emu, job_id)]


def test_cancel_requested_cancels_tasks(emulator: Emulator) -> None:
    job = submit(emulator, echo_job(repeats=2))
    set_status(emulator, job["id"], "cancel-requested")
    assert get(emulator, f"/jobs/{job['id']}").json()["status"] == "canceled"
    assert statuses(emulator, job["id"]) == ["canceled"] * 3


def test_direct_end_states_leave_tasks(emulator: Emulator) -> None:
    job = submit(emulator, echo_job(repeats=2))
    for status in ("canceled", "paused", "active", "completed"):
        set_status(emulator, job["id"], status)
        assert get(emulator, f"/jobs/{job['id']}").json()["status"] == status
        assert statuses(emulator, job["id"]) == ["queued"] * 3


def test_requeueing(emulator_factory: Any) -> None:
    emu = emulator_factory(worker="instant")
    job = submit(emu, echo_job(repeats=2))
    assert emu.run_worker() == 3
    assert get(emu, f"/jobs/{job['id']}").json()["status"] == "completed"
    set_status(emu, job["id"], "requeueing")  # completed job: all tasks
    assert get(emu, f"/jobs/{job['id']}").json()["status"] == "queued"
    assert statuses(emu, job["id"]) == ["queued"] * 3

    emu.run_worker(max_tasks=1)
    set_status(emu, job["id"], "cancel-requested")
    assert statuses(emu, job["id"]) == ["completed", "canceled", "canceled"]
    set_status(emu, job["id"], "requeueing")  # not completed: only canceled/failed/... ones
    assert statuses(emu, job["id"]) == ["completed", "queued", "queued"]
    assert emu.run_worker() == 2
    assert get(emu, f"/jobs/{job['id']}").json()["status"] == "completed"


def test_pause_requested_waits_for_active_task(emulator_factory: Any) -> None:
    emu = emulator_factory(worker="instant")
    job = submit(emu, echo_job(repeats=2))
    claim = emu._worker.claim()  # the worker starts the first task
    assert claim is not None
    assert get(emu, f"/jobs/{job['id']}").json()["status"] == "active"
    set_status(emu, job["id"], "pause-requested")
    assert get(emu, f"/jobs/{job['id']}").json()["status"] == "pause-requested"
    assert statuses(emu, job["id"]) == ["active", "paused", "paused"]
    emu._worker.execute(claim)  # it finishes
    assert get(emu, f"/jobs/{job['id']}").json()["status"] == "paused"
    assert emu.run_worker() == 0  # paused jobs get no work
    set_status(emu, job["id"], "requeueing")
    assert emu.run_worker() == 2
    assert get(emu, f"/jobs/{job['id']}").json()["status"] == "completed"


def test_cancel_while_active_aborts_the_task(emulator_factory: Any) -> None:
    emu = emulator_factory(worker="instant")
    job = submit(emu, render_job(emu.storage, frames="1-3", chunk_size=3))
    claim = emu._worker.claim()
    set_status(emu, job["id"], "cancel-requested")
    emu._worker.execute(claim)
    assert get(emu, f"/jobs/{job['id']}").json()["status"] == "canceled"
    assert set(statuses(emu, job["id"])) == {"canceled"}
    assert not list(emu.storage.rglob("*.png"))


def test_failed_tasks_fail_the_job(emulator_factory: Any) -> None:
    emu = emulator_factory(worker="instant")
    job = submit(emu, render_job(emu.storage, frames="1-20", chunk_size=1,
                                 settings={"fps": None}))
    broken = emu.tasks[emu.jobs[job["id"]].task_ids[2]]
    broken.commands = [{"name": "explode", "parameters": {}, "total_step_count": 0}]
    emu.run_worker()
    data = get(emu, f"/jobs/{job['id']}").json()
    assert data["status"] == "active"  # 1 of 20 failed: below 10%
    assert broken.status == "failed"
    assert "unknown command" in get(emu, f"/tasks/{broken.id}/logtail").text

    job = submit(emu, render_job(emu.storage, "two", frames="1-5", chunk_size=1,
                                 settings={"fps": None}))
    broken = emu.tasks[emu.jobs[job["id"]].task_ids[0]]
    broken.commands = [{"name": "explode", "parameters": {}, "total_step_count": 0}]
    emu.run_worker(max_tasks=1)
    assert get(emu, f"/jobs/{job['id']}").json()["status"] == "failed"
    assert statuses(emu, job["id"]) == ["failed"] + ["canceled"] * 4


def test_task_setstatus(emulator_factory: Any) -> None:
    emu = emulator_factory(worker="instant")
    job = submit(emu, echo_job())
    emu.run_worker()
    task_id = tasks_of(emu, job["id"])[0]["id"]
    resp = post(emu, f"/tasks/{task_id}/setstatus", {"status": "queued", "reason": "again"})
    assert resp.status_code == 204
    assert get(emu, f"/jobs/{job['id']}").json()["status"] == "queued"
    assert emu.run_worker() == 1
    assert get(emu, f"/jobs/{job['id']}").json()["status"] == "completed"


def test_priority_and_tags(emulator_factory: Any) -> None:
    emu = emulator_factory(worker_tags=["gpu", "cpu"])
    tags = get(emu, "/worker-mgt/tags").json()["tags"]
    assert sorted(t["name"] for t in tags) == ["cpu", "gpu"]
    gpu = emu.tag_id("gpu")
    job = submit(emu, echo_job(worker_tag=gpu))
    assert job["worker_tag"] == gpu
    assert post(emu, "/jobs", echo_job(worker_tag=UNKNOWN_ID)).status_code == 400

    assert post(emu, f"/jobs/{job['id']}/setpriority", {"priority": 80}).status_code == 204
    assert get(emu, f"/jobs/{job['id']}").json()["priority"] == 80
    assert post(emu, f"/jobs/{job['id']}/settag", {"name": "cpu"}).status_code == 204
    assert get(emu, f"/jobs/{job['id']}").json()["worker_tag"] == emu.tag_id("cpu")
    assert post(emu, f"/jobs/{job['id']}/settag", {"name": "nope"}).status_code == 422
    assert post(emu, f"/jobs/{job['id']}/settag", {}).status_code == 204
    assert "worker_tag" not in get(emu, f"/jobs/{job['id']}").json()

    workers = get(emu, "/worker-mgt/workers").json()["workers"]
    assert [w["name"] for w in workers] == ["emu-worker-1"]
    detail = get(emu, f"/worker-mgt/workers/{workers[0]['id']}").json()
    assert sorted(t["name"] for t in detail["tags"]) == ["cpu", "gpu"]
    assert detail["platform"] == "linux"


# Deletion ---------------------------------------------------------------------------------------
@pytest.mark.emulator(worker="instant", deletion_delay=None)
def test_delete_is_queued_and_keeps_output(emulator: Emulator) -> None:
    job = submit(emulator, render_job(emulator.storage, frames="1-2"))
    emulator.run_worker()
    frames = sorted(emulator.storage.rglob("*.png"))
    assert len(frames) == 2
    assert requests.delete(f"{emulator.url}{API}/jobs/{job['id']}", timeout=10).status_code == 204
    data = get(emulator, f"/jobs/{job['id']}").json()
    assert "delete_requested_at" in data
    assert get(emulator, "/jobs").json()["jobs"] == []  # hidden from the list
    assert emulator.process_deletions() == 1
    assert get(emulator, f"/jobs/{job['id']}").status_code == 404
    assert sorted(emulator.storage.rglob("*.png")) == frames


def test_delete_happens_shortly_after(emulator: Emulator) -> None:
    import time

    job = submit(emulator, echo_job())
    requests.delete(f"{emulator.url}{API}/jobs/{job['id']}", timeout=10)
    time.sleep(emulator.deletion_delay or 0)
    assert get(emulator, f"/jobs/{job['id']}").status_code == 404


@pytest.mark.emulator(deletion_delay=None)
def test_mass_delete(emulator: Emulator) -> None:
    url = f"{emulator.url}{API}/jobs/mass-delete"
    resp = requests.delete(url, json={"last_updated_max": "2000-01-01T00:00:00Z"}, timeout=10)
    assert resp.status_code == 416
    first = submit(emulator, echo_job("a"))
    second = submit(emulator, echo_job("b"))
    cutoff = emulator.jobs[second["id"]].updated.isoformat()
    resp = requests.delete(url, json={"last_updated_max": cutoff}, timeout=10)
    assert resp.status_code == 204
    assert all(emulator.jobs[j["id"]].delete_requested_at for j in (first, second))
    resp = requests.delete(url, json={"last_updated_max": cutoff}, timeout=10)
    assert resp.status_code == 416  # already marked


# Versions ---------------------------------------------------------------------------------------
@pytest.mark.emulator(version="3.5.0")
def test_version_35(emulator: Emulator) -> None:
    assert get(emulator, "/jobs").status_code == 405
    job = submit(emulator, echo_job("a", initial_status="paused",
                                    metadata={"project": "Sprite Fright"}))
    assert job["status"] == "queued"  # initial_status unknown before 3.6
    assert "steps_total" not in job
    assert "steps_total" not in tasks_of(emulator, job["id"])[0]
    submit(emulator, echo_job("b", metadata={"project": "Other"}))
    found = post(emulator, "/jobs/query", {"metadata": {"project": "sprite%"}}).json()["jobs"]
    assert [j["name"] for j in found] == ["a"]
    found = post(emulator, "/jobs/query", {"order_by": ["-name"], "limit": 1}).json()["jobs"]
    assert [j["name"] for j in found] == ["b"]
    found = post(emulator, "/jobs/query", {"status_in": ["completed"]}).json()["jobs"]
    assert found == []


@pytest.mark.emulator(version="3.6.0")
def test_version_36(emulator: Emulator) -> None:
    assert post(emulator, "/jobs/query", {}).status_code in (404, 405)
    job = submit(emulator, echo_job(initial_status="paused"))
    assert job["status"] == "paused"
    assert "steps_total" not in job
    assert [j["id"] for j in get(emulator, "/jobs").json()["jobs"]] == [job["id"]]
    assert post(emulator, f"/jobs/{job['id']}/settag", {"name": "x"}).status_code == 422
    assert post(emulator, "/jobs", echo_job(initial_status="active")).status_code == 400


def test_version_38_and_switching(emulator: Emulator) -> None:
    job = submit(emulator, echo_job(repeats=2))
    assert job["steps_total"] == 3 and job["steps_completed"] == 0
    assert tasks_of(emulator, job["id"])[0]["steps_total"] == 1
    emulator.set_version("3.5.0")
    assert get(emulator, "/version").json()["shortversion"] == "3.5.0"
    assert get(emulator, "/jobs").status_code == 405
    assert "steps_total" not in get(emulator, f"/jobs/{job['id']}").json()
    emulator.set_version("3.3.0")
    url = f"{emulator.url}{API}/jobs/mass-delete"
    resp = requests.delete(url, json={"last_updated_max": "2000-01-01T00:00:00Z"}, timeout=10)
    assert resp.status_code != 416  # no mass deletion before 3.4
    emulator.set_version("3.2.0")
    assert get(emulator, "/worker-mgt/tags").status_code == 404


# Logs and previews ------------------------------------------------------------------------------
@pytest.mark.emulator(worker="instant")
def test_logtail_and_last_rendered(emulator: Emulator) -> None:
    assert get(emulator, "/jobs/last-rendered").status_code == 204
    job = submit(emulator, render_job(emulator.storage, frames="1-3", chunk_size=3))
    task_id = tasks_of(emulator, job["id"])[0]["id"]
    assert get(emulator, f"/tasks/{task_id}/logtail").status_code == 204
    assert get(emulator, f"/jobs/{job['id']}/last-rendered").status_code == 204
    emulator.run_worker()
    tail = get(emulator, f"/tasks/{task_id}/logtail")
    assert tail.status_code == 200 and tail.headers["Content-Type"].startswith("text/plain")
    assert "Saved: '" in tail.text
    info = get(emulator, f"/tasks/{task_id}/log").json()
    full = requests.get(emulator.url + info["url"], timeout=10)
    assert full.status_code == 200 and len(full.content) == info["size"]

    from tests.emulator.pngwrite import read_png

    for path in (f"/jobs/{job['id']}/last-rendered", "/jobs/last-rendered"):
        last = get(emulator, path).json()
        assert last["base"].startswith("/job-files/")
        for suffix in last["suffixes"]:
            image = requests.get(f"{emulator.url}{last['base']}/{suffix}", timeout=10)
            assert image.status_code == 200
            assert read_png(image.content).width == 8


@pytest.mark.emulator(worker="instant")
def test_farm_status(emulator: Emulator) -> None:
    assert get(emulator, "/status").json()["status"] == "idle"
    submit(emulator, echo_job())
    assert get(emulator, "/status").json()["status"] == "active"
    emulator.run_worker()
    assert get(emulator, "/status").json()["status"] == "idle"
    worker_id = next(iter(emulator.workers))
    resp = post(emulator, f"/worker-mgt/workers/{worker_id}/setstatus",
                {"status": "asleep", "is_lazy": False})
    assert resp.status_code == 204
    submit(emulator, echo_job())
    assert get(emulator, "/status").json()["status"] == "waiting"
    assert emulator.run_worker() == 0


def test_storage_path_is_a_tmp_dir(emulator: Emulator, tmp_path: Path) -> None:
    assert emulator.storage.is_dir()
    assert emulator.storage != tmp_path


@pytest.mark.emulator(worker="instant", worker_tags=["gpu"], shaman=True)
def test_other_endpoints_match_the_spec(emulator: Emulator) -> None:
    """Every remaining endpoint answers; the fixture fails the test on any spec violation."""
    url = emulator.url + API
    job = submit(emulator, echo_job(storage={"shaman_checkout_id": "p/1"}))
    task_id = tasks_of(emulator, job["id"])[0]["id"]
    assert get(emulator, f"/tasks/{task_id}/log").status_code == 204
    assert get(emulator, f"/jobs/{job['id']}/what-would-delete-do").json() == {
        "shaman_checkout": True}
    assert get(emulator, f"/jobs/{job['id']}/blocklist").json() == []
    assert requests.delete(f"{url}/jobs/{job['id']}/blocklist", json=[],
                           timeout=10).status_code == 204
    emulator.run_worker()
    assert get(emulator, f"/tasks/{task_id}").json()["worker"]["name"] == "emu-worker-1"
    check = post(emulator, "/configuration/check/shared-storage", {"path": str(emulator.storage)})
    assert check.json()["is_usable"] is True

    worker_id = next(iter(emulator.workers))
    assert get(emulator, f"/worker-mgt/workers/{worker_id}/sleep-schedule").status_code == 204
    schedule = {"is_active": True, "days_of_week": "mo tu", "start_time": "09:00",
                "end_time": "18:00"}
    assert post(emulator, f"/worker-mgt/workers/{worker_id}/sleep-schedule",
                schedule).status_code == 204
    assert get(emulator, f"/worker-mgt/workers/{worker_id}/sleep-schedule").json() == schedule

    created = post(emulator, "/worker-mgt/tags", {"name": "cpu", "description": "CPUs"}).json()
    assert post(emulator, "/worker-mgt/tags", {"name": "cpu"}).status_code == 409
    assert get(emulator, f"/worker-mgt/tag/{created['id']}").json()["name"] == "cpu"
    resp = requests.put(f"{url}/worker-mgt/tag/{created['id']}", json={"name": "cpu2"},
                        timeout=10)
    assert resp.status_code == 204
    assert post(emulator, f"/worker-mgt/workers/{worker_id}/settags",
                {"tag_ids": [created["id"]]}).status_code == 204
    assert [t["name"] for t in get(emulator, f"/worker-mgt/workers/{worker_id}").json()[
        "tags"]] == ["cpu2"]
    assert requests.delete(f"{url}/worker-mgt/tag/{created['id']}", timeout=10).status_code == 204
    assert get(emulator, f"/worker-mgt/tag/{created['id']}").status_code == 404
    assert requests.delete(f"{url}/worker-mgt/workers/{worker_id}", timeout=10).status_code == 204
    assert get(emulator, "/worker-mgt/workers").json() == {"workers": []}
    assert get(emulator, "/status").json()["status"] == "inoperative"
