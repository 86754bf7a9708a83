"""What a .blend file renders and what it needs, read without Blender. No `bpy` module use.

:func:`read_blend_info` reads the scenes of a .blend (frame range and step, frame rate,
resolution, output format and path) and which scene is active, using Blender Asset Tracer
(BAT), which reads block headers and only the bytes it is asked for: the cost does not grow
with the size of an uncompressed file. Files compressed by Blender (zstd, or gzip before
3.0) are decompressed to a temporary file first, which does cost time in proportion to size.

The file's DNA (its description of Blender's structs, ~15 ms to decode in Python) is the
same for every file saved by one Blender version, so it is decoded once per version and
reused for the rest of the process.

:func:`trace_dependencies` lists the files a .blend needs to render (images, linked
libraries and what they need in turn, caches, sounds, fonts, sequences), each with its
absolute path and whether it exists.

Both raise :class:`BadBlendFile` (bad input, exit code 2) for a missing file, a file that
is not a .blend, or one that is damaged or truncated.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import struct
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from blender_asset_tracer import blendfile, trace
from blender_asset_tracer.blendfile import dna
from blender_asset_tracer.trace import file_sequence

from ..errors import BadInput
from ..frames import format_frames
from ..fs.volume import expand_user

# BAT reports missing files and truncated blends through `logging`; the core never prints.
logging.getLogger("blender_asset_tracer").addHandler(logging.NullHandler())

# BAT keeps a process-wide cache of open blend files (used by tracing and packing): one
# tracer or packer at a time, through `bat_session()`.
_BAT_LOCK = threading.Lock()


class BadBlendFile(BadInput):
    """A source is missing, is not a .blend file, or is damaged."""


@dataclass(frozen=True)
class ImageFormat:
    """One value of Blender's ``image_settings.file_format``."""

    name: str  # Blender's enum name, as ``scene.render.image_settings.file_format`` says
    flamenco: str  # what Flamenco passes to ``blender --render-format``
    extension: str  # ``scene.render.file_extension``
    is_video: bool = False


# DNA ``ImageFormatData.imtype`` -> format. Checked against Blender 4.5 with bpy.
IMAGE_FORMATS: dict[int, ImageFormat] = {
    0: ImageFormat("TARGA", "TGA", ".tga"),
    1: ImageFormat("IRIS", "IRIS", ".rgb"),
    4: ImageFormat("JPEG", "JPEG", ".jpg"),
    14: ImageFormat("TARGA_RAW", "RAWTGA", ".tga"),
    15: ImageFormat("AVI_RAW", "AVIRAW", ".avi", is_video=True),
    16: ImageFormat("AVI_JPEG", "AVIJPEG", ".avi", is_video=True),
    17: ImageFormat("PNG", "PNG", ".png"),
    20: ImageFormat("BMP", "BMP", ".bmp"),
    21: ImageFormat("HDR", "HDR", ".hdr"),
    22: ImageFormat("TIFF", "TIFF", ".tif"),
    23: ImageFormat("OPEN_EXR", "OPEN_EXR", ".exr"),
    24: ImageFormat("FFMPEG", "FFMPEG", "", is_video=True),
    26: ImageFormat("CINEON", "CINEON", ".cin"),
    27: ImageFormat("DPX", "DPX", ".dpx"),
    28: ImageFormat("OPEN_EXR_MULTILAYER", "OPEN_EXR_MULTILAYER", ".exr"),
    30: ImageFormat("JPEG2000", "JP2", ".jp2"),
    35: ImageFormat("WEBP", "WEBP", ".webp"),
}
_JP2_CODEC_J2K = 1  # ImageFormatData.jp2_codec: J2K streams are written as .j2c
_IMF_FLAG_PREVIEW_JPG = 1 << 1  # ImageFormatData.flag: "use_preview"


@dataclass(frozen=True)
class SceneInfo:
    """One scene's render settings, as Flamenco's job settings need them."""

    name: str
    frame_start: int
    frame_end: int
    frame_step: int
    fps: float  # render.fps / render.fps_base
    resolution_x: int
    resolution_y: int
    resolution_percentage: int
    file_format: str  # Blender's enum name: PNG, OPEN_EXR, JPEG, FFMPEG, ...
    flamenco_format: str  # Flamenco's `format` setting
    file_extension: str  # Flamenco's `image_file_extension`: .png, .exr, ...
    is_video: bool  # Flamenco's image job types refuse video formats
    has_previews: bool  # image_settings.use_preview (JPEG previews beside EXRs)
    output_path: str  # render.filepath as written in the file (often `//render/`)

    @property
    def frames(self) -> str:
        """The frames Blender renders for the scene, in Flamenco's range notation."""
        if self.frame_end < self.frame_start:
            return ""
        return format_frames(range(self.frame_start, self.frame_end + 1, max(1, self.frame_step)))


