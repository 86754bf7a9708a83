"""Bulk submit, cancel and delete against the Manager emulator."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest

from farm_addon.core.errors import Cancelled
from farm_addon.core.flamenco import (
    FlamencoClient,
    InvalidId,
    ManagerError,
    ManagerUnreachable,
    NotFound,
    TransitionRefused,
    failures,
)
from farm_addon.core.progress import Progress
from tests.core.flamenco.test_client import calls, render_job
from tests.emulator import Emulator

EmulatorFactory = Callable[..., Emulator]
MISSING = "0f9d9a4e-6d0e-4d2a-9a1b-2f1f1c1e0d0c"


@pytest.fixture(params=["3.5.0", "3.8.5"])
def emu(request: pytest.FixtureRequest, emulator_factory: EmulatorFactory) -> Emulator:
    return emulator_factory(version=request.param, worker="instant")


@pytest.fixture
def client(emu: Emulator) -> Iterator[FlamencoClient]:
    with FlamencoClient(emu.url, max_in_flight=4) as c:
        yield c


class Recorder(Progress):
    def __init__(self, cancel_after: int | None = None) -> None:
        super().__init__()
        self.cancel_after = cancel_after
        self.updates = 0

    def on_update(self) -> None:
        self.updates += 1
        if self.cancel_after is not None and self.done >= self.cancel_after:
            self.cancel()


def test_submit_many_one_failure_hides_nothing(emu: Emulator, client: FlamencoClient) -> None:
    jobs = [render_job(emu.storage, f"shot_{i:03}") for i in range(12)]
    assert jobs[5].settings is not None
    jobs[5].settings["format"] = "FFMPEG"
    progress = Recorder()
    results = client.submit_many(jobs, progress)
    assert [r.key for r in results] == list(range(12))
    (bad,) = failures(results)
    assert bad.key == 5 and isinstance(bad.error, ManagerError) and bad.value is None
    assert [r.value.name for r in results if r.value] == [
        f"shot_{i:03}" for i in range(12) if i != 5
    ]
    assert len(emu.jobs) == 11
    assert (progress.total, progress.done, progress.label) == (12, 12, "Submitting jobs")


def test_submit_many_with_an_injected_500(emu: Emulator, client: FlamencoClient) -> None:
    emu.faults.add(method="POST", path="/api/v3/jobs", kind="500", count=1)
    results = client.submit_many([render_job(emu.storage, f"j{i}") for i in range(6)])
    assert len(failures(results)) == 1 and len(emu.jobs) == 5


def test_cancel_many_reports_each_item(emu: Emulator, client: FlamencoClient) -> None:
    queued = [client.submit_job(render_job(emu.storage, f"q{i}")).id for i in range(5)]
    done = client.submit_job(render_job(emu.storage, "done", frames="1")).id
    emu.run_worker()
    for job_id in queued:  # the worker finished them too; requeue to get queued jobs back
        client.requeue_job(job_id, "again")
    ids = [*queued, done, MISSING, "bogus"]
    results = client.cancel_many(ids, "release withdrawn")
    by_key = {r.key: r for r in results}
    assert [r.key for r in results] == ids
    assert all(by_key[i].ok for i in queued)
    refused = by_key[done].error
    assert isinstance(refused, TransitionRefused) and refused.already
    assert isinstance(by_key[MISSING].error, NotFound)
    assert isinstance(by_key["bogus"].error, InvalidId)
    assert {client.get_job(i).status for i in queued} == {"canceled"}


def test_delete_many(emu: Emulator, client: FlamencoClient) -> None:
    ids = [client.submit_job(render_job(emu.storage, f"d{i}")).id for i in range(6)]
    results = client.delete_many([*ids, MISSING])
    assert [r.ok for r in results] == [True] * 6 + [False]
    assert client.jobs() == []


def test_bulk_runs_concurrently(emulator_factory: EmulatorFactory) -> None:
    emu = emulator_factory(version="3.8.5")
    emu.faults.add(method="POST", path="/api/v3/jobs", kind="latency", seconds=0.1)
    jobs = [render_job(emu.storage, f"c{i}") for i in range(16)]
    with FlamencoClient(emu.url, max_in_flight=8) as client:
        client.job_types()
        start = time.monotonic()
        results = client.submit_many(jobs)
        elapsed = time.monotonic() - start
    assert not failures(results)
    assert elapsed < 16 * 0.1 / 3, f"16 submissions took {elapsed:.2f} s"


def test_cancellation_stops_scheduling_and_lets_in_flight_finish(
    emulator_factory: EmulatorFactory,
) -> None:
    emu = emulator_factory(version="3.8.5")
    emu.faults.add(method="POST", path="/api/v3/jobs", kind="latency", seconds=0.05)
    jobs = [render_job(emu.storage, f"x{i}") for i in range(40)]
    progress = Recorder(cancel_after=3)
    with FlamencoClient(emu.url, max_in_flight=2) as client:
        results = client.submit_many(jobs, progress)
    made = [r for r in results if r.ok]
    skipped = [r for r in results if isinstance(r.error, Cancelled)]
    assert len(made) + len(skipped) == 40
    assert 3 <= len(made) <= 5, "only the items in flight when cancelled may finish"
    assert len(emu.jobs) == len(made), "every job the Manager made is reported"
    assert {r.value.id for r in made if r.value} == set(emu.jobs)
    assert progress.done == len(made)


def test_bulk_on_an_unreachable_manager_raises_up_front(emulator_factory: EmulatorFactory) -> None:
    emu = emulator_factory(version="3.8.5")
    url = emu.url
    emu.stop()
    with FlamencoClient(url, retries=0) as client:
        with pytest.raises(ManagerUnreachable):
            client.submit_many([render_job(emu.storage)])
        with pytest.raises(ManagerUnreachable):
            client.cancel_many([MISSING], "x")
    assert client.submit_many([]) == []
    assert not calls(emu, "POST", "/api/v3/jobs")
