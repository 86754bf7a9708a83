"""Releases: the record, plan files, sources, planning, submitting, status, replace, seed.

No `bpy` module use.
"""
