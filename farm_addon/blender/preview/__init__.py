# SPDX-License-Identifier: GPL-3.0-or-later
"""The preview: the farm's last rendered image of the selected job, its operator and panel."""
