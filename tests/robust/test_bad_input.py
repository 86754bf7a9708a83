"""More than 40 hostile inputs through the real CLI (tests/robust/badinput.py): path traversal
in every name and path field, links out of the volume, names differing only in case, very long
and non-UTF-8 names, a read-only volume. Each: exit 1 or 2, a message naming the problem,
nothing changed on the volume, outside it, or on the Manager."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.robust.badinput import (
    Case,
    all_cases,
    prepare_table,
    read_only_cases,
    run_case,
)
from tests.robust.lab import ForkServer, Lab, State

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def table(tmp_path_factory: pytest.TempPathFactory, robust_sources: dict[str, Path],
          fork_server: ForkServer) -> Iterator[tuple[Lab, State]]:
    lab = Lab.create(tmp_path_factory.mktemp("badinput") / "lab", robust_sources, fork_server)
    yield lab, prepare_table(lab)
    lab.close()


def test_the_table_is_big_enough() -> None:
    cases = all_cases()
    assert len(cases) >= 40
    assert len({c.name for c in cases}) == len(cases)
    fields = {c.field for c in cases}
    assert {"release name", "job name", "--name", "--from", "--template", "renamer output",
            "--volume", "symlink", "volume", "source path"} <= fields


@pytest.mark.parametrize("case", all_cases(), ids=lambda c: c.name)
def test_hostile_input(case: Case, table: tuple[Lab, State]) -> None:
    result = run_case(case, *table)
    assert result.ok, f"{case.name}: " + "; ".join(result.problems)


@pytest.mark.parametrize("case", read_only_cases(), ids=lambda c: c.name)
def test_read_only_volume_simulated(case: Case, table: tuple[Lab, State],
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """The EROFS simulation the suite falls back on where mounting is not allowed."""
    monkeypatch.setenv("FARM_ROBUST_SIMULATE_RO", "1")
    result = run_case(case, *table)
    assert result.ok, f"{case.name}: " + "; ".join(result.problems)

