"""Reading .blend files without Blender, and packing them with their dependencies.

No `bpy` module use.
"""
