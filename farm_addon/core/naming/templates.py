"""Names of delivered files: templates, per-frame data and renamer files. No `bpy` module use.

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

:func:`check_targets` checks a whole mapping before anything moves: unsafe paths (absolute,
``..``, NUL, characters Windows reserves, empty components, device names), and collisions,
including names that differ only in case or Unicode normalisation, since deliveries end up on
Windows and macOS.
"""

from __future__ import annotations

import importlib.util
import json
import re
import string
import sys
import traceback
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, NamedTuple, Protocol

from ..errors import BadInput

#: The name a frame gets when neither the plan nor the command line give a template.
DEFAULT_TEMPLATE = "{job}_{frame:06d}{ext}"

BUILTIN_FIELDS: tuple[str, ...] = ("release", "job", "frame", "ext", "revision")

#: Names the harvest keeps for itself at the top of ``dist/<release>/``.
RESERVED_TOP = frozenset({"manifest.json", ".superseded"})
RESERVED_PREFIX = ".farm-"

MAX_WIDTH = 255
MAX_PRECISION = 64
MAX_COMPONENT_BYTES = 255
MAX_PATH_CHARS = 1024
_MAX_LISTED = 12

_WINDOWS_RESERVED_CHARS = frozenset('<>:"|?*\\')
_WINDOWS_DEVICES = frozenset(
    {"con", "prn", "aux", "nul"}
    | {f"com{i}" for i in range(1, 10)}
    | {f"lpt{i}" for i in range(1, 10)}
)
# The format spec mini-language, without nested fields.
_SPEC_RE = re.compile(
    r"(?:(?P<fill>.)?(?P<align>[<>=^]))?(?P<sign>[-+ ])?z?#?0?(?P<width>\d+)?[_,]?"
    r"(?:\.(?P<precision>\d+))?(?P<type>[bcdeEfFgGnosxX%])?",
    re.DOTALL,
)


@dataclass(slots=True)
class FrameInfo:
    """Everything a name may be built from, for one frame of one job."""

    release: str
    job: str
    frame: int
    ext: str
    revision: int = 1
    meta: Mapping[str, str] = field(default_factory=dict)
    #: The frame's entry in the per-frame data file: a dict, a plain value, or None (no file).
    data: Any = None
    has_data: bool = False

    @property
    def label(self) -> str:
        return f"job {self.job!r} frame {self.frame}"


class FrameLabel(NamedTuple):
    """How messages name a frame, formatted only when a message needs it."""

    job: str
    frame: int

    def __str__(self) -> str:
        return f"job {self.job!r} frame {self.frame}"


#: Names the frames of one job: ``(frame, per-frame data) -> delivered name``.
BoundNamer = Callable[[int, Any], str]


class Namer(Protocol):
    """A template or a renamer: one delivered name per frame."""

    source: str
    #: True if names may depend on the per-frame data (a frame the data lacks is an error).
    uses_data: bool

    def render(self, info: FrameInfo) -> str: ...

    def bind(self, info: FrameInfo) -> BoundNamer:
        """A fast namer for the frames of ``info``'s job (``frame`` and ``data`` vary)."""
        ...


def _listing(items: Sequence[str], limit: int = _MAX_LISTED) -> str:
    shown = list(items[:limit])
    more = len(items) - len(shown)
    return "; ".join(shown) + (f"; and {more} more" if more > 0 else "")


def compress_frames(frames: Iterable[int]) -> str:
    """1,2,3,5 -> '1-3,5'."""
    ordered = sorted(set(frames))
    parts: list[str] = []
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        parts.append(str(ordered[i]) if i == j else f"{ordered[i]}-{ordered[j]}")
        i = j + 1
    return ",".join(parts)


# --------------------------------------------------------------------------------------------
# Per-frame data


def _line_of(text: str, needle: str) -> int:
    pos = text.find(needle)
    return text.count("\n", 0, pos) + 1 if pos >= 0 else 1


def parse_frame_data(text: str, source: str = "the per-frame data") -> dict[int, Any]:
    """Parse a per-frame data document: a JSON object whose keys are frame numbers."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadInput(
            f"{source} line {exc.lineno} column {exc.colno}: not valid JSON ({exc.msg}). "
            'It must be an object mapping frame numbers to values, like {"7": {"angle": 90}}.'
        ) from None
    except RecursionError:
        raise BadInput(f"{source}: nested too deeply to read.") from None
    if not isinstance(doc, dict):
        raise BadInput(
            f"{source} line 1: expected a JSON object mapping frame numbers to values, "
            f"found a {type(doc).__name__}."
        )
    out: dict[int, Any] = {}
    for key, value in doc.items():
        k = key.strip()
        if not re.fullmatch(r"-?\d{1,9}", k):
            raise BadInput(
                f"{source} line {_line_of(text, json.dumps(key))}: key {key!r} is not a frame "
                "number; every key must be a whole number such as \"7\"."
            )
        frame = int(k)
        if frame in out:
            raise BadInput(
                f"{source} line {_line_of(text, json.dumps(key))}: frame {frame} is given twice."
            )
        if isinstance(value, dict):
            bad = [n for n in value if not _is_data_key(n)]
            if bad:
                raise BadInput(
                    f"{source} line {_line_of(text, json.dumps(bad[0]))}: field name {bad[0]!r} "
                    f"for frame {frame} cannot be used in a template; use letters, digits, "
                    "'_' and '-'."
                )
        out[frame] = value
    return out


def _is_data_key(name: str) -> bool:
    return bool(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_\-]*", name))


def load_frame_data(path: Path) -> dict[int, Any]:
    """Read a per-frame data file (see :func:`parse_frame_data`)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BadInput(f"Per-frame data file {path} does not exist.") from None
    except UnicodeDecodeError as exc:
        raise BadInput(f"Per-frame data file {path} is not UTF-8 text ({exc.reason}).") from None
    except OSError as exc:
        raise BadInput(f"Cannot read the per-frame data file {path}: {exc.strerror}.") from None
    return parse_frame_data(text, source=str(path))


