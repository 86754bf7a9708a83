"""Which Flamenco Manager versions farm supports, and what each one can do. No `bpy` module use.

The client reads ``GET /api/v3/version`` once, keeps the :class:`Handshake`, and picks
endpoints by its feature flags. farm supports Managers 3.5 through 3.9; newer ones are
allowed with a warning, older ones refused with a message that says what they lack.
"""

from __future__ import annotations

import dataclasses
import re

from .errors import IncompatibleManager
from .models import FlamencoVersion

Version = tuple[int, int]

OLDEST_SUPPORTED: Version = (3, 5)
NEWEST_KNOWN: Version = (3, 9)

# Feature -> (first version with it, what it is called in messages).
FEATURES: dict[str, tuple[Version, str]] = {
    "has_worker_tags": ((3, 3), "worker tags"),
    "has_mass_delete": ((3, 4), "mass delete"),
    "has_get_jobs": ((3, 6), "GET /api/v3/jobs"),
    "has_initial_status": ((3, 6), "initial_status"),
    "has_step_counts": ((3, 8), "step counts on jobs"),
}

_VERSION_RE = re.compile(r"v?(\d+)\.(\d+)")


def parse_version(text: str) -> Version | None:
    """``"3.8.5"``, ``"3.9-beta1"``, ``"v3.6"`` -> ``(3, 8)``...; ``None`` when unreadable."""
    match = _VERSION_RE.match(text.strip())
    return (int(match[1]), int(match[2])) if match else None


def _fmt(version: Version) -> str:
    return f"{version[0]}.{version[1]}"


@dataclasses.dataclass(frozen=True)
class Handshake:
    """The Manager's version, farm's verdict on it, and what it can do."""

    version: FlamencoVersion
    parsed: Version | None
    compatible: bool
    #: Why it is refused, or a warning for a Manager newer than farm knows; empty when fine.
    message: str
    has_get_jobs: bool
    has_initial_status: bool
    has_step_counts: bool
    has_mass_delete: bool
    has_worker_tags: bool

    @property
    def warning(self) -> str:
        """The warning for a compatible but untested Manager, or ``""``."""
        return self.message if self.compatible else ""

    @property
    def short(self) -> str:
        return self.version.shortversion

    def require_compatible(self) -> None:
        """Raise :class:`IncompatibleManager` when farm cannot work with this Manager."""
        if not self.compatible:
            raise IncompatibleManager(self.message)

    def require(self, feature: str, what: str) -> None:
        """Raise :class:`IncompatibleManager` when ``feature`` (a ``has_*`` name) is missing."""
        self.require_compatible()
        if not getattr(self, feature):
            since = _fmt(FEATURES[feature][0])
            raise IncompatibleManager(
                f"{what} needs Flamenco Manager {since} or newer; this one is {self.short}."
            )

    @classmethod
    def from_version(cls, version: FlamencoVersion) -> Handshake:
        parsed = parse_version(version.shortversion) or parse_version(version.version)
        flags = {
            name: parsed is not None and parsed >= since for name, (since, _) in FEATURES.items()
        }
        compatible, message = _verdict(version, parsed)
        return cls(version=version, parsed=parsed, compatible=compatible, message=message, **flags)


def _verdict(version: FlamencoVersion, parsed: Version | None) -> tuple[bool, str]:
    lowest, highest = _fmt(OLDEST_SUPPORTED), _fmt(NEWEST_KNOWN)
    if parsed is None:
        return False, (
            f"Cannot read the Flamenco Manager version '{version.shortversion}'; "
            f"farm needs {lowest} to {highest}."
        )
    if parsed < OLDEST_SUPPORTED:
        missing = [
            f"{label} arrived in {_fmt(since)}"
            for since, label in FEATURES.values()
            if parsed < since <= OLDEST_SUPPORTED
        ]
        reason = f" ({'; '.join(missing)})" if missing else ", the oldest it is tested with"
        return False, (
            f"Flamenco Manager {_fmt(parsed)} is too old: farm needs {lowest} or newer"
            f"{reason}. Upgrade the Manager."
        )
    if parsed > NEWEST_KNOWN:
        return True, (
            f"Flamenco Manager {_fmt(parsed)} is newer than farm knows ({lowest} to {highest}); "
            "it should work, but is untested."
        )
    return True, ""
