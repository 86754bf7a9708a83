"""Manager variables: one-way (``{blender}``) and two-way (``{my_storage}``) path variables.

On submission the Manager replaces the submitter platform's value of each two-way variable with
``{name}`` in string settings and metadata; when a Worker gets a task, ``{name}`` is expanded to
the Worker's platform value (two-way values with that platform's path separators).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

MANAGER_PLATFORM = "linux"


def normalise_platform(platform: str) -> str:
    """``manager`` means the Manager's own platform; everything is lower case."""
    platform = platform.strip().lower()
    return MANAGER_PLATFORM if platform == "manager" else platform


def to_platform_separators(path: str, platform: str) -> str:
    """Use the path separator of ``platform``."""
    if platform == "windows":
        return path.replace("/", "\\")
    return path.replace("\\", "/")


@dataclass
class Variable:
    name: str
    values: dict[str, str]  # platform (or "all") -> value
    is_twoway: bool

    def value_for(self, platform: str) -> str | None:
        return self.values.get(normalise_platform(platform), self.values.get("all"))


class Variables:
    """The variables of one emulated Manager."""

    def __init__(self, variables: Mapping[str, Variable]) -> None:
        self._vars: dict[str, Variable] = dict(variables)

    @classmethod
    def build(cls, blender_command: str, twoway: Mapping[str, Mapping[str, str]],
              oneway: Mapping[str, Mapping[str, str]] | None = None) -> Variables:
        found = {
            "blender": Variable("blender", {"all": "blender", MANAGER_PLATFORM: blender_command},
                                False),
            "blenderArgs": Variable("blenderArgs", {"all": "-b -y"}, False),
        }
        for name, values in (oneway or {}).items():
            found[name] = Variable(name, dict(values), False)
        for name, values in twoway.items():
            found[name] = Variable(name, dict(values), True)
        return cls(found)

    def __getitem__(self, name: str) -> Variable:
        return self._vars[name]

    def names(self) -> list[str]:
        return list(self._vars)

    def set_value(self, name: str, platform: str, value: str) -> None:
        self._vars[name].values[normalise_platform(platform)] = value

    def for_platform(self, platform: str) -> dict[str, dict[str, Any]]:
        """The ``ManagerVariables`` JSON for one platform."""
        result = {}
        for var in self._vars.values():
            value = var.value_for(platform)
            if value is not None:
                result[var.name] = {"value": value, "is_twoway": var.is_twoway}
        return result

    # Submission side -------------------------------------------------------------------------
    def replace_twoway(self, text: str, platform: str) -> str:
        """Replace a leading two-way variable value of ``platform`` by ``{name}``."""
        best: tuple[int, str] | None = None
        for var in self._vars.values():
            if not var.is_twoway:
                continue
            value = var.value_for(platform)
            if not value:
                continue
            for candidate in {value, value.replace("\\", "/")}:
                if text.startswith(candidate) and (best is None or len(candidate) > best[0]):
                    best = (len(candidate), var.name)
        if best is None:
            return text
        return "{" + best[1] + "}" + text[best[0]:]

    def replace_twoway_in(self, mapping: Mapping[str, Any], platform: str) -> dict[str, Any]:
        """Apply :meth:`replace_twoway` to every string value of a flat mapping."""
        return {key: self.replace_twoway(val, platform) if isinstance(val, str) else val
                for key, val in mapping.items()}

    # Worker side -----------------------------------------------------------------------------
    def expand(self, text: str, platform: str) -> str:
        """Expand ``{name}`` of every known variable for ``platform``."""
        twoway_used = False

        def value(match: re.Match[str]) -> str:
            nonlocal twoway_used
            var = self._vars.get(match.group(1))
            if var is None:
                return match.group(0)
            found = var.value_for(platform)
            if found is None:
                return match.group(0)
            twoway_used = twoway_used or var.is_twoway
            return found

        expanded = re.sub(r"{([A-Za-z0-9_.\-]+)}", value, text)
        if twoway_used:
            expanded = to_platform_separators(expanded, normalise_platform(platform))
        return expanded

    def expand_all(self, obj: Any, platform: str) -> Any:
        """Expand variables in every string of a JSON-like structure."""
        if isinstance(obj, str):
            return self.expand(obj, platform)
        if isinstance(obj, list):
            return [self.expand_all(item, platform) for item in obj]
        if isinstance(obj, dict):
            return {key: self.expand_all(val, platform) for key, val in obj.items()}
        return obj

    def storage_for(self, location: str, platform: str) -> str:
        """The Manager's (linux) storage location as seen from ``platform``."""
        return self.expand(self.replace_twoway(location, MANAGER_PLATFORM), platform)
