"""The worker-thread and timer machinery: a slow Manager never blocks a tick, results land
in ``WindowManager.farm``, Esc cancels, errors are reported, and nothing is left running.

Neither timers nor modal events fire in the `bpy` module, so these tests tick by hand, as
Blender's timer would: ``runner.tick()`` (the background ticker's work) and the operator's
``modal()`` with TIMER and ESC events.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from farm_addon.core.release.status import JobRow, ReleaseStatus
from tests.blender.conftest import Farm, TickUntil
from tests.blender.test_operators import plan
from tests.emulator import Emulator

pytestmark = [pytest.mark.blender, pytest.mark.timeout(180)]

#: What the issue asks: the UI thread is never blocked longer than this per timer tick.
TICK_LIMIT = 0.020


@dataclass
class Event:
    """Stands in for bpy.types.Event in ``modal()`` calls."""

    type: str
    value: str = "NOTHING"


def driver(farm: Farm) -> Any:
    """A FarmOperator that is not a registered Blender operator, to drive ``modal()``."""

    class Driver(farm.runner.FarmOperator):  # type: ignore[name-defined,misc]
        def __init__(self) -> None:
            self.reports: list[tuple[set[str], str]] = []
            self.interactive = True
            self._timer = None

        def report(self, level: set[str], text: str) -> None:
            self.reports.append((level, text))

    return Driver()


def slow_count(steps: int, pause: float, fail: BaseException | None = None) -> Callable[..., Any]:
    def call(progress: Any) -> int:
        progress.start(steps, "Counting")
        for _ in range(steps):
            progress.check()
            time.sleep(pause)
            progress.advance()
        if fail is not None:
            raise fail
        return steps

    return call


def test_slow_manager_never_blocks_a_tick(
    configured: Farm, emulator: Emulator, volume: Any, blend_copy: Callable[..., Path],
    tick_until: TickUntil,
) -> None:
    plan(emulator, volume, "spring", blend_copy("simple", "a/chair.blend"),
         blend_copy("simple", "a/table.blend"))
    emulator.faults.add(kind="latency", seconds=0.2)
    bpy, runner = configured.bpy, configured.runner
    started = time.perf_counter()
    job = runner.start(configured.fetch.refresh_work(bpy.context), bpy.context)
    assert runner.ticker_registered()  # in Blender, the background ticker drives it
    times = tick_until(lambda: job.finished)
    elapsed = time.perf_counter() - started
    assert elapsed > 1.0, "the latency was not injected"
    assert len(times) > 20
    assert max(times) < TICK_LIMIT, f"a tick blocked the UI for {max(times) * 1000:.1f} ms"
    print(f"{len(times)} ticks over {elapsed:.2f} s, longest {max(times) * 1000:.2f} ms")
    assert job.outcome.ok, job.outcome
    state = configured.state
    assert state.connection == "CONNECTED" and len(state.jobs) == 2
    assert not runner.ticker_registered()


def test_modal_ticks_report_and_remove_the_timer(
    configured: Farm, emulator: Emulator
) -> None:
    emulator.faults.add(kind="latency", seconds=0.2)
    bpy, runner = configured.bpy, configured.runner
    op = driver(configured)
    farm_ops = sys.modules[f"{configured.module}.blender.farm.ops"]
    op._job = runner.start(farm_ops.FARM_OT_test_connection.work(op, bpy.context),
                           bpy.context, owned=True)
    assert not runner.ticker_registered()  # an owned job is ticked by its operator
    results, times = set(), []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert op.modal(bpy.context, Event("MOUSEMOVE")) == {"PASS_THROUGH"}
        started = time.perf_counter()
        results = op.modal(bpy.context, Event("TIMER"))
        times.append(time.perf_counter() - started)
        if results != {"PASS_THROUGH"}:
            break
        time.sleep(0.01)
    assert results == {"FINISHED"}
    assert max(times) < TICK_LIMIT
    [(level, text)] = op.reports
    assert level == {"INFO"} and f"Flamenco Manager {emulator.version}" in text
    assert configured.state.connection == "CONNECTED"
    assert not runner.jobs()


def test_escape_cancels(farm: Farm) -> None:
    bpy, runner = farm.bpy, farm.runner
    op = driver(farm)
    op._job = runner.start(runner.Work("Counting sheep", slow_count(500, 0.01)), bpy.context,
                           owned=True)
    state = farm.state
    for _ in range(3):
        time.sleep(0.03)
        op.modal(bpy.context, Event("TIMER"))
    assert state.busy and 0 < state.progress < 1
    assert state.status_line == "Counting sheep: Counting"
    assert op.modal(bpy.context, Event("ESC", "PRESS")) == {"RUNNING_MODAL"}
    assert "cancelling" in state.status_line
    deadline = time.monotonic() + 10
    result = {"PASS_THROUGH"}
    while result == {"PASS_THROUGH"} and time.monotonic() < deadline:
        time.sleep(0.02)
        result = op.modal(bpy.context, Event("TIMER"))
    assert result == {"CANCELLED"}
    [(level, text)] = op.reports
    assert level == {"WARNING"} and text.startswith("Cancelled")
    assert not state.busy and not state.last_error


def test_progress_and_busy_are_mirrored_and_poll_refuses_a_second_job(
    farm: Farm, tick_until: TickUntil
) -> None:
    bpy, runner, state = farm.bpy, farm.runner, farm.state
    job = runner.start(runner.Work("Packing", slow_count(40, 0.01)), bpy.context)
    time.sleep(0.05)
    runner.tick(bpy.context)
    assert state.busy and state.status_line.startswith("Packing")
    assert not bpy.ops.farm.seed_job.poll()
    with pytest.raises(RuntimeError, match="Farm is busy: Packing"):
        bpy.ops.farm.plan_release(source="FOLDER", folder="/nowhere")
    assert bpy.ops.farm.refresh.poll()  # refreshing is allowed meanwhile
    assert bpy.ops.farm.cancel() == {"FINISHED"}
    tick_until(lambda: job.finished)
    assert job.outcome.cancelled
    assert not state.busy and not bpy.ops.farm.cancel.poll()


def test_errors_in_the_worker_are_reported(farm: Farm, tick_until: TickUntil,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    bpy, runner, state = farm.bpy, farm.runner, farm.state
    # Blender loaded its own copy of the package: raise its BadInput, as its core would.
    bad_input = sys.modules[f"{farm.module}.core.errors"].BadInput
    failed = runner.start(runner.Work("Checking", slow_count(2, 0.001, bad_input("No such."))),
                          bpy.context)
    tick_until(lambda: failed.finished)
    assert failed.outcome.level == "ERROR" and failed.outcome.text == "No such."
    assert state.last_error == "No such." and not state.busy
    bug = runner.start(runner.Work("Checking", slow_count(1, 0.001, KeyError("x"))),
                       bpy.context)
    tick_until(lambda: bug.finished)
    assert "internal error (KeyError" in bug.outcome.text
    assert "Traceback" in capsys.readouterr().err


def test_a_newer_job_supersedes_one_with_the_same_key(farm: Farm, tick_until: TickUntil) -> None:
    bpy, runner = farm.bpy, farm.runner
    applied: list[int] = []
    first = runner.start(runner.Work("A", slow_count(20, 0.01), lambda c, r: applied.append(1),
                                     foreground=False, key="k"), bpy.context)
    second = runner.start(runner.Work("B", slow_count(2, 0.01), lambda c, r: applied.append(2),
                                      foreground=False, key="k"), bpy.context)
    tick_until(lambda: first.finished and second.finished)
    assert applied == [2]
    assert first.outcome.superseded and second.outcome.ok


def test_a_large_result_is_applied_across_ticks(farm: Farm, tick_until: TickUntil) -> None:
    bpy, runner = farm.bpy, farm.runner
    rows = [JobRow(f"job-{n:05d}", "queued", n % 7, 10, 1, None) for n in range(5000)]
    status = ReleaseStatus("big", rows)

    def apply(context: Any, result: ReleaseStatus) -> Any:
        return farm.fetch.apply_release_jobs(context, result)

    job = runner.start(runner.Work("Loading", lambda p: status, apply), bpy.context)
    times = tick_until(lambda: job.finished, interval=0.001)
    assert len(farm.state.jobs) == 5000 and farm.state.jobs_release == "big"
    assert max(times) < TICK_LIMIT
    assert sum(1 for t in times if t > 0.001) > 1  # it took several ticks


def test_selecting_a_release_loads_its_jobs_in_the_background(
    configured: Farm, emulator: Emulator, volume: Any, blend_copy: Callable[..., Path],
    tick_until: TickUntil, monkeypatch: pytest.MonkeyPatch,
) -> None:
    plan(emulator, volume, "autumn", blend_copy("simple", "a/chair.blend"))
    plan(emulator, volume, "spring", blend_copy("simple", "b/lamp.blend"),
         blend_copy("simple", "b/sofa.blend"))
    bpy, runner, state = configured.bpy, configured.runner, configured.state
    assert bpy.ops.farm.refresh() == {"FINISHED"}
    assert state.jobs_release == "autumn"
    monkeypatch.setattr(configured.fetch, "AUTO_LOAD", True)
    emulator.faults.add(kind="latency", seconds=0.05)
    configured.scene.release_index = 1  # what a click in the list does
    assert state.jobs_loading and runner.ticker_registered()
    times = tick_until(lambda: not runner.jobs())
    assert max(times) < TICK_LIMIT
    assert state.jobs_release == "spring"
    assert sorted(j.name for j in state.jobs) == ["lamp", "sofa"]
    assert not state.jobs_loading and not runner.ticker_registered()


def test_unregister_cancels_running_jobs(farm: Farm) -> None:
    bpy, runner = farm.bpy, farm.runner
    runner.start(runner.Work("Long", slow_count(1000, 0.01)), bpy.context)
    assert runner.ticker_registered()
    threads = [t for t in threading.enumerate() if t.name == "farm: Long"]
    assert threads
    bpy.ops.preferences.addon_disable(module=farm.module)
    try:
        assert not runner.jobs() and not runner.ticker_registered()
        assert not any(t.is_alive() for t in threads)
    finally:
        bpy.ops.preferences.addon_enable(module=farm.module)


def test_a_bug_in_apply_is_reported_and_nothing_is_stuck(
    farm: Farm, tick_until: TickUntil, capsys: pytest.CaptureFixture[str]
) -> None:
    bpy, runner = farm.bpy, farm.runner

    def apply(context: Any, result: Any) -> str:
        raise KeyError("oops")

    job = runner.start(runner.Work("Applying", lambda p: 1, apply), bpy.context)
    tick_until(lambda: job.finished)
    assert job.outcome.level == "ERROR" and "internal error (KeyError" in job.outcome.text
    assert not runner.jobs() and not farm.state.busy
    assert "Traceback" in capsys.readouterr().err
