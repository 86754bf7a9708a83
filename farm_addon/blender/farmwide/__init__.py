# SPDX-License-Identifier: GPL-3.0-or-later
"""Farm-wide operations: kill jobs by query, slash and burn."""
