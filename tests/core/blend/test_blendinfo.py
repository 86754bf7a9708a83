"""Reading real .blend files made by Blender, and refusing files that are not."""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
from pathlib import Path

import pytest

from farm_addon.core.blend.deps import trace_dependencies
from farm_addon.core.blend.errors import BadBlendFile
from farm_addon.core.blend.info import IMAGE_FORMATS, read_blend_info
from tests import blendgen


def test_simple(blends: dict[str, Path]) -> None:
    info = read_blend_info(blends["simple"])
    assert info.blender_version == "4.5"
    assert not info.compressed
    assert info.scene_names == ["Shot"]
    assert info.active_scene == "Shot"
    scene = info.scene
    assert (scene.name, scene.frame_start, scene.frame_end, scene.frame_step) == ("Shot", 1, 12, 1)
    assert scene.frames == "1-12"
    assert (scene.resolution_x, scene.resolution_y, scene.resolution_percentage) == (32, 24, 100)
    assert scene.fps == 24.0
    assert (scene.file_format, scene.flamenco_format) == ("PNG", "PNG")
    assert scene.file_extension == ".png"
    assert not scene.is_video
    assert scene.output_path == "//render/"


def test_compressed_file_reads_the_same(blends: dict[str, Path]) -> None:
    plain, packed = read_blend_info(blends["simple"]), read_blend_info(blends["simple_z"])
    assert packed.compressed
    assert packed.scene == plain.scene
    assert blends["simple_z"].read_bytes()[:4] == b"\x28\xb5\x2f\xfd"  # zstd


def test_stepped_exr_scene(blends: dict[str, Path]) -> None:
    scene = read_blend_info(blends["exr_step"]).scene
    assert (scene.frame_start, scene.frame_end, scene.frame_step) == (3, 17, 2)
    assert scene.frames == "3,5,7,9,11,13,15,17"
    assert (scene.file_format, scene.file_extension) == ("OPEN_EXR", ".exr")
    assert scene.fps == pytest.approx(29.97, abs=0.001)
    assert (scene.resolution_x, scene.resolution_y) == (64, 48)


def test_several_scenes(blends: dict[str, Path]) -> None:
    info = read_blend_info(blends["multiscene"])
    assert info.scene_names == ["Alt", "Main", "Preview"]  # Blender saves them sorted by name
    assert info.active_scene == "Alt"
    assert info.scene.name == "Alt"
    assert (info.scene.frames, info.scene.file_format) == ("5-8", "OPEN_EXR")
    main = read_blend_info(blends["multiscene"], scene="Main").scene
    assert (main.name, main.frames, main.file_format) == ("Main", "1-10", "PNG")
    preview = read_blend_info(blends["multiscene"], scene="Preview").scene
    assert (preview.file_format, preview.file_extension) == ("JPEG", ".jpg")


def test_unknown_scene_lists_the_scenes(blends: dict[str, Path]) -> None:
    with pytest.raises(BadBlendFile) as caught:
        read_blend_info(blends["multiscene"], scene="Nope")
    message = str(caught.value)
    assert "no scene named 'Nope'" in message
    for name in ("'Alt'", "'Main'", "'Preview'"):
        assert name in message
    assert caught.value.exit_code == 2


def test_image_format_table_is_complete() -> None:
    names = {fmt.name for fmt in IMAGE_FORMATS.values()}
    for name in ("BMP", "IRIS", "PNG", "JPEG", "JPEG2000", "TARGA", "TARGA_RAW", "CINEON",
                 "DPX", "OPEN_EXR_MULTILAYER", "OPEN_EXR", "HDR", "TIFF", "WEBP", "FFMPEG"):
        assert name in names
    assert [fmt.name for fmt in IMAGE_FORMATS.values() if fmt.is_video] == [
        "AVI_RAW", "AVI_JPEG", "FFMPEG"]


def test_reading_again_sees_a_rewritten_file(blends: dict[str, Path], tmp_path: Path) -> None:
    path = tmp_path / "shot.blend"
    shutil.copy(blends["simple"], path)
    assert read_blend_info(path).scene.file_format == "PNG"
    shutil.copy(blends["exr_step"], path)
    assert read_blend_info(path).scene.file_format == "OPEN_EXR"


# --- files that are not good .blends ------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(BadBlendFile, match="does not exist"):
        read_blend_info(tmp_path / "nope.blend")


def test_folder(tmp_path: Path) -> None:
    with pytest.raises(BadBlendFile, match="is not a file"):
        read_blend_info(tmp_path)


