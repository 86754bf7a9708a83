# SPDX-License-Identifier: GPL-3.0-or-later
"""The Blender layer: the only place that imports bpy.

Thin by design: preferences, property groups, operators and panels gather input, run the
core's functions (on a worker thread for people, blocking for scripts) and draw state that
is already in memory. Submodules register in order and unregister in reverse.
"""

from __future__ import annotations

import importlib
from types import ModuleType

_MODULE_NAMES = ("prefs", "props", "runner", "operators", "panels")


def _modules() -> list[ModuleType]:
    return [importlib.import_module(f".{name}", __name__) for name in _MODULE_NAMES]


def register() -> None:
    for module in _modules():
        module.register()


def unregister() -> None:
    for module in reversed(_modules()):
        module.unregister()
