"""Two writers at once (tests/robust/concurrency.py): one waits or refuses clearly, the
record stays consistent, nothing is lost or doubled."""

from __future__ import annotations

import pytest

from tests.robust.concurrency import SCENARIOS, run_scenario
from tests.robust.conftest import LabFactory

pytestmark = pytest.mark.timeout(180)


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_two_writers(name: str, make_lab: LabFactory) -> None:
    problems = run_scenario(name, make_lab())
    assert not problems, f"{name}:\n  " + "\n  ".join(problems)
