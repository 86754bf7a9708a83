# SPDX-License-Identifier: GPL-3.0-or-later
"""Farm: release management for Flamenco render farms.

This package is both the Blender extension (loaded as ``bl_ext.<repo>.farm``) and the Python
package the ``farm`` CLI runs from. Nothing here imports bpy at module level: ``register()``
imports the Blender layer, so ``import farm_addon.core`` works in a plain Python.
"""

from __future__ import annotations

__version__ = "0.1.0"


def register() -> None:
    from . import blender

    blender.register()


def unregister() -> None:
    from . import blender

    blender.unregister()
