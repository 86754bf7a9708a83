"""pytest plugin: the ``emulator`` and ``emulator_factory`` fixtures.

Enable with ``pytest_plugins = ["tests.emulator.fixtures"]`` (or ``-p tests.emulator.fixtures``).
Configure the ``emulator`` fixture per test with the marker::

    @pytest.mark.emulator(version="3.5.0", worker="instant")
    def test_something(emulator): ...

Any :class:`~tests.emulator.Emulator` keyword works in the marker, plus
``allow_violations=True`` for tests that send invalid requests on purpose. At teardown a test
fails when its emulators saw requests or responses that break the API spec.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from .emulator import Emulator

MARKER = "emulator"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(**kwargs): configure the `emulator` fixture (version=, worker=, shaman=, "
        "variables=, worker_tags=, allow_violations=, ... any Emulator keyword)")


EmulatorFactory = Callable[..., Emulator]


@pytest.fixture
def emulator_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorFactory]:
    """Make started emulators: ``emulator_factory(version="3.5.0", worker="instant")``.

    Storage defaults to a fresh temporary folder. All are stopped at teardown, and the test
    fails if any saw spec violations (unless made with ``allow_violations=True``).
    """
    made: list[tuple[Emulator, bool]] = []

    def make(**kwargs: Any) -> Emulator:
        allow = bool(kwargs.pop("allow_violations", False))
        if kwargs.get("storage") is None:
            kwargs["storage"] = tmp_path_factory.mktemp("farm-storage")
        emu = Emulator(**kwargs)
        emu.start()
        made.append((emu, allow))
        return emu

    yield make

    problems: list[str] = []
    for emu, allow in made:
        emu.stop()
        if not allow:
            problems.extend(f"[{emu.url} {emu.version}] {v}" for v in emu.violations)
    if problems:
        pytest.fail("Flamenco API spec violations seen by the emulator:\n  "
                    + "\n  ".join(problems), pytrace=False)


@pytest.fixture
def emulator(request: pytest.FixtureRequest, emulator_factory: EmulatorFactory) -> Emulator:
    """A started emulator (3.8.5, worker none, temporary storage); see the ``emulator`` marker."""
    marker = request.node.get_closest_marker(MARKER)
    kwargs: dict[str, Any] = dict(marker.kwargs) if marker else {}
    return emulator_factory(**kwargs)
