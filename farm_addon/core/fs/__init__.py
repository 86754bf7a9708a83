"""The shared volume on disk: layout, path rules, atomic writes, locks, the crash-safe mover.

No `bpy` module use.
"""
