# SPDX-License-Identifier: GPL-3.0-or-later
"""Seeding: the current file as one ad-hoc job, its operator and its panel."""