@dataclass(frozen=True)
class BlendInfo:
    """What a .blend file renders: all its scenes, the active one, and the chosen one."""

    path: Path
    blender_version: str  # version that saved the file, like "4.5"
    compressed: bool
    scenes: tuple[SceneInfo, ...]
    active_scene: str
    scene: SceneInfo  # the scene asked for, or the active one

    @property
    def scene_names(self) -> list[str]:
        return [scene.name for scene in self.scenes]


class _LazyDNA:
    """A file's DNA catalogue, with each struct's fields decoded only when first used.

    BAT decodes all ~1,000 structs and ~10,000 fields of a modern file up front (about 15 ms
    in Python); reading the render settings needs a handful of them.
    """

    def __init__(self, data: bytes, header: Any) -> None:
        endian = header.endian_str.decode()
        self.data = data
        self.pointer_size: int = header.pointer_size
        self.short2 = struct.Struct(endian + "HH")
        uint = struct.Struct(endian + "I")

        offset = 8  # "SDNA" "NAME"
        count = uint.unpack_from(data, offset)[0]
        self.raw_names, offset = _strings(data, offset + 4, count)
        self.names: dict[int, dna.Name] = {}
        offset = _pad4(offset) + 4  # "TYPE"
        count = uint.unpack_from(data, offset)[0]
        type_ids, offset = _strings(data, offset + 4, count)
        offset = _pad4(offset) + 4  # "TLEN"
        sizes = struct.unpack_from(f"{endian}{count}H", data, offset)
        self.types = [
            _LazyStruct(type_id, size) for type_id, size in zip(type_ids, sizes, strict=True)
        ]
        offset = _pad4(offset + 2 * count) + 4  # "STRC"
        count = uint.unpack_from(data, offset)[0]
        offset += 4
        self.structs: list[dna.Struct] = []
        self.index_from_id: dict[bytes, int] = {}
        for index in range(count):
            type_index, fields = self.short2.unpack_from(data, offset)
            lazy = self.types[type_index]
            lazy.pending = (self, offset + 4, fields)
            self.index_from_id[lazy.dna_type_id] = index
            self.structs.append(lazy)
            offset += 4 + 4 * fields

    def name(self, index: int) -> dna.Name:
        found = self.names.get(index)
        if found is None:
            found = self.names[index] = dna.Name(self.raw_names[index])
        return found


def _pad4(offset: int) -> int:
    return (offset + 3) & ~3


def _strings(data: bytes, offset: int, count: int) -> tuple[list[bytes], int]:
    """``count`` NUL-terminated strings from ``offset``, and the offset after them."""
    found = data[offset:].split(b"\0", count)[:count]
    if len(found) < count:
        raise ValueError("the DNA block is cut short")
    return found, offset + sum(len(item) for item in found) + count


class _LazyStruct(dna.Struct):
    """A BAT ``dna.Struct`` that decodes its fields on first use."""

    def __init__(self, dna_type_id: bytes, size: int) -> None:
        self.pending: tuple[_LazyDNA, int, int] | None = None
        self._decoded: list[dna.Field] = []
        self._decoded_by_name: dict[bytes, dna.Field] = {}
        super().__init__(dna_type_id, size)

    # BAT's Struct keeps its fields in these two attributes.
    @property
    def _fields(self) -> list[dna.Field]:
        if self.pending is not None:
            self._decode()
        return self._decoded

    @_fields.setter
    def _fields(self, value: list[dna.Field]) -> None:
        self._decoded = value

    @property
    def _fields_by_name(self) -> dict[bytes, dna.Field]:
        if self.pending is not None:
            self._decode()
        return self._decoded_by_name

    @_fields_by_name.setter
    def _fields_by_name(self, value: dict[bytes, dna.Field]) -> None:
        self._decoded_by_name = value

    def _decode(self) -> None:
        pending = self.pending
        if pending is None:
            return
        catalogue, offset, count = pending
        fields: list[dna.Field] = []
        by_name: dict[bytes, dna.Field] = {}
        field_offset = 0
        for index in range(count):
            type_index, name_index = catalogue.short2.unpack_from(
                catalogue.data, offset + 4 * index
            )
            dna_type = catalogue.types[type_index]
            name = catalogue.name(name_index)
            if name.is_pointer or name.is_method_pointer:
                size = catalogue.pointer_size * name.array_size
            else:
                size = dna_type.size * name.array_size
            field = dna.Field(dna_type, name, size, field_offset)
            fields.append(field)
            by_name[name.name_only] = field
            field_offset += size
        self._decoded, self._decoded_by_name = fields, by_name
        self.pending = None


