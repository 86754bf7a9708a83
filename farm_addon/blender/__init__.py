# SPDX-License-Identifier: GPL-3.0-or-later
"""The Blender layer: the only place that imports bpy.

Thin by design: preferences, property groups, operators and panels gather input, run the
core's functions (on a worker thread for people, blocking for scripts) and draw state that
is already in memory. One subpackage per feature, each with its operators (``ops``) and its
panels (``ui``); ``work`` runs the core's work off the UI thread. The modules register in
the order below and unregister in reverse: the preferences and property groups first, the
job machinery before the operators that start jobs, and the panels in their sidebar order
(Manager, Seed, Releases and Jobs, Preview).
"""

from __future__ import annotations

import importlib
from types import ModuleType

_MODULE_NAMES = (
    "prefs",
    "props",
    "work.runner",
    "work.ops",
    "farm.ops",
    "farm.ui",
    "seed.ops",
    "seed.ui",
    "release.ops",
    "release.ui",
    "farmwide.ops",
    "preview.ops",
    "preview.ui",
)


def _modules() -> list[ModuleType]:
    return [importlib.import_module(f".{name}", __name__) for name in _MODULE_NAMES]


def register() -> None:
    for module in _modules():
        module.register()


def unregister() -> None:
    for module in reversed(_modules()):
        module.unregister()
