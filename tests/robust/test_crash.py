"""Every writing command killed with SIGKILL at 50 points spread over its file and HTTP
operations, then run again: nothing lost, nothing doubled, nothing left behind.

The same harness runs from ``scripts/robustness_report.py`` (``--quick`` is what this test
does; the full mode kills at every operation) and ``scripts/soak.py``."""

from __future__ import annotations

import errno

import pytest

from tests.robust.crash import COMMANDS, SERIES, describe, run_disk_faults, run_series
from tests.robust.lab import Lab

pytestmark = pytest.mark.timeout(300)

QUICK_POINTS = 50
FAULT_POINTS = 5
DISK_ERRNOS = (errno.ENOSPC, errno.EACCES, errno.EROFS)


def test_every_command_the_issue_names_has_a_series() -> None:
    assert set(COMMANDS) == {"plan", "seed", "replace", "harvest", "archive", "kill",
                             "slash-and-burn"}
    assert {s for names in COMMANDS.values() for s in names} == set(SERIES)


@pytest.mark.parametrize("name", list(SERIES))
def test_killed_anywhere_then_run_again(name: str, lab: Lab) -> None:
    result = run_series(SERIES[name], lab, QUICK_POINTS)
    assert result.total_ops > 0
    assert len(result.points) >= min(QUICK_POINTS, result.total_ops)
    # Most points must really kill the command (the last few may come after its end).
    assert sum(p.killed for p in result.points) >= len(result.points) - 2
    assert result.ok, describe(result)


@pytest.mark.parametrize("name", [n for n in SERIES if n != "kill"])  # kill writes nothing
def test_disk_faults_fail_clearly_and_lose_nothing(name: str, lab: Lab) -> None:
    """No space left, permission denied, read-only file system, at disk operations spread
    over the command: a clear error (exit 1 or 2, no traceback), nothing lost, and the same
    command succeeds once the disk is fixed."""
    results = run_disk_faults(SERIES[name], lab, DISK_ERRNOS, FAULT_POINTS)
    assert len(results) >= len(DISK_ERRNOS) * 3
    failures = [r for r in results if not r.ok]
    assert not failures, "\n".join(
        f"{r.name} ({r.op}), exit {r.code}: " + "; ".join(r.problems[:3])
        for r in failures[:6])
