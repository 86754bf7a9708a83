"""Harvesting a release: checked frames, renamed into dist/, with a manifest.

No `bpy` module use.
"""
