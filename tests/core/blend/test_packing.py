"""Packing real .blend files into a store, and noticing when their sources change."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import pytest

from farm_addon.core.blend import packing
from farm_addon.core.blend.deps import trace_dependencies
from farm_addon.core.blend.errors import BadBlendFile
from farm_addon.core.blend.info import read_blend_info
from farm_addon.core.blend.packing import (
    AlreadyPacked,
    MissingLibrary,
    missing_warning,
    pack_blend,
    remove_packed,
    source_fingerprint,
)
from farm_addon.core.blend.stamps import changed_since
from farm_addon.core.errors import BadInput, Cancelled
from farm_addon.core.fs.volume import OutsideVolume, Volume
from farm_addon.core.progress import Progress
from tests import blendgen


@pytest.fixture
def sources(tmp_path: Path) -> Path:
    path = tmp_path / "artist"
    path.mkdir()
    return path


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def store_listing(store: Path) -> list[str]:
    return sorted(p.relative_to(store).as_posix() for p in store.rglob("*"))


def test_pack_textured_layout(blends: dict[str, Path], volume: Volume, sources: Path) -> None:
    source = blendgen.copy_kind(blends["textured"], sources)
    store = volume.store_dir("spring")
    result = pack_blend(source, volume, store, "chair")

    assert result.stored_blend == store / "chair.blend"
    assert result.stored_blend_rel == "releases/spring/store/chair.blend"
    assert result.deps_dir == store / "chair.deps"
    assert result.source == str(source)
    assert result.source_sha256 == sha256(source)
    assert result.missing == []
    wood = source.parent / "textures" / "wood.png"
    metal = source.parent.parent / "shared" / "metal.png"
    stored = {Path(dep.path): dep for dep in result.dependencies}
    assert set(stored) == {wood, metal}
    assert stored[wood].stored == "releases/spring/store/chair.deps/textures/wood.png"
    assert stored[metal].stored is not None
    assert stored[metal].stored.startswith("releases/spring/store/chair.deps/_outside/")
    for path, dep in stored.items():
        assert dep.kind == "image"
        assert dep.size == path.stat().st_size
        assert dep.mtime_ns == path.stat().st_mtime_ns
        assert dep.sha256 == sha256(path) == sha256(volume.resolve(dep.stored or ""))
    assert not list(store.glob(".farm-tmp-*"))

    # The packed blend refers to its dependencies relatively, inside its own .deps folder.
    packed_deps = trace_dependencies(result.stored_blend)
    assert {dep.written_as.split("/")[2] for dep in packed_deps} == {"chair.deps"}
    assert all(dep.written_as.startswith("//chair.deps/") and dep.exists for dep in packed_deps)
    # Workers may run as another user: packed files are as readable as any new file.
    if os.name != "nt":
        modes = {p.stat().st_mode & 0o777 for p in store.rglob("*") if p.is_file()}
        assert modes == {0o666 & ~_umask()}
    # Render settings survive packing.
    assert read_blend_info(result.stored_blend).scene == read_blend_info(source).scene


@pytest.mark.blender
def test_packed_jobs_render_anywhere(blends: dict[str, Path], tmp_path: Path,
                                     sources: Path) -> None:
    """Pack textured, linked and compressed scenes, delete the sources, move the volume:
    Blender still finds every image and library, inside the store."""
    volume = Volume.init(tmp_path / "first-mount", name="farm")
    store = volume.store_dir("spring")
    for kind in ("textured", "linked", "textured_z"):
        pack_blend(blendgen.copy_kind(blends[kind], sources), volume, store, kind)
    shutil.rmtree(sources)
    moved = tmp_path / "second-mount"
    volume.root.rename(moved)
    store = Volume.open(moved).store_dir("spring")

    reports = blendgen.inspect_blends([store / f"{kind}.blend" for kind in
                                       ("textured", "linked", "textured_z")])
    textured = reports[str(store / "textured.blend")]
    assert {image["name"] for image in textured["images"]} == {"wood.png", "metal.png"}
    linked = reports[str(store / "linked.blend")]
    assert [lib["exists"] for lib in linked["libraries"]] == [True]
    assert linked["libraries"][0]["filepath"].startswith("//linked.deps/")
    cube = next(obj for obj in linked["objects"] if obj["name"] == "LibCube")
    assert cube["library"] and not cube["is_missing"]
    assert [image["name"] for image in linked["images"]] == ["lib_tex.png"]
    for report in reports.values():
        for image in report["images"]:
            assert image["exists"] and image["loaded"], image
            assert image["filepath"].startswith("//"), image
            assert Path(image["abspath"]).is_relative_to(store), image


def test_two_jobs_in_one_store_never_collide(blends: dict[str, Path], volume: Volume,
                                             tmp_path: Path) -> None:
    first = blendgen.copy_kind(blends["textured"], tmp_path / "a")
    second = blendgen.copy_kind(blends["textured"], tmp_path / "b")
    (second.parent / "textures" / "wood.png").write_bytes(
        (first.parent / "textures" / "wood.png").read_bytes() + b"different"
    )
    store = volume.store_dir("spring")
    one = pack_blend(first, volume, store, "one")
    two = pack_blend(second, volume, store, "two")
    again = pack_blend(first, volume, store, "one-again")
    woods = {result.stored_blend.stem: next(
        d for d in result.dependencies if d.path.endswith("wood.png")) for result in
        (one, two, again)}
    assert len({dep.stored for dep in woods.values()}) == 3
    assert woods["one"].sha256 != woods["two"].sha256
    assert sha256(volume.resolve(woods["two"].stored or "")) == woods["two"].sha256
    for name in ("one", "two", "one-again"):
        assert all(d.written_as.startswith(f"//{name}.deps/")
                   for d in trace_dependencies(store / f"{name}.blend"))


def test_missing_texture_is_a_warning(blends: dict[str, Path], volume: Volume,
                                      sources: Path) -> None:
    source = blendgen.copy_kind(blends["textured"], sources)
    wood = source.parent / "textures" / "wood.png"
    saved = wood.read_bytes()
    wood.unlink()
    result = pack_blend(source, volume, volume.store_dir("r"), "chair")
    assert [(m.path, m.kind) for m in result.missing] == [(str(wood), "image")]
    entry = next(d for d in result.dependencies if d.path == str(wood))
    assert (entry.stored, entry.sha256) == (None, None)
    warning = missing_warning(result)
    assert warning is not None
    assert "image" in warning and "wood.png" in warning
    assert changed_since(result.fingerprint) == []
    wood.write_bytes(saved)  # the texture appears: the packed job lacks it
    assert changed_since(result.fingerprint) == [str(wood)]


def test_missing_library_is_an_error(blends: dict[str, Path], volume: Volume,
                                     sources: Path) -> None:
    source = blendgen.copy_kind(blends["linked"], sources)
    library = source.parent.parent / "lib" / "props.blend"
    library.unlink()
    store = volume.store_dir("r")
    with pytest.raises(MissingLibrary) as caught:
        pack_blend(source, volume, store, "shot")
    assert str(library) in str(caught.value)
    assert caught.value.exit_code == 2
    assert store_listing(store) == []


@pytest.mark.parametrize("damage", ["text", "truncated", "missing"])
def test_bad_source_leaves_store_as_it_was(blends: dict[str, Path], volume: Volume,
                                           sources: Path, damage: str) -> None:
    store = volume.store_dir("r")
    pack_blend(blends["simple"], volume, store, "good")
    before = store_listing(store)
    source = sources / "bad.blend"
    if damage == "text":
        source.write_text("not a blend")
    elif damage == "truncated":
        source.write_bytes(blends["simple"].read_bytes()[:5000])
    with pytest.raises(BadBlendFile):
        pack_blend(source, volume, store, "bad")
    assert store_listing(store) == before


def test_already_packed_and_replace(blends: dict[str, Path], volume: Volume,
                                    sources: Path) -> None:
    store = volume.store_dir("r")
    source = blendgen.copy_kind(blends["textured"], sources)
    pack_blend(source, volume, store, "job")
    with pytest.raises(AlreadyPacked, match="already packed"):
        pack_blend(blends["simple"], volume, store, "job")
    result = pack_blend(blends["simple"], volume, store, "job", replace=True)
    assert result.deps_dir is None
    assert store_listing(store) == ["job.blend"]
    assert sha256(store / "job.blend") == sha256(blends["simple"])


def test_failed_replace_keeps_the_old_pack(blends: dict[str, Path], volume: Volume,
                                           sources: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = volume.store_dir("r")
    source = blendgen.copy_kind(blends["textured"], sources)
    pack_blend(source, volume, store, "job")
    before = {p: p.read_bytes() for p in store.rglob("*") if p.is_file()}
    real_replace = os.replace

    def failing_replace(src: object, dst: object) -> None:
        if Path(str(dst)) == store / "job.blend":
            raise OSError(28, "No space left on device")
        real_replace(src, dst)  # type: ignore[arg-type]

    monkeypatch.setattr(packing.os, "replace", failing_replace)
    with pytest.raises(OSError, match="No space"):
        pack_blend(blendgen.copy_kind(blends["linked"], sources), volume, store, "job",
                   replace=True)
    assert {p: p.read_bytes() for p in store.rglob("*") if p.is_file()} == before


def test_cancel_leaves_nothing(blends: dict[str, Path], volume: Volume, sources: Path) -> None:
    class CancelFirst(Progress):
        def on_update(self) -> None:
            if self.total:
                self.cancel()

    store = volume.store_dir("r")
    with pytest.raises(Cancelled):
        pack_blend(blendgen.copy_kind(blends["textured"], sources), volume, store, "job",
                   progress=CancelFirst())
    assert store_listing(store) == []


def test_progress_is_reported(blends: dict[str, Path], volume: Volume) -> None:
    seen: list[tuple[int, int]] = []
    messages: list[str] = []

    class Record(Progress):
        def on_update(self) -> None:
            seen.append((self.done, self.total))

        def on_message(self, text: str) -> None:
            messages.append(text)

    pack_blend(blends["textured"], volume, volume.store_dir("r"), "job", progress=Record())
    assert seen[-1] == (3, 3)  # the blend and two images
    assert messages == ["Packing textured.blend as job"]


def test_refuses_outside_store_and_bad_names(blends: dict[str, Path], volume: Volume,
                                             tmp_path: Path) -> None:
    with pytest.raises(OutsideVolume):
        pack_blend(blends["simple"], volume, tmp_path / "elsewhere", "job")
    with pytest.raises(BadInput, match="job name"):
        pack_blend(blends["simple"], volume, volume.store_dir("r"), "../job")
    assert not (tmp_path / "elsewhere").exists()


def test_remove_packed(blends: dict[str, Path], volume: Volume) -> None:
    store = volume.store_dir("r")
    pack_blend(blends["textured"], volume, store, "a")
    pack_blend(blends["simple"], volume, store, "b")
    remove_packed(volume, store, "a")
    assert store_listing(store) == ["b.blend"]
    remove_packed(volume, store, "a")  # nothing left to remove: fine


# --- fingerprints -------------------------------------------------------------------------


def test_fingerprint_detects_a_changed_texture(blends: dict[str, Path], volume: Volume,
                                               sources: Path) -> None:
    source = blendgen.copy_kind(blends["textured"], sources)
    result = pack_blend(source, volume, volume.store_dir("r"), "job")
    fingerprint = result.fingerprint
    assert changed_since(fingerprint) == []

    wood = source.parent / "textures" / "wood.png"
    stat = wood.stat()
    os.utime(wood, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))  # touched only
    assert changed_since(fingerprint) == []

    with wood.open("r+b") as handle:  # same size, new content
        handle.seek(-1, os.SEEK_END)
        handle.write(b"\x00" if wood.read_bytes()[-1:] != b"\x00" else b"\x01")
    assert changed_since(fingerprint) == [str(wood)]

    wood.unlink()
    assert changed_since(fingerprint) == [str(wood)]


def test_fingerprint_detects_a_changed_blend_and_library(blends: dict[str, Path],
                                                         volume: Volume, sources: Path) -> None:
    source = blendgen.copy_kind(blends["linked"], sources)
    fingerprint = pack_blend(source, volume, volume.store_dir("r"), "job").fingerprint
    library = source.parent.parent / "lib" / "props.blend"
    with library.open("ab") as handle:
        handle.write(b"\0")
    with source.open("ab") as handle:
        handle.write(b"\0")
    assert changed_since(fingerprint) == [str(source), str(library)]


def test_source_fingerprint_matches_the_pack(blends: dict[str, Path], volume: Volume) -> None:
    result = pack_blend(blends["linked"], volume, volume.store_dir("r"), "job")
    fresh = source_fingerprint(blends["linked"])
    assert fresh.blend == result.fingerprint.blend
    assert sorted(fresh.dependencies, key=lambda s: s.path) == sorted(
        result.fingerprint.dependencies, key=lambda s: s.path)
