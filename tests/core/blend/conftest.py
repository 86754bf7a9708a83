"""Fixtures of the blend tests: the standard .blend files and a plain farm volume."""

from __future__ import annotations

from pathlib import Path

import pytest

from farm_addon.core.fs.volume import Volume
from tests import blendgen


@pytest.fixture(scope="session")
def blends(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return blendgen.standard_blends(tmp_path_factory.getbasetemp() / "blends")


@pytest.fixture
def volume(tmp_path: Path) -> Volume:
    """A farm volume with no Manager (packing needs none)."""
    return Volume.init(tmp_path / "volume", name="test")
