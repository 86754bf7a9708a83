"""User settings shared by the CLI, Blender's preferences and headless scripts. No `bpy` module use.

The CLI reads them from its options, then the environment (``FARM_MANAGER_URL``,
``FARM_VOLUME``, ``FARM_PROJECT``, ``FARM_USER_NAME``, ``FARM_USER_EMAIL``), then defaults.
Blender fills the same model from the add-on's preferences.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

DEFAULT_MANAGER_URL = "http://localhost:8080"


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
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls.model_validate(values)
