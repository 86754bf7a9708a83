"""Manager faults during real commands: each fails clearly or succeeds, loses nothing, submits
nothing twice, and the same command run again finishes the work (tests/robust/faults.py)."""

from __future__ import annotations

import pytest

from tests.robust.conftest import LabFactory
from tests.robust.faults import SCENARIOS, run_fault

pytestmark = pytest.mark.timeout(120)


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_manager_fault(name: str, make_lab: LabFactory) -> None:
    outcome = run_fault(name, make_lab())
    assert outcome.ok, f"{name}:\n  " + "\n  ".join(outcome.problems)
