# SPDX-License-Identifier: GPL-3.0-or-later
"""Releases: plan, harvest, archive, replace a job, open the folders; their panels."""
