"""The farm core: Flamenco client, volume, releases and CLI.

No `bpy` module use. Everything here runs in a plain Python and is shared by the
Blender layer (``farm_addon.blender``), the ``farm`` command line and headless scripts.
"""
