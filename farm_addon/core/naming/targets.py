"""Checking delivered names: safe relative paths, and no collisions. No `bpy` module use.

:func:`check_targets` checks a whole mapping before anything moves: unsafe paths (absolute,
``..``, NUL, characters Windows reserves, empty components, device names), and collisions,
including names that differ only in case or Unicode normalisation, since deliveries end up on
Windows and macOS.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from ..errors import BadInput
from ..fs.names import WINDOWS_DEVICE_NAMES, fold, is_windows_device

#: Names the harvest keeps for itself at the top of ``dist/<release>/``.
RESERVED_TOP = frozenset({"manifest.json", ".superseded"})
RESERVED_PREFIX = ".farm-"

MAX_COMPONENT_BYTES = 255
MAX_PATH_CHARS = 1024
_MAX_LISTED = 12

_WINDOWS_RESERVED_CHARS = frozenset('<>:"|?*\\')

_PLAIN = re.compile(r"[A-Za-z0-9_\-]+(?:[.+ ][A-Za-z0-9_\-]+)*"
                    r"(?:/[A-Za-z0-9_\-]+(?:[.+ ][A-Za-z0-9_\-]+)*)*")
# A path component that is a device name (alone, or before a dot, space or slash).
_DEVICE_RE = re.compile(
    r"(?:^|/)(?:" + "|".join(map(re.escape, sorted(WINDOWS_DEVICE_NAMES))) + r")(?:[. /]|$)", re.I)


def path_problem(name: str) -> str | None:
    """Why ``name`` is not a safe relative path for a delivered file, or None if it is."""
    if (len(name) <= MAX_COMPONENT_BYTES and _PLAIN.fullmatch(name)
            and not _DEVICE_RE.search(name) and name.split("/", 1)[0] not in RESERVED_TOP):
        return None  # the common case, decided at once
    return _path_problem(name)


def _path_problem(name: str) -> str | None:
    if not name:
        return "it is empty"
    if len(name) > MAX_PATH_CHARS:
        return f"longer than {MAX_PATH_CHARS} characters"
    if "\x00" in name:
        return "it contains a NUL character"
    if name.startswith(("/", "\\")) or re.match(r"[A-Za-z]:", name):
        return "it is an absolute path"
    ctrl = next((c for c in name if ord(c) < 32), None)
    if ctrl is not None:
        return f"it contains the control character {ctrl!r}"
    reserved = sorted({c for c in name if c in _WINDOWS_RESERVED_CHARS})
    if reserved:
        return "it contains " + " ".join(reserved) + ", reserved on Windows"
    parts = name.split("/")
    for i, part in enumerate(parts):
        if part == "":
            return "it has an empty path component (// or a trailing /)"
        if part in (".", ".."):
            return f"it contains {part!r} as a path component"
        if part.endswith((" ", ".")):
            return f"component {part!r} ends with a space or dot, which Windows drops"
        if is_windows_device(part):
            return f"component {part!r} is a device name on Windows"
        if len(part.encode("utf-8", "surrogatepass")) > MAX_COMPONENT_BYTES:
            return f"component {part[:20]!r}... is longer than {MAX_COMPONENT_BYTES} bytes"
        if part.startswith(RESERVED_PREFIX):
            return f"names starting with {RESERVED_PREFIX!r} are farm's own temporary files"
        if i == 0 and part in RESERVED_TOP:
            return f"{part!r} at the top of the delivery folder is farm's own"
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return "it is not valid Unicode"
    return None


def _listing(items: Sequence[str], limit: int = _MAX_LISTED) -> str:
    shown = list(items[:limit])
    more = len(items) - len(shown)
    return "; ".join(shown) + (f"; and {more} more" if more > 0 else "")



def check_targets(
    pairs: Iterable[tuple[Any, str]], existing: Mapping[str, str] | None = None,
    *, checked: bool = False, label: Callable[[Any], str] = str,
) -> None:
    """Check every ``(label, target)`` pair before anything moves.

    ``existing`` maps :func:`fold` keys of files already in the delivery folder that must not be
    overwritten to their names. ``checked``: every target already passed :func:`path_problem`
    (names from :meth:`Template.bind` and :class:`Renamer` do). ``label`` turns the first item
    of a pair into text, only for messages. Raises :class:`BadInput` listing every problem.
    """
    problems: list[str] = []
    by_key: dict[str, tuple[Any, str]] = {}
    clashes: dict[str, list[tuple[Any, str]]] = {}
    dirs: dict[str, Any] = {}
    for item, target in pairs:
        why = None if checked else path_problem(target)
        if why:
            problems.append(f"{label(item)} -> {target!r}: {why}")
            continue
        key = fold(target)
        if key in by_key:
            clashes.setdefault(key, [by_key[key]]).append((item, target))
            continue
        by_key[key] = (item, target)
        if "/" in key:
            segs = key.split("/")
            for n in range(1, len(segs)):
                dirs.setdefault("/".join(segs[:n]), item)
        if existing and key in existing:
            problems.append(
                f"{label(item)} -> {target!r}: {existing[key]!r} already exists in the delivery "
                "folder from another source"
            )
    for group in clashes.values():
        labels = [label(item) for item, _ in group]
        names = sorted({t for _, t in group})
        who = (" and ".join(labels) if len(labels) == 2
               else f"{', '.join(labels[:3])} and {len(labels) - 3} more" if len(labels) > 4
               else ", ".join(labels[:-1]) + f" and {labels[-1]}")
        how = ("the same name" if len(names) == 1
               else ", ".join(repr(n) for n in names[1:]) + ", differing only in case")
        problems.append(f"{who} {'both ' if len(labels) == 2 else 'all '}map to "
                        f"{names[0]!r} ({how})")
    for key, (item, target) in by_key.items():
        if key in dirs:
            problems.append(f"{label(item)} -> {target!r} is also a folder for "
                            f"{label(dirs[key])}")
    if problems:
        raise BadInput(
            f"{len(problems)} delivered name(s) cannot be used; nothing was moved: "
            + _listing(problems)
        )
