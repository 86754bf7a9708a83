"""The Flamenco client against the Manager emulator, in 3.5, 3.6 and 3.8 modes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from farm_addon.core.flamenco import (
    FlamencoClient,
    IncompatibleManager,
    InvalidId,
    Job,
    ManagerError,
    NotFound,
    SubmittedJob,
    TransitionRefused,
    UnknownWorkerTag,
)
from tests.emulator import Emulator

VERSIONS = ["3.5.0", "3.6.0", "3.8.5"]
EmulatorFactory = Callable[..., Emulator]


def render_job(
    storage: Path, name: str = "shot_010", frames: str = "1-3", **metadata: str
) -> SubmittedJob:
    """A simple-blender-render job with every setting the job type requires."""
    return SubmittedJob(
        name=name,
        type="simple-blender-render",
        submitter_platform="linux",
        settings={
            "frames": frames,
            "chunk_size": 1,
            "render_output_root": f"{storage}/render",
            "add_path_components": 0,
            "render_output_path": f"{storage}/render/{name}/######",
            "blendfile": f"{storage}/blend/{name}.blend",
            "fps": 24.0,
            "format": "PNG",
            "image_file_extension": ".png",
            "has_previews": False,
            "scene": "Scene",
        },
        metadata={"farm.release": "r1", **metadata},
    )


@pytest.fixture(params=VERSIONS)
def emu(request: pytest.FixtureRequest, emulator_factory: EmulatorFactory) -> Emulator:
    """An emulator per supported Manager version, with an instant worker and a 'gpu' tag."""
    return emulator_factory(version=request.param, worker="instant", worker_tags=["gpu"])


@pytest.fixture
def client(emu: Emulator) -> Iterator[FlamencoClient]:
    with FlamencoClient(emu.url) as c:
        yield c


def calls(emu: Emulator, method: str, path: str) -> list[int]:
    """Statuses of the requests the emulator saw for ``method path``."""
    return [r.status for r in emu.requests if r.method == method and r.path == path]


def is_at_least(emu: Emulator, major: int, minor: int) -> bool:
    return emu.manager_version.at_least(major, minor)


# Meta --------------------------------------------------------------------------------------


def test_handshake_is_cached_and_flags_follow_the_version(
    emu: Emulator, client: FlamencoClient
) -> None:
    hs = client.handshake()
    assert hs.compatible and hs.version.shortversion == emu.version
    assert hs.has_get_jobs == hs.has_initial_status == is_at_least(emu, 3, 6)
    assert hs.has_step_counts == is_at_least(emu, 3, 8)
    assert hs.has_mass_delete and hs.has_worker_tags
    assert client.handshake() is hs
    assert len(calls(emu, "GET", "/api/v3/version")) == 1


def test_configuration_storage_and_variables(emu: Emulator, client: FlamencoClient) -> None:
    config = client.configuration()
    assert config.storage_location == str(emu.storage) and not config.shaman_enabled
    here = client.shared_storage()
    assert here.audience == "users" and here.location
    windows = client.shared_storage("workers", "windows")
    assert (windows.audience, windows.platform) == ("workers", "windows")
    assert windows.location == "F:\\farm"
    variables = client.variables("users", "linux")
    assert variables["my_storage"].is_twoway
    assert variables["my_storage"].value == str(emu.storage)
    with pytest.raises(Exception, match="Unknown audience"):
        client.variables("artists")


def test_farm_status_and_workers(emu: Emulator, client: FlamencoClient) -> None:
    assert client.farm_status().status in {
        "active", "idle", "waiting", "asleep", "inoperative", "unknown", "starting"
    }
    (worker,) = client.workers()
    assert worker.name == "emu-worker-1"


def test_worker_tags(emu: Emulator, client: FlamencoClient) -> None:
    assert [t.name for t in client.worker_tags()] == ["gpu"]
    assert client.worker_tag_id("gpu") == emu.tag_id("gpu")
    assert client.worker_tag_id("GPU") == emu.tag_id("gpu")
    assert client.worker_tag_id(emu.tag_id("gpu")) == emu.tag_id("gpu")
    with pytest.raises(UnknownWorkerTag, match=r"Unknown worker tag 'cpu'. Known tags: gpu\.") as e:
        client.worker_tag_id("cpu")
    assert e.value.exit_code == 2


@pytest.mark.emulator(version="3.8.5")
def test_unknown_worker_tag_without_any_tags(emulator: Emulator) -> None:
    with FlamencoClient(emulator.url) as client, pytest.raises(
        UnknownWorkerTag, match="has no worker tags"
    ):
        client.worker_tag_id("gpu")


# Job types ---------------------------------------------------------------------------------


def test_job_types_are_cached(emu: Emulator, client: FlamencoClient) -> None:
    names = [t.name for t in client.job_types()]
    assert "simple-blender-render" in names
    sbr = client.job_type("simple-blender-render")
    assert len(sbr.etag) == 40 and sbr.setting("frames") is not None
    client.job_type("simple-blender-render")
    assert len(calls(emu, "GET", "/api/v3/jobs/types")) == 1
    with pytest.raises(NotFound, match="no job type 'nope'"):
        client.job_type("nope")


# Submission and listing --------------------------------------------------------------------


def test_check_and_submit(emu: Emulator, client: FlamencoClient) -> None:
    job = render_job(emu.storage)
    client.check_job(job)
    assert calls(emu, "POST", "/api/v3/jobs/check") == [204]
    submitted = client.submit_job(job)
    assert isinstance(submitted, Job) and submitted.name == "shot_010"
    assert submitted.status in {"queued", "under-construction"}
    assert submitted.type_etag == client.job_type("simple-blender-render").etag
    assert job.type_etag is None, "the caller's job must not be changed"
    assert submitted.metadata == {"farm.release": "r1"}
    if is_at_least(emu, 3, 8):
        assert submitted.steps_total is not None and submitted.steps_completed == 0
    else:
        assert submitted.steps_total is None and submitted.steps_completed is None
    fetched = client.get_job(submitted.id)
    assert fetched.id == submitted.id and fetched.status == "queued"
    assert len(emu.jobs) == 1


def test_refused_job_is_a_manager_error(emu: Emulator, client: FlamencoClient) -> None:
    job = render_job(emu.storage)
    assert job.settings is not None
    job.settings["format"] = "FFMPEG"
    with pytest.raises(ManagerError) as info:
        client.check_job(job)
    assert info.value.status == 400 and "refused to check job 'shot_010'" in str(info.value)
    with pytest.raises(ManagerError):
        client.submit_job(job)
    assert not emu.jobs


def test_initial_status_needs_3_6(emu: Emulator, client: FlamencoClient) -> None:
    job = render_job(emu.storage).model_copy(update={"initial_status": "paused"})
    if is_at_least(emu, 3, 6):
        assert client.submit_job(job).status == "paused"
    else:
        with pytest.raises(IncompatibleManager, match=r"needs Flamenco Manager 3\.6 or newer"):
            client.submit_job(job)
        assert not emu.jobs


def test_jobs_filters_and_endpoint_by_version(emu: Emulator, client: FlamencoClient) -> None:
    a = client.submit_job(render_job(emu.storage, "shot_010", **{"farm.job": "a"}))
    b = client.submit_job(render_job(emu.storage, "shot_020", **{"farm.job": "b"}))
    c = client.submit_job(render_job(emu.storage, "comp_010", **{"farm.release": "r2"}))
    client.cancel_job(c.id, "not needed")

    def ids(found: list[Job]) -> set[str]:
        return {j.id for j in found}

    assert ids(client.jobs()) == {a.id, b.id, c.id}
    assert ids(client.jobs(name="shot_*")) == {a.id, b.id}
    assert ids(client.jobs(metadata={"farm.release": "r1"})) == {a.id, b.id}
    assert ids(client.jobs(metadata={"farm.release": "r1", "farm.job": "b"})) == {b.id}
    assert ids(client.jobs(status="canceled")) == {c.id}
    assert ids(client.jobs(status=["queued", "canceled"], name="*_010")) == {a.id, c.id}
    if is_at_least(emu, 3, 6):
        assert calls(emu, "GET", "/api/v3/jobs") and not calls(emu, "POST", "/api/v3/jobs/query")
    else:
        assert calls(emu, "POST", "/api/v3/jobs/query") and not calls(emu, "GET", "/api/v3/jobs")


def test_deleted_jobs_are_left_out(emu: Emulator, client: FlamencoClient) -> None:
    keep = client.submit_job(render_job(emu.storage, "keep"))
    gone = client.submit_job(render_job(emu.storage, "gone"))
    client.delete_job(gone.id)
    assert [j.id for j in client.jobs()] == [keep.id]


def test_tasks_logs_and_previews(emu: Emulator, client: FlamencoClient) -> None:
    job = client.submit_job(render_job(emu.storage, frames="1-2"))
    assert client.last_rendered(job.id) is None
    assert client.last_rendered_image(job.id) is None
    tasks = client.job_tasks(job.id)
    assert [t.name for t in tasks][:2] == ["render-1", "render-2"]
    assert {t.status for t in tasks} == {"queued"}
    assert client.task_log_tail(tasks[0].id) == ""

    assert emu.run_worker() >= 2
    assert client.get_job(job.id).status == "completed"
    info = client.last_rendered(job.id)
    assert info is not None and info.suffixes
    image = client.last_rendered_image(job.id)
    assert image is not None and image.startswith(b"\x89PNG")
    small = client.last_rendered_image(job.id, info.suffixes[-1])
    assert small is not None and small.startswith(b"\x89PNG")
    farm_wide = client.last_rendered_image()
    assert farm_wide is not None and farm_wide.startswith(b"\x89PNG")
    assert client.task_log_tail(tasks[0].id)
    done = client.job_tasks(job.id)
    assert {t.status for t in done} == {"completed"}
    if is_at_least(emu, 3, 8):
        assert all(t.steps_completed == t.steps_total for t in done)


def test_unknown_and_malformed_ids(emu: Emulator, client: FlamencoClient) -> None:
    missing = "0f9d9a4e-6d0e-4d2a-9a1b-2f1f1c1e0d0c"
    with pytest.raises(NotFound, match=f"no job {missing}"):
        client.get_job(missing)
    with pytest.raises(NotFound):
        client.job_tasks(missing)
    with pytest.raises(NotFound):
        client.cancel_job(missing, "x")
    with pytest.raises(InvalidId) as info:
        client.get_job("shot_010")
    assert info.value.exit_code == 2
    with pytest.raises(InvalidId, match="task ID"):
        client.task_log_tail("nope")
    assert not [r for r in emu.requests if "shot_010" in r.path or "nope" in r.path]


# Status changes ----------------------------------------------------------------------------


def test_cancel_pause_requeue_send_only_request_statuses(
    emu: Emulator, client: FlamencoClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    bodies: list[Any] = []
    send = client._session.request

    def spy(method: str, url: str, **kwargs: Any) -> Any:
        if url.endswith("/setstatus"):
            bodies.append(kwargs.get("json"))
        return send(method, url, **kwargs)

    monkeypatch.setattr(client._session, "request", spy)
    job = client.submit_job(render_job(emu.storage))
    client.pause_job(job.id, "wait")
    assert client.get_job(job.id).status in {"paused", "pause-requested"}
    client.requeue_job(job.id, "go on")
    assert client.get_job(job.id).status == "queued"
    client.cancel_job(job.id, "stop")
    assert client.get_job(job.id).status == "canceled"
    assert bodies == [
        {"status": "pause-requested", "reason": "wait"},
        {"status": "requeueing", "reason": "go on"},
        {"status": "cancel-requested", "reason": "stop"},
    ]


def test_refused_transitions_send_nothing(emu: Emulator, client: FlamencoClient) -> None:
    job = client.submit_job(render_job(emu.storage, frames="1"))
    emu.run_worker()
    before = len(emu.requests)
    with pytest.raises(TransitionRefused) as info:
        client.cancel_job(job.id, "too late")
    assert str(info.value) == (
        "Cannot cancel job 'shot_010': it is already completed. Only active, failed, paused, "
        "pause-requested or queued jobs can be cancelled."
    )
    assert info.value.exit_code == 2
    with pytest.raises(TransitionRefused, match="Only active, canceled or queued jobs"):
        client.pause_job(job.id, "no")
    # With the status given, nothing at all is sent.
    with pytest.raises(TransitionRefused, match="it is already queued"):
        client.requeue_job(job.id, "no", status="queued")
    with pytest.raises(TransitionRefused, match="Cannot delete job"):
        client.delete_job(job.id, status="active")
    sent = emu.requests[before:]
    assert all(r.method == "GET" for r in sent), sent


def test_job_object_carries_its_status(emu: Emulator, client: FlamencoClient) -> None:
    job = client.submit_job(render_job(emu.storage))
    before = len(emu.requests)
    client.cancel_job(job, "stop")
    assert [(r.method, r.status) for r in emu.requests[before:]] == [("POST", 204)]


def test_delete_and_mass_delete(emu: Emulator, client: FlamencoClient) -> None:
    assert client.mass_delete(datetime.now(UTC)) is False
    old = client.submit_job(render_job(emu.storage, "old"))
    client.cancel_job(old.id, "old")
    assert client.mass_delete(datetime.now(UTC) + timedelta(seconds=1)) is True
    assert client.jobs() == []
    naive_past = datetime.now() - timedelta(days=1)
    client.submit_job(render_job(emu.storage, "new"))
    assert client.mass_delete(naive_past) is False
    assert [j.name for j in client.jobs()] == ["new"]


# Versions ----------------------------------------------------------------------------------


@pytest.mark.emulator(version="3.8.5")
def test_handshake_refresh_follows_a_manager_upgrade(emulator: Emulator) -> None:
    with FlamencoClient(emulator.url) as client:
        client.jobs()
        emulator.set_version("3.5.0")
        assert client.handshake().has_get_jobs, "cached until refreshed"
        assert not client.handshake(refresh=True).has_get_jobs
        client.jobs()
        assert calls(emulator, "POST", "/api/v3/jobs/query") == [200]


@pytest.mark.emulator(version="3.3.0")
def test_too_old_manager_is_refused_before_anything_is_sent(
    emulator: Emulator, tmp_path: Path
) -> None:
    with FlamencoClient(emulator.url) as client:
        hs = client.handshake()
        assert not hs.compatible
        assert hs.message.startswith("Flamenco Manager 3.3 is too old: farm needs 3.5 or newer")
        for call in (
            client.jobs,
            lambda: client.submit_job(render_job(tmp_path)),
            lambda: client.mass_delete(datetime.now(UTC)),
        ):
            with pytest.raises(IncompatibleManager, match="too old"):
                call()
    assert not calls(emulator, "POST", "/api/v3/jobs")


@pytest.mark.emulator(version="3.10.0")
def test_newer_manager_works_with_a_warning(emulator: Emulator, tmp_path: Path) -> None:
    with FlamencoClient(emulator.url) as client:
        hs = client.handshake()
        assert hs.compatible and "newer than farm knows" in hs.warning
        job = client.submit_job(render_job(tmp_path))
        assert [j.id for j in client.jobs()] == [job.id]


def test_not_a_manager(emulator_factory: EmulatorFactory, tmp_path: Path) -> None:
    emu = emulator_factory(version="3.8.5")
    with FlamencoClient(emu.url + "/not-here") as client, pytest.raises(
        IncompatibleManager, match="does not look like a Flamenco Manager"
    ):
        client.handshake()
    # The emulator answered 404 for an unknown path; not the client's doing.
    emu.violations.clear()
