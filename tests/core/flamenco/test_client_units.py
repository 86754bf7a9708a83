"""Unit tests of the Flamenco client that need no Manager: versions, status rules, models, bulk."""

from __future__ import annotations

import ast
import functools
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from farm_addon.core.errors import BadInput, Cancelled, FarmError
from farm_addon.core.flamenco import (
    ALLOWED_FROM,
    AvailableJobSetting,
    BadManagerURL,
    FlamencoVersion,
    Handshake,
    IncompatibleManager,
    InvalidId,
    Job,
    JobAction,
    JobStatus,
    ManagerConfiguration,
    SubmittedJob,
    TransitionRefused,
    check_id,
    check_transition,
    current_platform,
    failures,
    is_allowed,
    normalize_url,
    parse_version,
    run_bulk,
)
from farm_addon.core.progress import Progress

PACKAGE = Path(__file__).resolve().parents[3] / "farm_addon" / "core" / "flamenco"


def handshake(short: str) -> Handshake:
    return Handshake.from_version(
        FlamencoVersion(version=short, shortversion=short, name="test", git="abc")
    )


# Versions ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3.8.5", (3, 8)),
        ("3.9-beta1", (3, 9)),
        ("3.3-alpha0", (3, 3)),
        ("v3.6", (3, 6)),
        ("3.10", (3, 10)),
        ("banana", None),
    ],
)
def test_parse_version(text: str, expected: tuple[int, int] | None) -> None:
    assert parse_version(text) == expected


@pytest.mark.parametrize(
    ("short", "get_jobs", "initial", "steps", "mass", "tags"),
    [
        ("3.5.0", False, False, False, True, True),
        ("3.6.0", True, True, False, True, True),
        ("3.7.1", True, True, False, True, True),
        ("3.8.5", True, True, True, True, True),
        ("3.9-beta1", True, True, True, True, True),
    ],
)
def test_supported_versions_and_flags(
    short: str, get_jobs: bool, initial: bool, steps: bool, mass: bool, tags: bool
) -> None:
    hs = handshake(short)
    assert hs.compatible and hs.message == "" and hs.warning == ""
    assert (hs.has_get_jobs, hs.has_initial_status, hs.has_step_counts) == (
        get_jobs,
        initial,
        steps,
    )
    assert (hs.has_mass_delete, hs.has_worker_tags) == (mass, tags)
    hs.require_compatible()


def test_too_old_manager_says_what_it_lacks() -> None:
    hs = handshake("3.3.1")
    assert not hs.compatible
    assert hs.message.startswith("Flamenco Manager 3.3 is too old: farm needs 3.5 or newer")
    assert "mass delete arrived in 3.4" in hs.message
    with pytest.raises(IncompatibleManager, match="too old"):
        hs.require_compatible()
    older = handshake("3.2")
    assert "worker tags arrived in 3.3" in older.message
    assert "too old" in handshake("3.4.2").message


def test_newer_manager_is_allowed_with_a_warning() -> None:
    for short in ("3.10.0", "4.0"):
        hs = handshake(short)
        assert hs.compatible
        assert "newer than farm knows" in hs.warning
        hs.require_compatible()


def test_unreadable_version_is_refused() -> None:
    hs = handshake("dev")
    assert not hs.compatible and "Cannot read" in hs.message


def test_feature_requirement_message() -> None:
    with pytest.raises(IncompatibleManager, match=r"needs Flamenco Manager 3\.6 or newer"):
        handshake("3.5.0").require("has_initial_status", "Submitting with an initial status")


# Status rules ------------------------------------------------------------------------------


@pytest.mark.parametrize("action", list(JobAction))
@pytest.mark.parametrize("status", list(JobStatus))
def test_transition_table(action: JobAction, status: JobStatus) -> None:
    allowed = status in ALLOWED_FROM[action]
    assert is_allowed(action, status) == allowed
    if allowed:
        check_transition(action, status, "shot")
    else:
        with pytest.raises(TransitionRefused) as info:
            check_transition(action, status, "shot")
        assert isinstance(info.value, BadInput) and info.value.exit_code == 2
        assert info.value.status == status


def test_transition_message_reads_well() -> None:
    with pytest.raises(TransitionRefused) as info:
        check_transition("cancel", "completed", "X")
    assert str(info.value) == (
        "Cannot cancel job 'X': it is already completed. Only active, failed, paused, "
        "pause-requested or queued jobs can be cancelled."
    )
    assert info.value.already
    with pytest.raises(TransitionRefused, match=r"it is active\. Only canceled, completed") as info:
        check_transition("requeue", "active", "X")
    assert not info.value.already


# Models ------------------------------------------------------------------------------------


