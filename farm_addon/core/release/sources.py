"""Turning what the user names (files, folders, patterns) into job sources. No `bpy` module use.

A source is one of:

* a ``.blend`` file: one job named after the file (``chair.blend`` -> ``chair``);
* a folder: every ``.blend`` below it, named by their path inside it (``props/chair.blend``
  -> ``props-chair``); Blender's backups (``.blend1``) and farm volumes are skipped;
* a glob pattern: ``shots/*/main.blend``; each match is named like a folder's files, by its
  path below the pattern's fixed folders (``shots/a/main.blend`` -> ``a-main``);
* a pattern with named parts: ``assets/{object}/{material}.blend``. Each part matches one
  path component (or part of one), becomes job metadata (``object=chair``) and, unless a
  name template says otherwise, the job name (``chair-oak``).
"""

from __future__ import annotations

import glob
import os
import re
import string
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import BadInput
from ..fs.volume import expand_user

_PART = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_RESERVED_META = frozenset({"project", "user.name", "user.email"})
_VOLUME_MARKERS = (".farm-volume.toml", ".farm-volume.json")


class BadSource(BadInput):
    """A source that is missing, is not a .blend file, or matches nothing."""


@dataclass(frozen=True)
class Source:
    """One .blend file that becomes one job."""

    path: Path
    name: str
    metadata: dict[str, str] = field(default_factory=dict)
    given_as: str = ""


def _check_blend(path: Path, given: str) -> None:
    try:
        is_dir = path.is_dir()
        exists = is_dir or path.exists()
    except OSError as exc:  # a name too long for the file system (ENAMETOOLONG), say
        raise BadSource(f"Source {given!r} cannot be a file here: {exc.strerror or exc}. "
                        "Shorten the path.") from exc
    if not exists:
        raise BadSource(f"Source {given!r} does not exist. Check the path.")
    if is_dir:
        return
    if path.suffix.lower() != ".blend":
        raise BadSource(f"Source {given!r} is not a .blend file. Give .blend files, folders "
                        "or patterns such as 'assets/{object}.blend'.")


def _name_from(rel: Path) -> str:
    parts = [*rel.parent.parts, rel.stem] if rel.parent != Path(".") else [rel.stem]
    return "-".join(p for p in parts if p)


def _expand_pattern(pattern: str, cwd: Path, name_template: str | None) -> list[Source]:
    names = _PART.findall(pattern)
    if len(set(names)) != len(names):
        raise BadSource(f"Pattern {pattern!r} names a part twice; give each part its own name.")
    reserved = [n for n in names if n in _RESERVED_META or n.startswith("farm")]
    if reserved:
        raise BadSource(f"Pattern part {{{reserved[0]}}} is a reserved metadata key; rename it.")
    glob_pattern = _PART.sub("*", pattern)
    regex_parts: list[str] = []
    pos = 0
    for m in _PART.finditer(pattern):
        regex_parts.append(_glob_to_regex(pattern[pos:m.start()]))
        regex_parts.append(f"(?P<{m.group(1)}>[^/]+?)")
        pos = m.end()
    regex_parts.append(_glob_to_regex(pattern[pos:]))
    regex = re.compile("".join(regex_parts) + r"\Z")
    base = cwd if not Path(glob_pattern).is_absolute() else Path("/")
    fixed = _fixed_folders(glob_pattern)
    matches = sorted(glob.glob(glob_pattern, root_dir=cwd, recursive=True))
    found: list[Source] = []
    for match in matches:
        path = (base / match) if not Path(match).is_absolute() else Path(match)
        if path.is_dir() or path.suffix.lower() != ".blend":
            continue
        parts = regex.match(Path(match).as_posix())
        meta = dict(parts.groupdict()) if parts else {}
        if name_template:
            name = _format_name(name_template, {**meta, "stem": path.stem}, pattern)
        elif meta:
            name = "-".join(meta.values())
        else:
            name = _name_from(Path(match).relative_to(fixed))
        found.append(Source(path=path.resolve(), name=name, metadata=meta, given_as=pattern))
    if not found:
        raise BadSource(f"Pattern {pattern!r} matches no .blend file in {cwd}.")
    return found


