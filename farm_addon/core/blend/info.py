"""What a .blend file renders: its scenes, frame ranges and output formats. No `bpy` module use.

:func:`read_blend_info` reads the scenes of a .blend (frame range and step, frame rate,
resolution, output format and path) and which scene is active, using farm's Blender Asset
Tracer (:mod:`.bat`), which reads block headers and only the bytes it is asked for: the cost
does not grow with the size of an uncompressed file. Files compressed by Blender (zstd, or
gzip before 3.0) are decompressed to a temporary file first, which does cost time in
proportion to size. It raises :class:`~.errors.BadBlendFile` for a missing, non-.blend,
damaged or truncated file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..frames import format_frames
from .bat import LazyBlendFile
from .errors import BadBlendFile, bad_blend, check_file


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
    path = check_file(path)
    try:
        with LazyBlendFile(path) as bfile:
            scenes, active = _read(bfile)
            version = bfile.header.version
            compressed = bool(bfile.is_compressed)
    except Exception as exc:  # not a blend, unreadable, or its bytes are wrong
        raise bad_blend(path, exc) from exc
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
