"""Job, release and volume names, safe as file names everywhere. No `bpy` module use.

A name ends up in paths (``store/<job>.blend``, ``out/<job>/######.png``), in Blender's render
output path and in Flamenco settings, on Linux, Windows and macOS alike. :func:`validate_name`
accepts only names that are safe in all of those places and explains any refusal with the
problem and the fix. :func:`casefold_collisions` finds names that would land on one file on a
case-insensitive file system (Windows, macOS), and :func:`safe_name` turns arbitrary text (a
folder name, a pattern field) into a name that passes. :data:`WINDOWS_DEVICE_NAMES`
(:func:`is_windows_device`) and :func:`fold` are the one list of device names and the one
case-fold.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from ..errors import BadInput

MAX_CHARS = 100
MAX_BYTES = 200  # UTF-8 bytes; `<name>.blend` and `<name>.deps` must fit in 255-byte file names

# Characters Windows refuses in file names, plus two that farm's own paths give a meaning to:
# `#` is Blender's frame-number placeholder in render output paths, and `{ }` delimit
# Flamenco's variables (`{blender}`, `{timestamp}`) in job settings.
_FORBIDDEN = {
    "/": "a folder separator",
    "\\": "a folder separator on Windows",
    "<": "reserved on Windows",
    ">": "reserved on Windows",
    ":": "reserved on Windows (drive letters)",
    '"': "reserved on Windows",
    "|": "reserved on Windows",
    "?": "reserved on Windows",
    "*": "reserved on Windows (wildcard)",
    "#": "Blender's frame-number placeholder in output paths",
    "{": "Flamenco's variable syntax",
    "}": "Flamenco's variable syntax",
}
#: The names Windows reserves for devices, upper-case (with any extension: ``nul.txt``);
#: compare with :func:`is_windows_device`.
WINDOWS_DEVICE_NAMES = frozenset(
    ["CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"]
    + [f"{dev}{n}" for dev in ("COM", "LPT") for n in (*"123456789", "¹", "²", "³")]
)
# Unicode categories of characters that are invisible or control the terminal/layout.
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
_UNSAFE_RUN = re.compile(r"[^\w.\-]+")


def validate_name(name: object, what: str = "job name") -> str:
    """Return ``name`` unchanged if it is safe as a file name everywhere; raise BadInput if not.

    ``what`` names the thing in the message ("job name", "release name", ...).
    """
    if not isinstance(name, str):
        raise BadInput(f"The {what} must be text, not {type(name).__name__}.")
    problem = _problem(name)
    if problem is None:
        return name
    suggestion = safe_name(name)
    fix = (
        f" Try {suggestion!r}." if suggestion and _problem(suggestion) is None
        else " Use letters, digits, '-', '_' and '.'."
    )
    shown = name if len(name) <= 60 else name[:57] + "..."
    raise BadInput(f"The {what} {shown!r} {problem}.{fix}")


def _problem(name: str) -> str | None:
    """What is wrong with ``name``, as the end of a sentence; None if nothing."""
    if not name:
        return "is empty"
    for ch in name:
        if ch in _FORBIDDEN:
            return f"contains {ch!r}, which is {_FORBIDDEN[ch]}"
        category = unicodedata.category(ch)
        if category == "Cs":
            return (f"contains U+{ord(ch):04X}, which cannot be written as UTF-8 "
                    "(a file name with bytes in an unknown encoding?)")
        if category in _INVISIBLE_CATEGORIES:
            return f"contains the invisible or control character U+{ord(ch):04X}"
    if ".." in name:
        return "contains '..', which could point outside its folder"
    encoded = name.encode("utf-8")
    if name[0] in ". " or name[-1] in ". ":
        return "starts or ends with a dot or a space, which Windows drops or hides"
    if is_windows_device(name):
        return "is a device name that Windows reserves"
    if len(name) > MAX_CHARS:
        return f"is {len(name)} characters long; at most {MAX_CHARS} are allowed"
    if len(encoded) > MAX_BYTES:
        return f"takes {len(encoded)} bytes in UTF-8; at most {MAX_BYTES} are allowed"
    return None


def is_valid_name(name: str) -> bool:
    """True if :func:`validate_name` would accept ``name``."""
    return _problem(name) is None


def safe_name(text: str, fallback: str = "job") -> str:
    """A valid name made from ``text``: unsafe runs become '-', the length is capped.

    Returns ``fallback`` when nothing usable is left.
    """
    cleaned = "".join(
        ch for ch in text if unicodedata.category(ch) not in _INVISIBLE_CATEGORIES
    )
    cleaned = _UNSAFE_RUN.sub("-", cleaned)
    while ".." in cleaned:
        cleaned = cleaned.replace("..", ".")
    cleaned = cleaned[:MAX_CHARS].strip(". -")
    if is_windows_device(cleaned):
        cleaned = f"{cleaned}_"
    while len(cleaned.encode("utf-8")) > MAX_BYTES:
        cleaned = cleaned[:-1].rstrip(". -")
    return cleaned if cleaned and _problem(cleaned) is None else fallback


def is_windows_device(name: str) -> bool:
    """Whether Windows takes the file name ``name`` (``con``, ``NUL.txt``, ``com1 .png``)
    for a device, whatever its case and extension."""
    return name.split(".", 1)[0].rstrip(" ").upper() in WINDOWS_DEVICE_NAMES


def fold(name: str) -> str:
    """The key under which case-insensitive file systems (Windows, macOS) compare names."""
    if name.isascii():
        return name.lower()  # the same as the casefold() of NFC for ASCII, and faster
    return unicodedata.normalize("NFC", name).casefold()


def casefold_collisions(names: Iterable[str]) -> list[list[str]]:
    """Groups of names that would be one file on Windows or macOS.

    Names compare after Unicode normalisation and case folding, so ``Chair`` and ``chair``
    collide, and so do the composed and decomposed spellings of ``é``. Each group lists
    its names in input order (exact duplicates included); groups come in order of first
    appearance. An empty list means no collisions.
    """
    groups: dict[str, list[str]] = {}
    for name in names:
        groups.setdefault(fold(name), []).append(name)
    return [group for group in groups.values() if len(group) > 1]
