"""Archiving a harvested release into one checked .tar.gz, and pruning it.

No `bpy` module use.
"""
