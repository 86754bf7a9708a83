"""The Flamenco client when the Manager misbehaves: retries, errors, stale job types."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from farm_addon.core.errors import FarmError
from farm_addon.core.flamenco import (
    FlamencoClient,
    FlamencoError,
    ManagerError,
    ManagerTimeout,
    ManagerUnreachable,
    StaleJobType,
)
from tests.core.flamenco.test_client import calls, render_job
from tests.emulator import Emulator
from tests.emulator import compiler as emulator_compiler

EmulatorFactory = Callable[..., Emulator]
JOB = "/api/v3/jobs/*"


@pytest.fixture
def emu(emulator_factory: EmulatorFactory) -> Emulator:
    return emulator_factory(version="3.8.5", worker="none")


@pytest.fixture
def client(emu: Emulator) -> Iterator[FlamencoClient]:
    with FlamencoClient(emu.url) as c:
        c.handshake()
        c.job_types()
        yield c


def submitted(emu: Emulator, client: FlamencoClient) -> str:
    return client.submit_job(render_job(emu.storage)).id


# 503 with Retry-After ----------------------------------------------------------------------


def test_get_retried_after_503(emu: Emulator, client: FlamencoClient) -> None:
    job_id = submitted(emu, client)
    emu.faults.add(method="GET", path=JOB, kind="503", count=2, retry_after=1)
    start = time.monotonic()
    assert client.get_job(job_id).id == job_id
    assert time.monotonic() - start >= 1.9, "Retry-After must be respected"
    assert calls(emu, "GET", f"/api/v3/jobs/{job_id}") == [503, 503, 200]


def test_post_retried_after_503_with_retry_after(emu: Emulator, client: FlamencoClient) -> None:
    emu.faults.add(method="POST", path="/api/v3/jobs", kind="503", count=1, retry_after=1)
    job = client.submit_job(render_job(emu.storage))
    assert calls(emu, "POST", "/api/v3/jobs") == [503, 200]
    assert list(emu.jobs) == [job.id]


def test_503_that_does_not_end_is_a_busy_error(emulator_factory: EmulatorFactory) -> None:
    emu = emulator_factory(version="3.8.5")
    emu.faults.add(method="GET", path="/api/v3/status", kind="503", retry_after=1)
    with FlamencoClient(emu.url, retries=1) as client, pytest.raises(ManagerError) as info:
        client.farm_status()
    assert info.value.status == 503 and "busy" in str(info.value)
    assert calls(emu, "GET", "/api/v3/status") == [503, 503]


# 500 ---------------------------------------------------------------------------------------


def test_500_is_a_manager_error_and_not_retried(emu: Emulator, client: FlamencoClient) -> None:
    emu.faults.add(method="POST", path="/api/v3/jobs", kind="500", count=1)
    with pytest.raises(ManagerError) as info:
        client.submit_job(render_job(emu.storage))
    error = info.value
    assert (error.status, error.code) == (500, 500)
    assert str(error) == (
        "Flamenco Manager failed to submit job 'shot_010': injected internal server error "
        "(HTTP 500)."
    )
    assert calls(emu, "POST", "/api/v3/jobs") == [500]
    assert not emu.jobs


# Dropped connections -----------------------------------------------------------------------


def test_dropped_get_is_retried(emu: Emulator, client: FlamencoClient) -> None:
    job_id = submitted(emu, client)
    emu.faults.add(method="GET", path=JOB, kind="drop", count=1)
    emu.faults.add(method="GET", path="/api/v3/jobs/*/tasks", kind="drop_after", count=1)
    assert client.get_job(job_id).id == job_id
    assert calls(emu, "GET", f"/api/v3/jobs/{job_id}") == [0, 200]
    assert client.job_tasks(job_id)
    assert calls(emu, "GET", f"/api/v3/jobs/{job_id}/tasks") == [0, 200]


def test_get_dropped_every_time_is_unreachable(emu: Emulator, client: FlamencoClient) -> None:
    emu.faults.add(method="GET", path="/api/v3/status", kind="drop")
    with pytest.raises(ManagerUnreachable, match="Lost the connection") as info:
        client.farm_status()
    assert emu.url in str(info.value)
    assert isinstance(info.value.__cause__, requests.RequestException)
    assert calls(emu, "GET", "/api/v3/status") == [0, 0, 0, 0]


def test_dropped_post_is_not_retried(emu: Emulator, client: FlamencoClient) -> None:
    emu.faults.add(method="POST", path="/api/v3/jobs", kind="drop", count=1)
    with pytest.raises(ManagerUnreachable, match="may or may not have been done"):
        client.submit_job(render_job(emu.storage))
    assert calls(emu, "POST", "/api/v3/jobs") == [0]
    assert not emu.jobs


def test_post_dropped_after_handling_is_not_repeated(
    emu: Emulator, client: FlamencoClient
) -> None:
    """The Manager made the job but the answer was lost: sending again would make two."""
    emu.faults.add(method="POST", path="/api/v3/jobs", kind="drop_after", count=1)
    with pytest.raises(ManagerUnreachable, match="may or may not have been done"):
        client.submit_job(render_job(emu.storage))
    assert len(emu.jobs) == 1
    assert [j.name for j in client.jobs(metadata={"farm.release": "r1"})] == ["shot_010"]


def test_manager_down(emu: Emulator, client: FlamencoClient) -> None:
    url = emu.url
    emu.stop()
    with pytest.raises(ManagerUnreachable) as info:
        client.farm_status()
    assert str(info.value) == (
        f"Cannot reach Flamenco Manager at {url}. Check the URL and that the Manager is running."
    )
    with pytest.raises(ManagerUnreachable, match="Cannot reach"):
        client.submit_job(render_job(emu.storage))
    emu.start()
    assert client.farm_status().status


# Timeouts ----------------------------------------------------------------------------------


def test_slow_answer_is_a_timeout(emu: Emulator) -> None:
    emu.faults.add(method="GET", path="/api/v3/status", kind="latency", seconds=0.5, count=1)
    with FlamencoClient(emu.url, timeout=(1.0, 0.1)) as client:
        start = time.monotonic()
        with pytest.raises(ManagerTimeout, match=r"did not answer within 0\.1 s") as info:
            client.farm_status()
        assert time.monotonic() - start < 0.45, "a read timeout is not retried"
        assert isinstance(info.value.__cause__, requests.RequestException)
        time.sleep(0.5)
        assert client.farm_status().status


# Stale job types (412) ---------------------------------------------------------------------


def change_job_type(monkeypatch: pytest.MonkeyPatch, label: str) -> None:
    changed = dict(emulator_compiler.JOB_TYPES["simple-blender-render"], label=label)
    monkeypatch.setitem(emulator_compiler.JOB_TYPES, "simple-blender-render", changed)


def test_stale_etag_is_refreshed_and_sent_once_more(
    emu: Emulator, client: FlamencoClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = client.job_type("simple-blender-render").etag
    change_job_type(monkeypatch, "Simple Blender Render v2")
    job = client.submit_job(render_job(emu.storage))
    new = client.job_type("simple-blender-render").etag
    assert new != old and job.type_etag == new
    assert calls(emu, "POST", "/api/v3/jobs") == [412, 200]
    assert calls(emu, "GET", "/api/v3/jobs/type/simple-blender-render") == [200]
    client.check_job(render_job(emu.storage))
    assert calls(emu, "POST", "/api/v3/jobs/check") == [204]


def test_check_refreshes_a_stale_etag_too(
    emu: Emulator, client: FlamencoClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    change_job_type(monkeypatch, "changed")
    client.check_job(render_job(emu.storage))
    assert calls(emu, "POST", "/api/v3/jobs/check") == [412, 204]


def test_second_412_is_stale_job_type(
    emu: Emulator, client: FlamencoClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(emulator_compiler, "job_type_etag", lambda _: uuid.uuid4().hex)
    with pytest.raises(StaleJobType, match="keeps changing"):
        client.submit_job(render_job(emu.storage))
    assert calls(emu, "POST", "/api/v3/jobs") == [412, 412]
    assert not emu.jobs


def test_callers_own_stale_etag_is_not_replaced(
    emu: Emulator, client: FlamencoClient
) -> None:
    job = render_job(emu.storage).model_copy(update={"type_etag": "0" * 40})
    with pytest.raises(StaleJobType, match="changed on the Manager since this job was made"):
        client.submit_job(job)
    assert calls(emu, "POST", "/api/v3/jobs") == [412]


# Nothing from requests gets out ------------------------------------------------------------

ID = "0f9d9a4e-6d0e-4d2a-9a1b-2f1f1c1e0d0c"


def operations(storage: Path) -> dict[str, Callable[[FlamencoClient], Any]]:
    job = render_job(storage)
    return {
        "handshake": lambda c: c.handshake(refresh=True),
        "configuration": lambda c: c.configuration(),
        "shared_storage": lambda c: c.shared_storage(),
        "variables": lambda c: c.variables(),
        "job_types": lambda c: c.job_types(refresh=True),
        "check_job": lambda c: c.check_job(job),
        "submit_job": lambda c: c.submit_job(job),
        "get_job": lambda c: c.get_job(ID),
        "jobs": lambda c: c.jobs(),
        "job_tasks": lambda c: c.job_tasks(ID),
        "cancel_job": lambda c: c.cancel_job(ID, "x"),
        "pause_job": lambda c: c.pause_job(ID, "x", status="queued"),
        "requeue_job": lambda c: c.requeue_job(ID, "x", status="failed"),
        "delete_job": lambda c: c.delete_job(ID, status="queued"),
        "mass_delete": lambda c: c.mass_delete(datetime.now(UTC)),
        "last_rendered": lambda c: c.last_rendered(ID),
        "last_rendered_image": lambda c: c.last_rendered_image(),
        "workers": lambda c: c.workers(),
        "worker_tags": lambda c: c.worker_tags(),
        "worker_tag_id": lambda c: c.worker_tag_id("gpu"),
        "farm_status": lambda c: c.farm_status(),
        "task_log_tail": lambda c: c.task_log_tail(ID),
        "submit_many": lambda c: c.submit_many([job]),
        "cancel_many": lambda c: c.cancel_many([ID], "x"),
        "delete_many": lambda c: c.delete_many([ID]),
    }


def bulk_errors(result: Any) -> list[BaseException]:
    return [r.error for r in result if r.error is not None] if isinstance(result, list) else []


@pytest.mark.parametrize("fault", ["down", "drop", "500", "garbage"])
def test_no_requests_exception_escapes(
    emulator_factory: EmulatorFactory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    fault: str,
) -> None:
    emu = emulator_factory(version="3.8.5", allow_violations=True)
    client = FlamencoClient(emu.url, timeout=(0.5, 2.0), retries=1)
    client.handshake()
    client.job_types()
    if fault == "down":
        emu.stop()
    elif fault == "drop":
        emu.faults.add(kind="drop")
    elif fault == "500":
        emu.faults.add(kind="500")
    else:

        def garbage(*_: Any, **__: Any) -> requests.Response:
            response = requests.Response()
            response.status_code = 200
            response._content = b"<html>not json</html>"
            return response

        monkeypatch.setattr(client._session, "request", garbage)
    for name, operation in operations(tmp_path).items():
        try:
            result = operation(client)
        except FlamencoError:
            continue
        except requests.RequestException as exc:  # pragma: no cover - the failure we look for
            pytest.fail(f"{name} let {exc!r} escape")
        for error in bulk_errors(result):
            assert isinstance(error, FarmError), f"{name}: {error!r}"
            assert not isinstance(error, requests.RequestException), f"{name}: {error!r}"
    client.close()
