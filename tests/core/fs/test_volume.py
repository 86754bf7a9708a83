"""The volume: making and opening one, its layout, and refusing paths that leave it."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import pytest

from farm_addon.core.errors import BadInput, FarmError
from farm_addon.core.fs.volume import (
    LAYOUT,
    MARKER,
    NotAFarmVolume,
    OutsideVolume,
    Volume,
)


@pytest.fixture
def volume(tmp_path: Path) -> Volume:
    return Volume.init(tmp_path / "farm", name="studio")


def test_init_makes_layout_and_marker(tmp_path: Path) -> None:
    volume = Volume.init(tmp_path / "new" / "farm")
    assert volume.name == "farm"
    for entry in LAYOUT:
        assert (volume.root / entry).is_dir()
    marker = tomllib.loads((volume.root / MARKER).read_text())
    assert marker["name"] == "farm"
    assert marker["id"] == volume.id
    assert marker["schema_version"] == 1
    assert marker["created"]
    assert not list(volume.root.glob(".farm-tmp-*"))


def test_init_adopts_flamenco_shared_storage(tmp_path: Path) -> None:
    root = tmp_path / "shared"
    (root / "jobs" / "abc").mkdir(parents=True)
    (root / "file-store").mkdir()
    (root / "lost+found").mkdir()
    (root / ".farm-tmp-abc-.farm-volume.toml").write_text("")  # an earlier init was killed
    volume = Volume.init(root, name="shared")
    assert (root / "jobs" / "abc").is_dir()
    assert volume.releases_dir.is_dir()


def test_init_refuses_a_folder_with_other_files(tmp_path: Path) -> None:
    root = tmp_path / "home"
    root.mkdir()
    (root / "thesis.docx").write_text("precious")
    (root / "jobs").mkdir()
    with pytest.raises(BadInput, match=r"is not empty \(it holds thesis.docx\)"):
        Volume.init(root)
    assert sorted(os.listdir(root)) == ["jobs", "thesis.docx"]


def test_init_refuses_a_file(tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_text("x")
    with pytest.raises(BadInput, match="is a file"):
        Volume.init(target)


def test_init_refuses_a_bad_name(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="volume name"):
        Volume.init(tmp_path / "v", name="a/b")
    assert not (tmp_path / "v").exists()


def test_init_again_is_harmless(volume: Volume) -> None:
    (volume.root / "quick").rmdir()
    again = Volume.init(volume.root)
    assert again.id == volume.id
    assert again.quick_dir.is_dir()
    with pytest.raises(BadInput, match="already the farm volume 'studio'"):
        Volume.init(volume.root, name="other")


def test_open(volume: Volume) -> None:
    opened = Volume.open(volume.root)
    assert (opened.name, opened.id, opened.root) == (volume.name, volume.id, volume.root)


@pytest.mark.parametrize("kind", ["empty", "missing", "file"])
def test_open_refuses_what_is_not_a_volume(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "x"
    if kind == "empty":
        path.mkdir()
    elif kind == "file":
        path.write_text("")
    with pytest.raises(NotAFarmVolume) as caught:
        Volume.open(path)
    message = str(caught.value)
    assert f"Run `farm init {path}` to make it one, or pass --volume with the right path." \
        in message
    assert caught.value.exit_code == 2
    if kind == "empty":
        assert f"is not a farm volume (no {MARKER})" in message


def test_damaged_marker(volume: Volume) -> None:
    volume.marker_path.write_text("name = [unclosed")
    with pytest.raises(FarmError, match="is damaged"):
        Volume.open(volume.root)


def test_newer_marker_is_refused(volume: Volume) -> None:
    text = volume.marker_path.read_text().replace("schema_version = 1", "schema_version = 9")
    volume.marker_path.write_text(text)
    with pytest.raises(FarmError, match="newer farm"):
        Volume.open(volume.root)


def test_marker_with_unusual_name_round_trips(tmp_path: Path) -> None:
    name = 'Studio "A" étagère 🪑'.replace('"', "'")
    volume = Volume.init(tmp_path / "v", name=name)
    assert Volume.open(volume.root).name == name


def test_layout_paths(volume: Volume) -> None:
    root = volume.root
    assert volume.store_dir("spring") == root / "releases/spring/store"
    assert volume.stored_blend("spring", "chair") == root / "releases/spring/store/chair.blend"
    assert volume.job_out_dir("spring", "chair") == root / "releases/spring/out/chair"
    assert volume.record_path("spring") == root / "releases/spring/release.json"
    assert volume.dist_dir("spring") == root / "dist/spring"
    assert volume.archive_path("spring") == root / "archives/spring.tar.gz"
    assert volume.quick_out_dir("test") == root / "quick/out/test"
    with pytest.raises(BadInput):
        volume.store_dir("../escape")
    with pytest.raises(BadInput):
        volume.stored_blend("spring", "a/b")


def test_list_releases(volume: Volume) -> None:
    assert volume.list_releases() == []
    for name in ("b", "a", ".hidden"):
        (volume.releases_dir / name).mkdir()
        (volume.releases_dir / name / "release.json").write_text("{}")
    (volume.releases_dir / "half-made").mkdir()  # no record: not a release
    assert volume.list_releases() == ["a", "b"]


@pytest.mark.parametrize(
    "relpath",
    ["..", "../outside", "a/../../outside", "/etc/passwd", "C:\\Windows", "c:/x",
     "\\\\server\\share", "..\\outside", "~/x"],
)
def test_resolve_refuses_escapes(volume: Volume, relpath: str) -> None:
    with pytest.raises(OutsideVolume):
        volume.resolve(relpath)


def test_resolve_inside(volume: Volume) -> None:
    assert volume.resolve("releases/a/store/x.blend") == volume.root / "releases/a/store/x.blend"
    assert volume.resolve("releases\\a\\out") == volume.root / "releases/a/out"
    assert volume.resolve("dist/./a/../b") == volume.root / "dist/a/../b"  # stays inside


def test_symlink_pointing_out_is_refused(volume: Volume, tmp_path: Path) -> None:
    outside = tmp_path / "precious"
    outside.mkdir()
    (outside / "file.txt").write_text("keep me")
    (volume.root / "dist" / "link").symlink_to(outside)
    with pytest.raises(OutsideVolume, match="leads outside the farm volume"):
        volume.resolve("dist/link/file.txt")
    with pytest.raises(OutsideVolume):
        volume.check_inside(volume.root / "dist" / "link")
    with pytest.raises(OutsideVolume):
        volume.relpath(volume.root / "dist" / "link" / "file.txt")
    assert not volume.contains(volume.root / "dist" / "link")


def test_symlink_inside_is_fine(volume: Volume) -> None:
    (volume.root / "dist" / "to-quick").symlink_to(volume.quick_dir)
    assert volume.check_inside(volume.root / "dist" / "to-quick")


def test_check_inside(volume: Volume, tmp_path: Path) -> None:
    assert volume.check_inside(volume.quick_dir) == volume.quick_dir
    assert volume.check_inside(volume.root / "releases" / "missing" / "x")  # need not exist
    for bad in (tmp_path, tmp_path / "other", volume.root / ".." / "farm2", "/"):
        with pytest.raises(OutsideVolume):
            volume.check_inside(bad)
    with pytest.raises(OutsideVolume, match="volume root"):
        volume.check_inside(volume.root)
    assert volume.check_inside(volume.root, allow_root=True) == volume.root


def test_relpath(volume: Volume, tmp_path: Path) -> None:
    assert volume.relpath(volume.root / "releases" / "a" / "out") == "releases/a/out"
    with pytest.raises(OutsideVolume):
        volume.relpath(tmp_path / "elsewhere")


def test_relpath_through_another_mount(volume: Volume, tmp_path: Path) -> None:
    mount = tmp_path / "mnt"
    mount.symlink_to(volume.root)
    assert volume.relpath(mount / "dist" / "x") == "dist/x"
    via_mount = Volume.open(mount)
    assert via_mount.root == mount
    assert via_mount.resolve("dist/x") == mount / "dist" / "x"  # the path as this machine sees it
