# SPDX-License-Identifier: GPL-3.0-or-later
"""The core facade as Blender's operators and the headless scripts call it. No `bpy` module use.

Everything is :mod:`farm_addon.core.api`: the same functions the CLI's verbs use.
"""

from ..core.api import *  # noqa: F403
from ..core.api import __all__  # noqa: F401
