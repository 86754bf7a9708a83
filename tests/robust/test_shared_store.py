"""Shared dependencies through the real `farm` commands: one pool file per content, links
counted by the file system, nothing removed that a job still uses."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.robust.lab import Lab

pytestmark = pytest.mark.timeout(180)


def _pool_files(lab: Lab) -> dict[str, int]:
    return {p.name: p.stat().st_nlink for p in lab.volume.pool_dir.rglob("*") if p.is_file()}


def _ok(answer: dict[str, object]) -> None:
    assert answer["code"] == 0, answer["err"]


def test_plan_seed_and_slash_and_burn_share_and_sweep(lab: Lab) -> None:
    _ok(lab.farm(lab.plan_argv()))
    store = lab.volume.store_dir(lab.release)
    planned = _pool_files(lab)
    assert len(planned) == 2 and set(planned.values()) == {2}  # b's two textures, one job each
    _ok(lab.farm(["seed", "job", str(lab.sources["b"]), "quickie"]))
    assert set(_pool_files(lab).values()) == {3}  # the quick job links the same files
    wood = store / "b.deps" / "textures" / "wood.png"
    assert os.stat(wood).st_ino == os.stat(
        lab.volume.quick_store_dir / "quickie.deps" / "textures" / "wood.png").st_ino
    lab.render()

    _ok(lab.farm(["slash-and-burn", "--yes"]))  # empties quick/: the release keeps its files
    assert set(_pool_files(lab).values()) == {2}
    assert wood.read_bytes() == Path(lab.sources["b"]).parent.joinpath(
        "textures", "wood.png").read_bytes()
    _ok(lab.farm(["slash-and-burn", "--yes", "--include", "releases"]))
    assert _pool_files(lab) == {}


def test_replace_job_keeps_one_copy_and_sweeps_the_old(lab: Lab) -> None:
    _ok(lab.farm(lab.plan_argv()))
    wood = Path(lab.sources["b"]).parent / "textures" / "wood.png"
    wood.write_bytes(wood.read_bytes() + b"repainted")
    before = _pool_files(lab)
    _ok(lab.farm(["replace", "job", "b", "--release", lab.release]))
    after = _pool_files(lab)
    assert len(after) == 2 and set(after.values()) == {2}
    assert len(set(after) - set(before)) == 1  # the repainted texture replaced the old one
