"""User settings shared by the CLI, Blender's preferences and headless scripts. No `bpy` module use.

The CLI reads them from its options, then the environment (``FARM_MANAGER_URL``,
``FARM_VOLUME``, ``FARM_PROJECT``, ``FARM_USER_NAME``, ``FARM_USER_EMAIL``, ``FARM_TIMEOUT``),
then defaults.
Blender fills the same model from the add-on's preferences.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from .errors import BadInput

DEFAULT_MANAGER_URL = "http://localhost:8080"
DEFAULT_TIMEOUT_S = 30.0
MAX_TIMEOUT_S = 3600.0


def _default_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers)
        return "unknown"


class Settings(BaseModel):
    """Who submits, to which Manager, from which volume."""

    model_config = ConfigDict(frozen=True)

    manager_url: str = DEFAULT_MANAGER_URL
    volume: Path | None = None
    project: str = ""
    user_name: str = Field(default_factory=_default_user)
    user_email: str = ""
    priority: int = Field(default=50, ge=0, le=100)
    chunk_size: int = Field(default=1, ge=1)
    #: seconds to wait for each answer of the Manager (connecting: at most 3.05 of them)
    timeout: float = Field(default=DEFAULT_TIMEOUT_S, gt=0, le=MAX_TIMEOUT_S)

    @property
    def client_timeout(self) -> tuple[float, float]:
        """``(connect, read)`` for the Flamenco client."""
        return (min(3.05, self.timeout), self.timeout)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Settings from the environment; ``overrides`` that are not None win."""
        env = os.environ if env is None else env
        values: dict[str, object] = {}
        for field, var in (
            ("manager_url", "FARM_MANAGER_URL"),
            ("volume", "FARM_VOLUME"),
            ("project", "FARM_PROJECT"),
            ("user_name", "FARM_USER_NAME"),
            ("user_email", "FARM_USER_EMAIL"),
        ):
            if env.get(var):
                values[field] = env[var]
        if env.get("FARM_TIMEOUT") and overrides.get("timeout") is None:
            values["timeout"] = parse_timeout(env["FARM_TIMEOUT"], "FARM_TIMEOUT")
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls.model_validate(values)


def parse_timeout(text: str, where: str = "--timeout") -> float:
    """Seconds, from a command line or the environment; BadInput names ``where``."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value <= MAX_TIMEOUT_S:  # also NaN
        raise BadInput(f"{where} {text!r} is not a number of seconds between 0 and "
                       f"{MAX_TIMEOUT_S:g}; for example "
                       f"{where + '=60' if where.isupper() else where + ' 60'}.")
    return value
