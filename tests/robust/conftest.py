"""Fixtures of the "nothing lost" suite: the source files (made once, cached in .cache/), one
fork server for the whole session, and labs (an emulator, a volume, sources) per test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.robust.lab import ForkServer, Lab, robust_blends


@pytest.fixture(scope="session")
def robust_sources() -> dict[str, Path]:
    return robust_blends()


@pytest.fixture(scope="session")
def fork_server() -> Iterator[ForkServer]:
    server = ForkServer()
    yield server
    server.close()


LabFactory = Callable[..., Lab]


@pytest.fixture
def make_lab(tmp_path: Path, robust_sources: dict[str, Path],
             fork_server: ForkServer) -> Iterator[LabFactory]:
    """``make_lab()``: a fresh lab; its emulator must see no spec violations."""
    labs: list[Lab] = []

    def make(**kwargs: Any) -> Lab:
        lab = Lab.create(tmp_path / f"lab{len(labs)}", robust_sources, fork_server, **kwargs)
        labs.append(lab)
        return lab

    yield make
    violations = []
    for lab in labs:
        lab.close()
        # A process killed while sending leaves the Manager a request without its body.
        violations += [v for v in lab.emu.violations if "MissingRequiredRequestBody" not in v]
    assert not violations, "Flamenco API spec violations:\n" + "\n".join(violations[:10])


@pytest.fixture
def lab(make_lab: LabFactory) -> Lab:
    return make_lab()
