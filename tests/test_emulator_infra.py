"""Self-tests of the emulator's infrastructure: faults, restarts, spec loading, fixtures, CLI."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.emulator import Emulator
from tests.emulator.samples import echo_job
from tests.emulator.spec import ENV_VAR, default_spec_path, load_openapi

pytest_plugins = ["tests.emulator.fixtures", "pytester"]

API = "/api/v3"
REPO = Path(__file__).resolve().parents[1]


def version_url(emu: Emulator) -> str:
    return emu.url + API + "/version"


# Faults -----------------------------------------------------------------------------------------
def test_latency_fault(emulator: Emulator) -> None:
    emulator.faults.add(kind="latency", seconds=0.2)
    started = time.monotonic()
    assert requests.get(version_url(emulator), timeout=10).status_code == 200
    assert time.monotonic() - started >= 0.2
    emulator.faults.clear()
    started = time.monotonic()
    requests.get(version_url(emulator), timeout=10)
    assert time.monotonic() - started < 0.2


def test_503_fault_with_retry_after(emulator: Emulator) -> None:
    emulator.faults.add(method="POST", path="/api/v3/jobs", kind="503", count=2, retry_after=3)
    url = emulator.url + API + "/jobs"
    for _ in range(2):
        resp = requests.post(url, json=echo_job(), timeout=10)
        assert resp.status_code == 503
        assert resp.headers["Retry-After"] == "3"
        assert resp.json()["code"] == 503
    assert not emulator.jobs
    assert requests.get(version_url(emulator), timeout=10).status_code == 200  # other paths
    assert requests.post(url, json=echo_job(), timeout=10).status_code == 200  # count spent
    assert [r.status for r in emulator.requests] == [503, 503, 200, 200]
    assert len(emulator.faults) == 0


def test_500_fault_with_glob(emulator: Emulator) -> None:
    job = requests.post(emulator.url + API + "/jobs", json=echo_job(), timeout=10).json()
    fault = emulator.faults.add(method="GET", path="/api/v3/jobs/*", kind="500")
    assert requests.get(f"{emulator.url}{API}/jobs/{job['id']}", timeout=10).status_code == 500
    assert requests.get(f"{emulator.url}{API}/jobs/{job['id']}/tasks",
                        timeout=10).status_code == 500
    assert requests.get(version_url(emulator), timeout=10).status_code == 200
    assert fault.fired == 2


def test_drop_fault(emulator: Emulator) -> None:
    emulator.faults.add(method="POST", path="/api/v3/jobs", kind="drop", count=1)
    with requests.Session() as session, pytest.raises(requests.ConnectionError):
        session.post(emulator.url + API + "/jobs", json=echo_job(), timeout=10)
    assert not emulator.jobs  # dropped before handling
    assert emulator.requests[-1] == ("POST", "/api/v3/jobs", 0)


def test_drop_after_fault(emulator: Emulator) -> None:
    emulator.faults.add(method="POST", path="/api/v3/jobs", kind="drop_after", count=1)
    with requests.Session() as session:
        with pytest.raises(requests.ConnectionError):
            session.post(emulator.url + API + "/jobs", json=echo_job(), timeout=10)
        assert len(emulator.jobs) == 1  # handled: the job exists, the client never heard
        assert session.get(emulator.url + API + "/jobs", timeout=10).status_code == 200


def test_fault_validation(emulator: Emulator) -> None:
    with pytest.raises(ValueError):
        emulator.faults.add(kind="explode")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        emulator.faults.add(kind="500", count=0)


# Restart ----------------------------------------------------------------------------------------
def test_restart_keeps_state_and_port(emulator: Emulator) -> None:
    session = requests.Session()
    job = session.post(emulator.url + API + "/jobs", json=echo_job(), timeout=10).json()
    url, port = emulator.url, emulator.port
    assert emulator.restart() == url
    assert emulator.port == port
    resp = session.get(f"{emulator.url}{API}/jobs/{job['id']}", timeout=10)  # reconnects
    assert resp.status_code == 200
    assert resp.json()["name"] == job["name"]


def test_restart_while_down_refuses_connections(emulator: Emulator) -> None:
    import threading

    thread = threading.Thread(target=emulator.restart, kwargs={"down_seconds": 0.5})
    thread.start()
    time.sleep(0.2)
    with pytest.raises(requests.ConnectionError):
        requests.get(version_url(emulator), timeout=2)
    thread.join()
    assert requests.get(version_url(emulator), timeout=10).status_code == 200


def test_context_manager(tmp_path: Path) -> None:
    with Emulator(storage=tmp_path) as emu:
        assert requests.get(version_url(emu), timeout=10).status_code == 200
    assert not emu.running


# Spec loading -----------------------------------------------------------------------------------
def test_spec_path_from_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "spec.yaml"))
    assert default_spec_path() == tmp_path / "spec.yaml"
    monkeypatch.delenv(ENV_VAR)
    assert default_spec_path() == REPO.parent / "shared/flamenco/flamenco-openapi.yaml"


def test_missing_spec_warns_once_and_runs_unchecked(tmp_path: Path) -> None:
    missing = tmp_path / "no-spec.yaml"
    with pytest.warns(RuntimeWarning, match="FARM_FLAMENCO_SPEC") as record:
        emu = Emulator(storage=tmp_path, spec_path=missing)
    assert str(missing) in str(record[0].message)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Emulator(storage=tmp_path, spec_path=missing)  # no second warning
    with emu:
        resp = requests.post(emu.url + API + "/jobs", json={"name": 1}, timeout=10)
        assert resp.status_code == 400  # the handler still refuses it ...
        assert emu.violations == []  # ... but nothing was checked


def test_spec_is_loaded_once() -> None:
    assert load_openapi() is load_openapi()


def test_validation_overhead_is_small(emulator_factory: Any) -> None:
    timings = {}
    for validate in (False, True):
        emu = emulator_factory(validate=validate)
        session = requests.Session()
        session.get(version_url(emu), timeout=10)
        started = time.perf_counter()
        for i in range(50):
            session.post(emu.url + API + "/jobs", json=echo_job(f"job{i}"), timeout=10)
            session.get(version_url(emu), timeout=10)
        timings[validate] = (time.perf_counter() - started) / 100
    overhead = timings[True] - timings[False]
    print(f"per request: {timings[False] * 1000:.2f} ms unchecked, "
          f"{timings[True] * 1000:.2f} ms checked")
    assert overhead < 0.010


# Shaman -----------------------------------------------------------------------------------------
@pytest.mark.emulator(shaman=True)
def test_shaman_upload_and_checkout(emulator: Emulator) -> None:
    data = b"blend file bytes"
    sha, size = hashlib.sha256(data).hexdigest(), len(data)
    spec = {"sha": sha, "size": size, "path": "shot/tiny.blend"}
    base = emulator.url + API + "/shaman"
    octet = {"Content-Type": "application/octet-stream"}

    unknown = requests.post(f"{base}/checkout/requirements", json={"files": [spec]}, timeout=10)
    assert unknown.json()["files"] == [{**spec, "status": "unknown"}]
    resp = requests.post(f"{base}/checkout/create", json={"files": [spec],
                                                          "checkoutPath": "p/1"}, timeout=10)
    assert resp.status_code == 424
    resp = requests.post(f"{base}/files/{sha}/{size}", data=b"wrong", headers=octet, timeout=10)
    assert resp.status_code == 417
    emulator.shaman_store.uploading.add((sha, size))
    deferred = requests.post(f"{base}/files/{sha}/{size}", data=data, timeout=10,
                             headers={**octet, "X-Shaman-Can-Defer-Upload": "true"})
    assert deferred.status_code == 425
    emulator.shaman_store.uploading.clear()
    assert requests.post(f"{base}/files/{sha}/{size}", data=data, headers=octet,
                         timeout=10).status_code == 204
    assert requests.post(f"{base}/files/{sha}/{size}", data=data, headers=octet,
                         timeout=10).status_code == 208
    assert requests.get(f"{base}/files/{sha}/{size}", timeout=10).json() == {"status": "stored"}
    known = requests.post(f"{base}/checkout/requirements", json={"files": [spec]}, timeout=10)
    assert known.json() == {"files": []}
    resp = requests.post(f"{base}/checkout/create", json={"files": [spec], "checkoutPath": "p/1"},
                         timeout=10)
    assert resp.json() == {"checkoutPath": "p/1"}
    assert (emulator.storage / "jobs/p/1/shot/tiny.blend").read_bytes() == data
    resp = requests.post(f"{base}/checkout/create", json={"files": [spec], "checkoutPath": "p/1"},
                         timeout=10)
    assert resp.status_code == 409


def test_shaman_disabled(emulator: Emulator) -> None:
    resp = requests.post(emulator.url + API + "/shaman/checkout/requirements",
                         json={"files": []}, timeout=10)
    assert resp.status_code == 503


# Fixtures ---------------------------------------------------------------------------------------
def test_fixture_marker_and_violations(pytester: pytest.Pytester,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(REPO), *sys.path]))
    pytester.makepyfile(test_inner="""
        import pytest
        import requests

        pytest_plugins = ["tests.emulator.fixtures"]

        @pytest.mark.emulator(version="3.5.0", worker="instant")
        def test_configured(emulator):
            assert emulator.version == "3.5.0"
            assert emulator.worker_mode == "instant"

        def test_default(emulator, tmp_path):
            assert emulator.version == "3.8.5" and emulator.storage.is_dir()

        def test_bad_request_fails(emulator):
            requests.post(emulator.url + "/api/v3/jobs", json={"name": 1}, timeout=10)

        @pytest.mark.emulator(allow_violations=True)
        def test_bad_request_allowed(emulator):
            requests.post(emulator.url + "/api/v3/jobs", json={"name": 1}, timeout=10)

        def test_factory(emulator_factory):
            a, b = emulator_factory(), emulator_factory(version="3.6.0")
            assert a.url != b.url
    """)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--rootdir", str(REPO),
                                           "-c", os.devnull)
    result.assert_outcomes(passed=5, errors=1)
    result.stdout.fnmatch_lines(["*spec violations*", "*submitter_platform*"])


# Command line -----------------------------------------------------------------------------------
def test_command_line(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.emulator", "--port", "0", "--version", "3.6.0",
         "--storage", str(tmp_path), "--worker", "instant"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert "Flamenco Manager emulator 3.6.0 at http://127.0.0.1:" in first
        url = first.split(" at ", 1)[1].strip()
        resp = requests.get(url + API + "/version", timeout=10)
        assert resp.json()["version"] == "3.6.0"
        job = requests.post(url + API + "/jobs", json=echo_job(), timeout=10).json()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            status = requests.get(f"{url}{API}/jobs/{job['id']}", timeout=10).json()["status"]
            if status == "completed":
                break
            time.sleep(0.05)
        assert status == "completed"
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=10)
    assert proc.returncode == 0, out
    assert "stopped" in out
