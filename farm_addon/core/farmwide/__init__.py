"""Verbs over the whole Manager: the job query language, kill, slash-and-burn.

No `bpy` module use.
"""
