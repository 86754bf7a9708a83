"""Naming templates such as ``{job}_{frame:04d}{ext}``. No `bpy` module use.

A harvest gives every rendered frame a delivered name, relative to ``dist/<release>/``. The
name comes from a :class:`Template` such as ``{job}_r{angle:03d}.png`` or
``{release}/{meta.object}-{meta.material}_{frame:04d}{ext}``, or, for naming no template can
express, from a :class:`Renamer`: a Python file with a ``rename(release, job, frame, ext, meta,
data)`` function.

Template fields:

- ``release``, ``job``: names; ``frame``, ``revision``: integers; ``ext``: the extension with
  its dot (``.png``);
- ``meta.KEY``: the job's metadata (``meta.object`` for a plan pattern ``{object}``);
- ``data.KEY`` or a bare ``KEY``: the frame's entry in a per-frame data file, a JSON object
  mapping frame numbers to values (``{"7": {"angle": 90}}``); a plain value
  (``{"7": 90}``) is the field ``value``.

Templates are parsed with :class:`string.Formatter` but never evaluated by it: there is no
attribute or index access, only the fields above, and format specs are checked (widths are
bounded) before use. Every failure is a :class:`BadInput` that says what to fix.

The per-frame data is read by :mod:`.data`, renamer files by :mod:`.renamer`, and names are
checked by :mod:`.targets`; :func:`make_namer` picks the namer of a harvest.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import BadInput
from .frame import BoundNamer, FrameInfo, Namer
from .renamer import Renamer
from .targets import path_problem

#: The name a frame gets when neither the plan nor the command line give a template.
DEFAULT_TEMPLATE = "{job}_{frame:06d}{ext}"

BUILTIN_FIELDS: tuple[str, ...] = ("release", "job", "frame", "ext", "revision")

MAX_WIDTH = 255
MAX_PRECISION = 64

# The format spec mini-language, without nested fields.
_SPEC_RE = re.compile(
    r"(?:(?P<fill>.)?(?P<align>[<>=^]))?(?P<sign>[-+ ])?z?#?0?(?P<width>\d+)?[_,]?"
    r"(?:\.(?P<precision>\d+))?(?P<type>[bcdeEfFgGnosxX%])?",
    re.DOTALL,
)


@dataclass(frozen=True)
class _Part:
    literal: str
    field: str | None
    spec: str
    conversion: str | None


class Template:
    """A checked naming template. ``Template(text)`` raises :class:`BadInput` on bad syntax."""

    def __init__(self, text: str, source: str = "") -> None:
        self.text = text
        self.source = source or f"template {text!r}"
        self._parts = self._parse(text)
        fields = [p.field for p in self._parts if p.field is not None]
        self.fields: tuple[str, ...] = tuple(fields)
        #: True if the template may read the per-frame data (data.KEY, value or a bare key).
        self.uses_data = any(
            f.startswith("data.") or (f not in BUILTIN_FIELDS and not f.startswith("meta."))
            for f in fields
        )

    def __repr__(self) -> str:
        return f"Template({self.text!r})"

    def _parse(self, text: str) -> list[_Part]:
        if not isinstance(text, str) or not text.strip():
            raise BadInput(
                "The naming template is empty; give one such as '{job}_{frame:04d}{ext}'."
            )
        parts: list[_Part] = []
        try:
            parsed = list(string.Formatter().parse(text))
        except ValueError as exc:
            raise BadInput(
                f"The naming template {text!r} does not parse: {exc}. Write fields as "
                "{name} or {name:spec}, and a literal brace as {{ or }}."
            ) from None
        for literal, name, spec, conversion in parsed:
            if name is None:
                parts.append(_Part(literal, None, "", None))
                continue
            if name == "":
                raise BadInput(
                    f"The naming template {text!r} has an empty field {{}}; name it, for example "
                    "{frame:04d}. Fields: " + ", ".join(BUILTIN_FIELDS) + ", meta.KEY, data.KEY."
                )
            if "[" in name or "]" in name:
                raise BadInput(
                    f"The naming template {text!r} uses indexing in {{{name}}}; only plain fields "
                    "are allowed (release, job, frame, ext, revision, meta.KEY, data.KEY)."
                )
            if "." in name and not name.startswith(("meta.", "data.")):
                raise BadInput(
                    f"The naming template {text!r} uses attribute access in {{{name}}}; only "
                    "meta.KEY and data.KEY have a dot."
                )
            if name in ("meta.", "data."):
                raise BadInput(
                    f"The naming template {text!r}: {{{name}}} needs a KEY after the dot."
                )
            if conversion not in (None, "s", "r", "a"):
                raise BadInput(
                    f"The naming template {text!r}: unknown conversion !{conversion} in "
                    f"{{{name}}}; use a format spec such as :04d instead."
                )
            spec = spec or ""
            if "{" in spec or "}" in spec:
                raise BadInput(
                    f"The naming template {text!r}: nested fields in the format spec of "
                    f"{{{name}}} are not supported."
                )
            _check_spec(text, name, spec)
            parts.append(_Part(literal, name, spec, conversion))
        return parts

    def available(self, info: FrameInfo) -> list[str]:
        names = list(BUILTIN_FIELDS)
        names += [f"meta.{k}" for k in sorted(info.meta)]
        data = info.data
        if isinstance(data, dict):
            names += [f"data.{k}" for k in sorted(data)]
        elif info.has_data and data is not None:
            names.append("value")
        return names

    def _lookup(self, name: str, info: FrameInfo) -> Any:
        if name in BUILTIN_FIELDS:
            return getattr(info, name)
        if name.startswith("meta."):
            key = name[5:]
            if key in info.meta:
                return info.meta[key]
            raise self._unknown(name, info, f"job {info.job!r} has no metadata {key!r}")
        key = name[5:] if name.startswith("data.") else name
        if not info.has_data:
            raise self._unknown(
                name, info, "it would come from a per-frame data file, and none was given"
            )
        data = info.data
        if isinstance(data, dict):
            if key in data:
                return data[key]
        elif key == "value":
            return data
        raise self._unknown(name, info, f"the per-frame data of frame {info.frame} has no {key!r}")

    def _unknown(self, name: str, info: FrameInfo, why: str) -> BadInput:
        return BadInput(
            f"The naming template {self.text!r} uses the unknown field {{{name}}} ({why}). "
            f"Available for {info.label}: " + ", ".join(self.available(info)) + "."
        )

    def _format(self, part: _Part, info: FrameInfo) -> str:
        assert part.field is not None
        value = self._lookup(part.field, info)
        if isinstance(value, bool) or value is None:
            value = str(value).lower() if value is not None else "null"
        if not isinstance(value, (str, int, float)):
            raise BadInput(
                f"The naming template {self.text!r}: {{{part.field}}} of {info.label} is a "
                f"{type(value).__name__}; only text and numbers can be part of a name."
            )
        if part.conversion == "r":
            value = repr(value)
        elif part.conversion == "a":
            value = ascii(value)
        elif part.conversion == "s":
            value = str(value)
        try:
            return format(value, part.spec)
        except (ValueError, TypeError, OverflowError) as exc:
            kind = type(value).__name__
            raise BadInput(
                f"The naming template {self.text!r}: format spec {part.spec!r} does not "
                f"apply to {{{part.field}}} (a {kind}, {value!r}) of {info.label}: {exc}."
            ) from None

    def _checked(self, name: str, info: FrameInfo) -> str:
        problem = path_problem(name)
        if problem:
            raise BadInput(
                f"The naming template {self.text!r} gives an unsafe name for {info.label}: "
                f"{name!r} ({problem})."
            )
        return name

    def render(self, info: FrameInfo) -> str:
        out: list[str] = []
        for part in self._parts:
            out.append(part.literal)
            if part.field is not None:
                out.append(self._format(part, info))
        return self._checked("".join(out), info)

    def bind(self, info: FrameInfo) -> BoundNamer:
        """Fields that depend only on the job are formatted once, here."""
        segs: list[str | _Part] = []
        for part in self._parts:
            segs.append(part.literal)
            f = part.field
            if f is not None and (f in ("release", "job", "ext", "revision")
                                  or f.startswith("meta.")):
                segs.append(self._format(part, info))
            elif f is not None:
                segs.append(part)
        merged: list[str | _Part] = []
        for seg in segs:
            if isinstance(seg, str) and merged and isinstance(merged[-1], str):
                merged[-1] += seg
            elif seg != "":
                merged.append(seg)
        mine = FrameInfo(info.release, info.job, info.frame, info.ext, info.revision,
                         info.meta, info.data, info.has_data)
        fmt, checked = self._format, self._checked

        def name(frame: int, data: Any) -> str:
            mine.frame, mine.data = frame, data
            return checked("".join([s if isinstance(s, str) else fmt(s, mine)
                                    for s in merged]), mine)

        if not all(isinstance(seg, str) or (seg.field == "frame" and seg.conversion is None)
                   for seg in merged):
            return name
        # Only the frame number varies: one str.format call per frame (C speed).
        fast = "".join(seg.replace("{", "{{").replace("}", "}}") if isinstance(seg, str)
                       else f"{{0:{seg.spec}}}" for seg in merged).format
        plain = path_problem

        def frame_name(frame: int, data: Any) -> str:
            try:
                out = fast(frame)
            except (ValueError, TypeError, OverflowError):
                return name(frame, data)  # raises the full message
            return out if plain(out) is None else name(frame, data)

        return frame_name


def _check_spec(text: str, name: str, spec: str) -> None:
    m = _SPEC_RE.fullmatch(spec)
    if m is None:
        raise BadInput(
            f"The naming template {text!r}: {spec!r} in {{{name}:{spec}}} is not a format spec; "
            "examples: 04d (zero-padded), 03.0f, >5."
        )
    width, precision = m.group("width"), m.group("precision")
    if width and int(width) > MAX_WIDTH:
        raise BadInput(
            f"The naming template {text!r}: width {width} in {{{name}:{spec}}} is too large "
            f"(at most {MAX_WIDTH})."
        )
    if precision and int(precision) > MAX_PRECISION:
        raise BadInput(
            f"The naming template {text!r}: precision {precision} in {{{name}:{spec}}} is too "
            f"large (at most {MAX_PRECISION})."
        )


def make_namer(template: str | None = None, renamer: Path | str | None = None) -> Namer:
    """The namer for a harvest: a renamer file, else the template, else the default."""
    if template is not None and renamer is not None:
        raise BadInput("Give a naming template or a renamer file, not both.")
    if renamer is not None:
        return Renamer(renamer)
    return Template(template if template is not None else DEFAULT_TEMPLATE)


__all__ = [
    "BUILTIN_FIELDS", "DEFAULT_TEMPLATE", "MAX_PRECISION", "MAX_WIDTH", "Template", "make_namer",
]