def test_models_keep_unknown_fields_and_tolerate_old_managers() -> None:
    job = Job.model_validate(
        {
            "id": "a9b1f4d2-49c4-4b8e-9e62-0e35d8f3bb57",
            "name": "shot",
            "type": "simple-blender-render",
            "priority": 50,
            "submitter_platform": "linux",
            "created": "2024-01-02T03:04:05.123456789Z",
            "updated": "2024-01-02T03:04:05Z",
            "status": "queued",
            "activity": "",
            "future_field": 1,
        }
    )
    assert job.steps_completed is None and job.delete_requested_at is None
    assert job.model_extra == {"future_field": 1}


def test_submitted_job_json_uses_wire_names_and_drops_none() -> None:
    job = SubmittedJob(name="a", type="t", settings={"frames": "1-3"})
    body = job.to_json()
    assert body["submitter_platform"] == current_platform()
    assert "type_etag" not in body and "initial_status" not in body and "worker_tag" not in body
    assert body["priority"] == 50
    config = ManagerConfiguration.model_validate(
        {"storageLocation": "/s", "shamanEnabled": True, "isFirstRun": False}
    )
    assert config.storage_location == "/s"
    assert config.to_json() == {"storageLocation": "/s", "shamanEnabled": True, "isFirstRun": False}


def test_missing_editable_means_editable() -> None:
    assert AvailableJobSetting(key="k", type="string").is_editable
    assert not AvailableJobSetting(key="k", type="string", editable=False).is_editable


# URLs and IDs ------------------------------------------------------------------------------


def test_normalize_url() -> None:
    assert normalize_url("manager:8080/") == "http://manager:8080"
    assert normalize_url(" https://m.example/flamenco/ ") == "https://m.example/flamenco"
    for bad in ("", "ftp://x", "http://"):
        with pytest.raises(BadManagerURL):
            normalize_url(bad)


def test_check_id() -> None:
    good = "a9b1f4d2-49c4-4b8e-9e62-0e35d8f3bb57"
    assert check_id(good) == good
    with pytest.raises(InvalidId, match="'nope' is not a valid job ID"):
        check_id("nope")


# No bpy ------------------------------------------------------------------------------------


def test_every_module_says_no_bpy_and_uses_relative_imports() -> None:
    for path in sorted(PACKAGE.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        doc = ast.get_docstring(tree) or ""
        assert "No `bpy` module use." in doc.splitlines()[0], path.name
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                assert node.level > 0 or not (node.module or "").startswith("farm_addon"), path
            if isinstance(node, ast.Import):
                assert not any(a.name.split(".")[0] in {"bpy", "farm_addon"} for a in node.names)


def test_imports_without_bpy() -> None:
    code = (
        "import sys; sys.modules['bpy'] = None\n"
        "import farm_addon.core.flamenco as f\n"
        "assert 'bpy' not in [m for m in sys.modules if sys.modules[m] is not None]\n"
        "print(f.FlamencoClient)\n"
    )
    root = Path(__file__).resolve().parents[3]
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr


# Bulk runner -------------------------------------------------------------------------------


def test_run_bulk_keeps_order_and_one_failure_hides_nothing() -> None:
    def work(i: int) -> int:
        if i == 3:
            raise FarmError("item 3 failed")
        time.sleep(0.001 * (i % 3))
        return i * 10

    results = run_bulk([(i, functools.partial(work, i)) for i in range(10)], max_in_flight=4)
    assert [r.key for r in results] == list(range(10))
    assert [r.value for r in results if r.ok] == [i * 10 for i in range(10) if i != 3]
    (bad,) = failures(results)
    assert bad.key == 3 and str(bad.error) == "item 3 failed"


def test_run_bulk_bounds_concurrency() -> None:
    lock = threading.Lock()
    running = peak = 0

    def work() -> None:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.01)
        with lock:
            running -= 1

    run_bulk([(i, work) for i in range(40)], max_in_flight=3)
    assert peak <= 3


def test_run_bulk_cancel_stops_scheduling_and_lets_in_flight_finish() -> None:
    progress = Progress()
    started: list[int] = []
    lock = threading.Lock()

    def work(i: int) -> int:
        with lock:
            started.append(i)
        if i == 1:
            progress.cancel()
        time.sleep(0.02)
        return i

    results = run_bulk(
        [(i, functools.partial(work, i)) for i in range(50)], max_in_flight=2, progress=progress
    )
    assert len(results) == 50
    done = [r for r in results if r.ok]
    skipped = [r for r in results if isinstance(r.error, Cancelled)]
    assert len(done) == len(started) and len(done) + len(skipped) == 50
    assert 2 <= len(done) <= 4
    assert progress.done == len(done) and progress.total == 50