def _format_name(template: str, fields: dict[str, str], pattern: str) -> str:
    """A job name from a name template: plain ``{part}`` fields (with an optional format
    spec) only, never attribute or index access; BadSource saying what is wrong."""
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise BadSource(f"Name template {template!r} does not parse ({exc}); write parts as "
                        "{name}, and a literal brace as {{ or }}.") from None
    out: list[str] = []
    for literal, part, spec, conversion in parsed:
        out.append(literal)
        if part is None:
            continue
        if part not in fields:
            raise BadSource(
                f"Name template {template!r} uses {{{part}}}, which pattern {pattern!r} does "
                f"not name. Available: {', '.join(fields)}."
            )
        if conversion is not None:
            raise BadSource(f"Name template {template!r}: conversions like !{conversion} are "
                            "not supported; use a plain {name}.")
        try:
            out.append(format(fields[part], spec or ""))
        except ValueError as exc:
            raise BadSource(f"Name template {template!r}: format spec {spec!r} of {{{part}}} "
                            f"does not apply ({exc}).") from None
    return "".join(out)


def _fixed_folders(glob_pattern: str) -> Path:
    """The leading folders of a pattern that hold no wildcard: ``shots/*/x.blend`` -> shots."""
    fixed: list[str] = []
    for part in Path(glob_pattern).parts[:-1]:
        if any(ch in part for ch in "*?["):
            break
        fixed.append(part)
    return Path(*fixed) if fixed else Path()


def _glob_to_regex(text: str) -> str:
    """A regex for a glob fragment: ``*`` and ``?`` stay inside one path component,
    ``**/`` spans any number of folders."""
    out: list[str] = []
    i = 0
    while i < len(text):
        if text.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif text.startswith("**", i):
            out.append(".*")
            i += 2
        elif text[i] == "*":
            out.append("[^/]*")
            i += 1
        elif text[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(text[i]))
            i += 1
    return "".join(out)


def expand_sources(given: list[str], cwd: Path, name_template: str | None = None) -> list[Source]:
    """Every job source the user named, in order; raises :class:`BadSource` for the first
    one that is missing, not a .blend, or matches nothing."""
    sources: list[Source] = []
    for item in given:
        if any(ch in item for ch in "*?[{"):
            sources.extend(_expand_pattern(item, cwd, name_template))
            continue
        path = expand_user(item)
        path = path if path.is_absolute() else cwd / path
        _check_blend(path, item)
        if path.is_dir():
            blends = sorted(
                p for p in _blends_below(path) if not _inside_farm_volume(p, path)
            )
            if not blends:
                raise BadSource(f"Folder {item!r} holds no .blend file.")
            sources.extend(
                Source(path=p.resolve(), name=_name_from(p.relative_to(path)), given_as=item)
                for p in blends
            )
        else:
            sources.append(Source(path=path.resolve(), name=path.stem, given_as=item))
    return sources


def _blends_below(top: Path) -> list[Path]:
    """Every ``*.blend`` file below ``top``, links to folders not followed; a folder that
    cannot be read (no permission, gone meanwhile) is skipped rather than failing the plan."""
    found = []
    for dirpath, _dirnames, filenames in os.walk(top):
        for name in filenames:
            path = Path(dirpath) / name
            if name.endswith(".blend") and path.is_file():
                found.append(path)
    return found


def _inside_farm_volume(path: Path, top: Path) -> bool:
    """True for files inside a farm volume below ``top``: never plan a volume's own stores."""
    here = path.parent
    while here != top and top in here.parents:
        if any((here / marker).exists() for marker in _VOLUME_MARKERS):
            return True
        here = here.parent
    return False
