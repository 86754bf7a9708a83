"""Harvesting a release: checked frames, renamed into dist/, with a manifest.

No `bpy` module use.
"""

from __future__ import annotations

from .run import HarvestIncomplete, HarvestResult, harvest_release, load_manifest

__all__ = ["HarvestIncomplete", "HarvestResult", "harvest_release", "load_manifest"]
