# SPDX-License-Identifier: GPL-3.0-or-later
"""The Manager connection: refresh, test connection, the Manager panel, and the fetches that
fill ``WindowManager.farm``."""
