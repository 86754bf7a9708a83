"""Names of delivered files: templates, per-frame data and renamer files.

No `bpy` module use.
"""
