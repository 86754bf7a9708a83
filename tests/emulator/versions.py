"""Flamenco Manager versions and the API features each one has.

The emulator answers like the Manager version it is set to; this module is the one place that says
which version brought (or removed) what.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_VERSION_RE = re.compile(r"^\s*v?(\d+)\.(\d+)(?:\.(\d+))?(?:-([0-9A-Za-z.\-]+))?\s*$")


@dataclass(frozen=True)
class ManagerVersion:
    """A parsed Manager version like ``3.8.5`` or ``3.9-beta1``."""

    text: str
    major: int
    minor: int
    patch: int = 0
    prerelease: str = ""

    @classmethod
    def parse(cls, text: str) -> ManagerVersion:
        """Parse ``MAJOR.MINOR[.PATCH][-PRERELEASE]``; raise ValueError for anything else."""
        match = _VERSION_RE.match(text)
        if not match:
            raise ValueError(f"not a Flamenco version: {text!r}")
        major, minor, patch, pre = match.groups()
        return cls(text.strip(), int(major), int(minor), int(patch or 0), pre or "")

    def at_least(self, major: int, minor: int) -> bool:
        """Whether this version is ``major.minor`` or newer (pre-releases count as that version)."""
        return (self.major, self.minor) >= (major, minor)

    @property
    def shortversion(self) -> str:
        """What the Manager reports as ``shortversion``."""
        return self.text

    # Features, by the version that brought them (see NOTES.md "Versions").
    @property
    def has_worker_tags(self) -> bool:
        return self.at_least(3, 3)

    @property
    def has_mass_delete(self) -> bool:
        return self.at_least(3, 4)

    @property
    def has_fetch_jobs(self) -> bool:
        """``GET /api/v3/jobs`` exists (3.6+)."""
        return self.at_least(3, 6)

    @property
    def has_jobs_query(self) -> bool:
        """``POST /api/v3/jobs/query`` exists (up to 3.5; removed in 3.6)."""
        return not self.at_least(3, 6)

    @property
    def has_initial_status(self) -> bool:
        return self.at_least(3, 6)

    @property
    def has_step_counts(self) -> bool:
        """Jobs and tasks carry ``steps_completed``/``steps_total`` (3.8+)."""
        return self.at_least(3, 8)

    @property
    def has_settag_by_name(self) -> bool:
        return self.at_least(3, 8)

    @property
    def render_python_expr(self) -> bool:
        """simple-blender-render adds a ``--python-expr`` to the render command (3.9+)."""
        return self.at_least(3, 9)
