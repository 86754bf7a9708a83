"""The shared volume on disk: layout, names, atomic writes, locks, the journal and the mover.

No `bpy` module use.
"""
