# SPDX-License-Identifier: GPL-3.0-or-later
"""The Manager connection: refresh, test connection, the Manager panel, and the fetches.

The fetches fill ``WindowManager.farm``: the Manager, the releases, the selected release's
jobs, the worker tags.
"""