@pytest.mark.parametrize(
    "content",
    [b"", b"hello, I am a text file\n", b"\x89PNG\r\n\x1a\n" + bytes(100), b"BLEND",
     b"\x1f\x8b\x08\x00" + bytes(20), b"\x28\xb5\x2f\xfd" + bytes(20)],
    ids=["empty", "text", "png", "short", "bad-gzip", "bad-zstd"],
)
def test_not_a_blend(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "fake.blend"
    path.write_bytes(content)
    with pytest.raises(BadBlendFile) as caught:
        read_blend_info(path)
    message = str(caught.value)
    assert str(path) in message
    assert "not a .blend file" in message or "damaged" in message


@pytest.mark.parametrize("fraction", [0.02, 0.5, 0.9, 0.999])
def test_truncated(blends: dict[str, Path], tmp_path: Path, fraction: float) -> None:
    data = blends["simple"].read_bytes()
    path = tmp_path / "cut.blend"
    path.write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(BadBlendFile, match="damaged or incomplete"):
        read_blend_info(path)


def test_truncated_compressed(blends: dict[str, Path], tmp_path: Path) -> None:
    data = blends["simple_z"].read_bytes()
    path = tmp_path / "cut.blend"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(BadBlendFile):
        read_blend_info(path)


@pytest.mark.parametrize("seed", range(12))
def test_corrupted_bytes_never_crash(blends: dict[str, Path], tmp_path: Path, seed: int) -> None:
    """Random damage gives a good read or BadBlendFile, never another exception."""
    import random

    rng = random.Random(seed)
    data = bytearray(blends["multiscene"].read_bytes())
    for _ in range(rng.choice([1, 10, 200])):
        at = rng.randrange(12, len(data))
        data[at:at + 8] = rng.randbytes(8)
    path = tmp_path / f"corrupt{seed}.blend"
    path.write_bytes(bytes(data))
    with contextlib.suppress(BadBlendFile):
        read_blend_info(path)


def test_header_only(tmp_path: Path) -> None:
    path = tmp_path / "header.blend"
    path.write_bytes(b"BLENDER-v405")
    with pytest.raises(BadBlendFile, match="damaged"):
        read_blend_info(path)


@pytest.mark.skipif(sys.platform == "win32" or os.geteuid() == 0, reason="root reads anything")
def test_unreadable(blends: dict[str, Path], tmp_path: Path) -> None:
    path = tmp_path / "locked.blend"
    shutil.copy(blends["simple"], path)
    path.chmod(0)
    with pytest.raises(BadBlendFile, match="cannot be read"):
        read_blend_info(path)


def test_no_temporary_files_are_left(blends: dict[str, Path], tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    read_blend_info(blends["simple_z"])
    cut = tmp_path / "cut.blend"
    cut.write_bytes(blends["simple"].read_bytes()[:1000])
    with pytest.raises(BadBlendFile):
        read_blend_info(cut)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cut.blend"]


# --- dependencies -------------------------------------------------------------------------


def test_trace_textured(blends: dict[str, Path]) -> None:
    deps = {dep.path: dep for dep in trace_dependencies(blends["textured"])}
    root = blends["textured"].parent.parent
    wood, metal = root / "scene" / "textures" / "wood.png", root / "shared" / "metal.png"
    assert set(deps) == {wood, metal}
    assert deps[wood].written_as == "//textures/wood.png"
    assert deps[metal].written_as == "//../shared/metal.png"
    assert all(dep.kind == "image" and dep.exists and not dep.is_sequence for dep in deps.values())
    assert deps[wood].files() == [wood]


def test_trace_follows_libraries(blends: dict[str, Path]) -> None:
    deps = {dep.path: dep for dep in trace_dependencies(blends["linked"])}
    root = blends["linked"].parent.parent
    library = root / "lib" / "props.blend"
    texture = root / "lib" / "textures" / "lib_tex.png"
    assert set(deps) == {library, texture}
    assert deps[library].kind == "library"
    assert deps[texture].kind == "image"
    assert deps[texture].used_by == library


def test_trace_reports_missing(blends: dict[str, Path], tmp_path: Path) -> None:
    blend = blendgen.copy_kind(blends["textured"], tmp_path)
    (blend.parent / "textures" / "wood.png").unlink()
    deps = {dep.path.name: dep for dep in trace_dependencies(blend)}
    assert not deps["wood.png"].exists
    assert deps["wood.png"].files() == []
    assert deps["metal.png"].exists


def test_trace_without_dependencies(blends: dict[str, Path]) -> None:
    assert trace_dependencies(blends["simple"]) == []
    assert trace_dependencies(blends["simple_z"]) == []


def test_trace_bad_files(tmp_path: Path) -> None:
    text = tmp_path / "notes.blend"
    text.write_text("not a blend")
    with pytest.raises(BadBlendFile, match=r"not a \.blend file"):
        trace_dependencies(text)
    with pytest.raises(BadBlendFile, match="does not exist"):
        trace_dependencies(tmp_path / "missing.blend")
