"""Plan files: a release in TOML, with defaults and per-job overrides. No `bpy` module use.

::

    release = "spring-catalogue"          # optional; the command line's NAME wins
    sources = ["assets/{object}/{material}.blend", "extras/"]
    name = "{object}-{material}"          # optional job name template for patterns
    naming = "{job}_r{angle:03d}{ext}"    # optional harvest naming template
    frame_data = "angles.json"            # optional per-frame data for the naming template

    [defaults]                            # for every job
    frames = "1-36"
    chunk_size = 4
    priority = 60
    worker_tag = "cpu"
    scene = "Scene"
    output_format = "PNG"

    [jobs.chair-oak]                      # overrides for one job (by its name)
    frames = "1-12"

    [jobs.lamp]                           # a job may also name its own source
    source = "extras/lamp_v3.blend"
    metadata = { object = "lamp" }

Relative paths are relative to the plan file's folder. Every mistake is reported with its
line number.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..errors import BadInput
from ..fs.volume import expand_user


class BadPlanFile(BadInput):
    """A plan file that is not valid TOML or does not follow the plan's schema."""


class JobSettings(BaseModel):
    """Settings a plan gives all jobs (``[defaults]``) or one job (``[jobs.NAME]``)."""

    model_config = ConfigDict(extra="forbid")

    frames: str | None = None
    chunk_size: int | None = Field(default=None, ge=1)
    priority: int | None = Field(default=None, ge=0, le=100)
    worker_tag: str | None = None
    scene: str | None = None
    output_format: str | None = None


class JobOverride(JobSettings):
    source: str | None = None
    metadata: dict[str, str] = Field(default_factory=dict)


class PlanFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    release: str | None = None
    sources: list[str] = Field(default_factory=list)
    name: str | None = None
    naming: str | None = None
    frame_data: str | None = None
    defaults: JobSettings = Field(default_factory=JobSettings)
    jobs: dict[str, JobOverride] = Field(default_factory=dict)

    # Where the file was read from: relative paths in it are relative to this folder.
    base_dir: Path = Field(default=Path("."), exclude=True)

    def resolve(self, path: str) -> Path:
        p = expand_user(path)
        return p if p.is_absolute() else self.base_dir / p


def _line_of(text: str, loc: tuple[int | str, ...]) -> int | None:
    """Best guess of the line a pydantic error location points at."""
    lines = text.splitlines()
    keys = [str(k) for k in loc if isinstance(k, str)]
    if not keys:
        return None
    # A per-job table: find its header first, then the key inside it.
    start: int | None = None
    if keys[0] == "jobs" and len(keys) >= 2:
        header = re.compile(r"^\s*\[\s*jobs\.\"?" + re.escape(keys[1]) + r"\"?\s*\]")
        for i, line in enumerate(lines):
            if header.match(line):
                start = i
                break
        keys = keys[2:] or keys[1:2]
    elif keys[0] == "defaults" and len(keys) >= 2:
        for i, line in enumerate(lines):
            if re.match(r"^\s*\[\s*defaults\s*\]", line):
                start = i
                break
        keys = keys[1:]
    # The innermost key first; a key inside an inline table falls back to the table's own.
    for name in reversed(keys):
        key = re.compile(r"^\s*\"?" + re.escape(name) + r"\"?\s*=")
        for i in range(start or 0, len(lines)):
            if key.match(lines[i]):
                return i + 1
    return start + 1 if start is not None else None


def parse_plan_text(text: str, base_dir: Path, origin: str = "plan file") -> PlanFile:
    try:
        data: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        reason = str(exc)
        if "at end of document" in reason:  # tomllib gives no line for these
            reason = reason.replace("at end of document",
                                    f"at the end of the file, line {len(text.splitlines())}")
            raise BadPlanFile(f"{origin} is not valid TOML: {reason}. Something opened "
                              "earlier (a bracket or a quote) is never closed.") from exc
        raise BadPlanFile(f"{origin} is not valid TOML: {reason}. Fix that line.") from exc
    except RecursionError:
        raise BadPlanFile(f"{origin} is nested too deeply to be a plan file.") from None
    try:
        plan = PlanFile.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors()[:5]:
            where = ".".join(str(p) for p in err["loc"])
            line = _line_of(text, tuple(err["loc"]))
            at = f" (line {line})" if line else ""
            msg = "unknown setting" if err["type"] == "extra_forbidden" else err["msg"]
            problems.append(f"{where}{at}: {msg}")
        raise BadPlanFile(f"{origin} has mistakes: " + "; ".join(problems) + ".") from exc
    return plan.model_copy(update={"base_dir": base_dir})


def load_plan_file(path: Path) -> PlanFile:
    try:
        raw = path.read_bytes()
    except FileNotFoundError as exc:
        raise BadPlanFile(f"Plan file {path} does not exist.") from exc
    except OSError as exc:
        raise BadPlanFile(f"Plan file {path} cannot be read: {exc.strerror}.") from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise BadPlanFile(f"Plan file {path} is not UTF-8 text (line {line}).") from exc
    return parse_plan_text(text, path.resolve().parent, origin=f"Plan file {path}")