class _BlendFile(blendfile.BlendFile):
    """A BAT BlendFile that decodes DNA lazily, reuses it for files with the same DNA (all
    files saved by one Blender version), and closes its file when opening fails."""

    _dna_cache: dict[bytes, _LazyDNA] = {}

    def __init__(self, path: Path, mode: str = "rb") -> None:
        try:
            super().__init__(path, mode)
        except BaseException:
            fileobj = getattr(self, "fileobj", None)
            if fileobj is not None:
                fileobj.close()
            raise

    def decode_structs(self, block: Any) -> None:
        data = self.fileobj.read(block.size)
        header = self.header
        digest = hashlib.sha1(data, usedforsecurity=False).digest()
        key = bytes([header.pointer_size]) + header.endian_str + digest
        catalogue = self._dna_cache.get(key)
        if catalogue is None:
            catalogue = _LazyDNA(data, header)
            if len(self._dna_cache) >= 8:
                self._dna_cache.clear()
            self._dna_cache[key] = catalogue
        self.structs.extend(catalogue.structs)
        self.sdna_index_from_id.update(catalogue.index_from_id)


@contextlib.contextmanager
def bat_session() -> Iterator[None]:
    """Use BAT's tracer or packer: one at a time in this process, with lazily decoded DNA.

    BAT opens files through ``blendfile.open_cached``, which instantiates the module's
    ``BlendFile``; for the session that name refers to farm's faster subclass. Afterwards
    BAT's cache of open files is emptied, so a file that changes on disk is read again.
    """
    with _BAT_LOCK:
        original = blendfile.BlendFile
        setattr(blendfile, "BlendFile", _BlendFile)  # noqa: B010 - a type mypy won't let us swap
        try:
            yield
        finally:
            setattr(blendfile, "BlendFile", original)  # noqa: B010
            blendfile.close_all_cached()


def _check_file(path: Path) -> Path:
    path = expand_user(path)
    if not path.exists():
        raise BadBlendFile(f"{path} does not exist. Check the path and try again.")
    if not path.is_file():
        raise BadBlendFile(f"{path} is not a file; give the path of a .blend file.")
    return path


