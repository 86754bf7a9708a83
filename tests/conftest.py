"""Shared fixtures: real Blender (the `bpy` module) with farm installed as an extension.

Blender's user folders are pointed at a temporary directory before `bpy` is imported, so the
suite never reads or writes the developer's own Blender preferences.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "farm_addon"
EXT_REPO = "farm_test"
EXT_ID = "farm"

_BLENDER_HOME = Path(tempfile.mkdtemp(prefix="farm-blender-home-"))
os.environ.setdefault("BLENDER_USER_RESOURCES", str(_BLENDER_HOME))

pytest_plugins = ["tests.emulator.fixtures"]

# Property tests are derandomized in the suite: the same examples on every run, so a test can
# only fail for a change of the code. `scripts/soak.py --properties` runs the wide random search
# (HYPOTHESIS_PROFILE=wide: new examples every run, many more of them).
settings.register_profile("suite", derandomize=True, database=None, print_blob=True)
settings.register_profile("wide", derandomize=False, database=None, max_examples=2000,
                          print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "suite"))


_EXIT_STATUS: list[int] = []


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    shutil.rmtree(_BLENDER_HOME, ignore_errors=True)
    _EXIT_STATUS.append(int(exitstatus))


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    """Leave without running Blender's C++ exit handlers once `bpy` was imported here.

    The `bpy` module (4.5) can deadlock in its own static destructors at exit (a thread in
    `delayed_close_thread_run` waits on a condition variable that `~GlobalState` destroys), so
    a suite that passed would hang until CI's time runs out. Everything pytest reports has
    been written by now; the exit status is pytest's own.
    """
    if "bpy" in sys.modules and _EXIT_STATUS:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(_EXIT_STATUS[-1])


@pytest.fixture(scope="session")
def blender() -> Any:
    """The real `bpy` module, with online access on the way Blender's preferences turn it on."""
    import bpy

    bpy.context.preferences.system.use_online_access = True
    assert bpy.app.online_access, "could not turn on Blender's online access"
    return bpy


def assemble_extension(dest: Path) -> Path:
    """Lay the working tree out as an installed extension: ``dest/farm/`` holding the manifest
    beside the package's contents (symlinks, so edits show up without a rebuild)."""
    ext = dest / EXT_ID
    ext.mkdir(parents=True)
    for item in PACKAGE.iterdir():
        if item.name not in ("__pycache__", "__main__.py"):
            (ext / item.name).symlink_to(item)
    (ext / "blender_manifest.toml").symlink_to(ROOT / "blender_manifest.toml")
    return ext


@pytest.fixture(scope="session")
def farm_repo(blender: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The working tree registered as a Blender extension repository; yields the module name."""
    repo_dir = tmp_path_factory.mktemp("extensions")
    assemble_extension(repo_dir)
    repos = blender.context.preferences.extensions.repos
    repo = repos.new(name=EXT_REPO, module=EXT_REPO, custom_directory=str(repo_dir))
    yield f"bl_ext.{EXT_REPO}.{EXT_ID}"
    repos.remove(repo)


@pytest.fixture
def farm_enabled(blender: Any, farm_repo: str) -> Iterator[str]:
    """Farm enabled in real Blender for one test, disabled afterwards; yields the module name."""
    result = blender.ops.preferences.addon_enable(module=farm_repo)
    assert result == {"FINISHED"}, f"enabling {farm_repo} failed: {result}"
    assert farm_repo in sys.modules
    try:
        yield farm_repo
    finally:
        blender.ops.preferences.addon_disable(module=farm_repo)