def missing_frames(data: Mapping[int, Any], frames: Iterable[int]) -> list[int]:
    return [f for f in frames if f not in data]


# --------------------------------------------------------------------------------------------
# Templates


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


# --------------------------------------------------------------------------------------------
# Renamer files


class Renamer:
    """A Python file with ``rename(release, job, frame, ext, meta, data) -> str``."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.source = f"renamer {self.path}"
        self.uses_data = True
        self._fn = self._load()

    def __repr__(self) -> str:
        return f"Renamer({str(self.path)!r})"

    def _where(self, exc: BaseException) -> str:
        line = None
        target = str(self.path.resolve())
        for fr in traceback.extract_tb(exc.__traceback__):
            try:
                same = str(Path(fr.filename).resolve()) == target
            except (OSError, ValueError):
                same = False
            if same:
                line = fr.lineno
        return f"{self.path} line {line}" if line else str(self.path)

    def _load(self) -> Callable[..., Any]:
        if not self.path.is_file():
            raise BadInput(f"Renamer file {self.path} does not exist.")
        name = f"_farm_renamer_{abs(hash(str(self.path.resolve())))}"
        spec = importlib.util.spec_from_file_location(name, self.path)
        if spec is None or spec.loader is None:
            raise BadInput(f"Renamer file {self.path} cannot be loaded as Python (use a .py file).")
        module: ModuleType = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses and typing look their module up here
        try:
            spec.loader.exec_module(module)
        except SyntaxError as exc:
            raise BadInput(
                f"Renamer file {self.path} line {exc.lineno}: syntax error: {exc.msg}."
            ) from None
        except Exception as exc:
            raise BadInput(
                f"Renamer file {self._where(exc)}: loading it raised "
                f"{type(exc).__name__}: {exc}."
            ) from None
        finally:
            sys.modules.pop(name, None)
        fn = getattr(module, "rename", None)
        if not callable(fn):
            raise BadInput(
                f"Renamer file {self.path} has no function rename(release, job, frame, ext, "
                "meta, data) returning the delivered name."
            )
        return fn  # type: ignore[no-any-return]

    def bind(self, info: FrameInfo) -> BoundNamer:
        return _bind_renamer(self, info)

    def render(self, info: FrameInfo) -> str:
        try:
            result = self._fn(
                release=info.release, job=info.job, frame=info.frame, ext=info.ext,
                meta=dict(info.meta), data=info.data,
            )
        except Exception as exc:
            raise BadInput(
                f"Renamer file {self._where(exc)}: rename() raised {type(exc).__name__}: {exc} "
                f"for {info.label}."
            ) from None
        if not isinstance(result, str):
            raise BadInput(
                f"Renamer file {self.path}: rename() returned a {type(result).__name__} for "
                f"{info.label}; it must return the delivered name as a str."
            )
        problem = path_problem(result)
        if problem:
            raise BadInput(
                f"Renamer file {self.path}: rename() returned an unsafe name for {info.label}: "
                f"{result!r} ({problem})."
            )
        return result


def _bind_renamer(renamer: Renamer, info: FrameInfo) -> BoundNamer:
    def name(frame: int, data: Any) -> str:
        return renamer.render(FrameInfo(info.release, info.job, frame, info.ext,
                                        info.revision, info.meta, data, info.has_data))

    return name


def make_namer(template: str | None = None, renamer: Path | str | None = None) -> Namer:
    """The namer for a harvest: a renamer file, else the template, else the default."""
    if template is not None and renamer is not None:
        raise BadInput("Give a naming template or a renamer file, not both.")
    if renamer is not None:
        return Renamer(renamer)
    return Template(template if template is not None else DEFAULT_TEMPLATE)


# --------------------------------------------------------------------------------------------
# Checking names


_PLAIN = re.compile(r"[A-Za-z0-9_\-]+(?:[.+ ][A-Za-z0-9_\-]+)*"
                    r"(?:/[A-Za-z0-9_\-]+(?:[.+ ][A-Za-z0-9_\-]+)*)*")
_DEVICE_RE = re.compile(r"(?:^|/)(?:con|prn|aux|nul|com[1-9]|lpt[1-9])(?:[. /]|$)", re.I)


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
        if part.split(".")[0].rstrip(" ").lower() in _WINDOWS_DEVICES:
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


def fold(name: str) -> str:
    """The key under which two names are the same file on Windows or macOS."""
    if name.isascii():
        return name.lower()  # the same as casefold() for ASCII, and faster
    return unicodedata.normalize("NFC", name).casefold()


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