def _as_str(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def _scene_info(block: Any) -> SceneInfo:
    def render(field: bytes, default: Any = 0) -> Any:
        return block.get((b"r", field), default=default)

    imtype = block.get((b"r", b"im_format", b"imtype"), default=17)
    fmt = IMAGE_FORMATS.get(imtype) or ImageFormat(f"IMTYPE_{imtype}", f"IMTYPE_{imtype}", "")
    extension = fmt.extension
    jp2_codec = block.get((b"r", b"im_format", b"jp2_codec"), default=0)
    if fmt.name == "JPEG2000" and jp2_codec == _JP2_CODEC_J2K:
        extension = ".j2c"
    flag = block.get((b"r", b"im_format", b"flag"), default=0)
    fps_base = render(b"frs_sec_base", 1.0) or 1.0
    return SceneInfo(
        name=_as_str(block.id_name[2:]),
        frame_start=int(render(b"sfra", 1)),
        frame_end=int(render(b"efra", 250)),
        frame_step=int(render(b"frame_step", 1)),
        fps=round(float(render(b"frs_sec", 24)) / float(fps_base), 6),
        resolution_x=int(render(b"xsch", 1920)),
        resolution_y=int(render(b"ysch", 1080)),
        resolution_percentage=int(render(b"size", 100)),
        file_format=fmt.name,
        flamenco_format=fmt.flamenco,
        file_extension=extension,
        is_video=fmt.is_video,
        has_previews=bool(flag & _IMF_FLAG_PREVIEW_JPG),
        output_path=_as_str(render(b"pic", b"")),
    )


def _read(bfile: Any) -> tuple[tuple[SceneInfo, ...], str]:
    blocks = bfile.find_blocks_from_code(b"SC")
    scenes = tuple(_scene_info(block) for block in blocks)
    active = ""
    bfile.strict_pointer_mode = False  # a dangling pointer reads as None
    for glob in bfile.find_blocks_from_code(b"GLOB"):
        current = glob.get_pointer(b"curscene", default=None)
        if current is not None and current.code == b"SC":
            active = _as_str(current.id_name[2:])
    if scenes and active not in {scene.name for scene in scenes}:
        active = scenes[0].name
    return scenes, active


def read_blend_info(path: Path, scene: str | None = None) -> BlendInfo:
    """Read the scenes of a .blend and pick ``scene`` (or the active scene).

    Raises BadBlendFile for a missing, non-.blend, damaged or scene-less file, and for a
    ``scene`` the file does not have (the message lists the scenes it has).
    """
    path = _check_file(path)
    try:
        with _BlendFile(path) as bfile:
            scenes, active = _read(bfile)
            version = bfile.header.version
            compressed = bool(bfile.is_compressed)
    except blendfile.exceptions.BlendFileError as exc:
        raise _not_a_blend(path, exc) from exc
    except OSError as exc:
        raise BadBlendFile(f"{path} cannot be read: {exc.strerror or exc}.") from exc
    except Exception as exc:  # struct errors, bad pointers, ...: the file's bytes are wrong
        raise _damaged(path, exc) from exc
    if not scenes:
        raise BadBlendFile(f"{path} has no scenes, so there is nothing to render.")
    names = [info.name for info in scenes]
    wanted = active if scene is None else scene
    if wanted not in names:
        raise BadBlendFile(
            f"{path} has no scene named {scene!r}; its scenes are "
            + ", ".join(repr(name) for name in names) + "."
        )
    return BlendInfo(
        path=path,
        blender_version=f"{version // 100}.{version % 100}",
        compressed=compressed,
        scenes=scenes,
        active_scene=active,
        scene=scenes[names.index(wanted)],
    )


def _not_a_blend(path: Path, exc: Exception) -> BadBlendFile:
    if isinstance(exc, blendfile.exceptions.NoDNA1Block):
        return _damaged(path, exc)
    try:
        with path.open("rb") as handle:
            start = handle.read(12)
    except OSError:
        start = b""
    if start.startswith(b"BLENDER"):
        return _damaged(path, exc)
    return BadBlendFile(
        f"{path} is not a .blend file (it does not start like one). "
        "Give the path of a file saved by Blender."
    )


def _damaged(path: Path, exc: Exception) -> BadBlendFile:
    return BadBlendFile(
        f"{path} is damaged or incomplete ({type(exc).__name__}: {exc}); it may have been "
        "cut short while copying or saving. Open it in Blender, save it again, and retry."
    )


# --- dependencies ------------------------------------------------------------------------

_KINDS = {
    b"IM": "image", b"LI": "library", b"SO": "sound", b"VF": "font", b"MC": "movie clip",
    b"CF": "cache", b"VO": "volume", b"ME": "mesh data", b"OB": "cache", b"LA": "light",
}


@dataclass(frozen=True)
class Dependency:
    """A file (or a sequence of files) that a .blend needs to render."""

    path: Path  # absolute; for a sequence the first file, a glob pattern or a folder
    kind: str  # image, library, sound, font, movie clip, cache, volume, sequencer strip, ...
    exists: bool  # for a sequence: at least one of its files exists
    is_sequence: bool
    written_as: str  # the path as the blend stores it, like //textures/wood.png
    used_by: Path  # the .blend that refers to it (the source or one of its libraries)

    def files(self) -> list[Path]:
        """The existing files of this dependency (all files of a sequence)."""
        if not self.is_sequence:
            return [self.path] if self.path.is_file() else []
        try:
            return [path for path in file_sequence.expand_sequence(self.path) if path.is_file()]
        except file_sequence.DoesNotExist:
            return []


def usage_kind(usage: Any) -> str:
    """The kind of dependency a BAT ``BlockUsage`` is, for messages and records."""
    code = usage.block.code
    if code in _KINDS:
        return _KINDS[code]
    return "sequencer strip" if usage.block.dna_type_name.startswith("Strip") else "file"


def usage_exists(usage: Any) -> bool:
    path = Path(usage.abspath)
    if not usage.is_sequence:
        return path.exists()
    try:
        return any(True for _ in file_sequence.expand_sequence(path))
    except file_sequence.DoesNotExist:
        return False


def iter_usages(path: Path) -> Iterator[Any]:
    """BAT's block usages of ``path`` and its libraries; iterate inside :func:`bat_session`."""
    try:
        yield from trace.deps(path)
    except blendfile.exceptions.BlendFileError as exc:
        raise _not_a_blend(path, exc) from exc
    except OSError as exc:
        raise BadBlendFile(f"{path} cannot be read: {exc.strerror or exc}.") from exc
    except BadInput:
        raise
    except Exception as exc:
        raise _damaged(path, exc) from exc


def trace_dependencies(path: Path) -> list[Dependency]:
    """Every file ``path`` needs, following linked libraries; one entry per distinct path."""
    path = _check_file(path)
    found: dict[Path, Dependency] = {}
    with bat_session():
        for usage in iter_usages(path):
            abspath = Path(usage.abspath)
            if abspath in found:
                continue
            found[abspath] = Dependency(
                path=abspath,
                kind=usage_kind(usage),
                exists=usage_exists(usage),
                is_sequence=bool(usage.is_sequence),
                written_as=str(usage.asset_path),
                used_by=Path(usage.block.bfile.filepath),
            )
    return list(found.values())
