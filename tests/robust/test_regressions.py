"""Small, direct tests of the fixes the harness led to (each one also covered, end to end, by
the crash, fault, bad-input or concurrency tables)."""

from __future__ import annotations

import errno
import hashlib
import io
import os
import socket
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

from farm_addon.core import cli
from farm_addon.core.archive import prune as archive_mod
from farm_addon.core.archive.run import ARCHIVED_MARKER, ArchiveError, archive_release
from farm_addon.core.errors import BadInput, DiskError, reports_disk_errors
from farm_addon.core.fs.atomic import TEMP_PREFIX, owner_tag, sweep_temps
from farm_addon.core.fs.journal import Journal
from farm_addon.core.fs.mover import Move
from farm_addon.core.fs.volume import expand_user
from farm_addon.core.release.sources import BadSource, expand_sources
from tests.core.archive.test_archive import make_release


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- transfer: a journal whose later move refills an earlier move's source -----------------


@pytest.mark.parametrize("same_content", [False, True])
def test_resume_when_a_later_move_refilled_the_source(tmp_path: Path, same_content: bool) -> None:
    """A harvest moves an old delivery aside, then delivers the new frame under its name.
    Killed after both, the rerun must see both moves done: not stop on "other content", and
    never remove the new delivery as a duplicate when old and new frames are equal."""
    (tmp_path / "out").mkdir()
    (tmp_path / "dist" / ".superseded").mkdir(parents=True)
    old, new = b"old frame", (b"old frame" if same_content else b"new frame")
    (tmp_path / "dist" / ".superseded" / "f.png").write_bytes(old)  # moved aside
    (tmp_path / "dist" / "f.png").write_bytes(new)  # the new frame, delivered
    moves = [Move("dist/f.png", "dist/.superseded/f.png"),
             Move("out/f.png", "dist/f.png", hashlib.sha256(new).hexdigest(), len(new))]
    journal = Journal.create(tmp_path / "journal.json", tmp_path, moves)
    stats = journal.run()
    assert stats.already == 2 and stats.cleaned == 0
    assert (tmp_path / "dist" / "f.png").read_bytes() == new
    assert (tmp_path / "dist" / ".superseded" / "f.png").read_bytes() == old


def test_resume_before_the_later_move_still_cleans_a_copy(tmp_path: Path) -> None:
    """The first move was a cross-file-system copy killed before removing its source; the
    later move has not run: the source is a leftover copy and goes."""
    (tmp_path / "out").mkdir()
    (tmp_path / "dist" / ".superseded").mkdir(parents=True)
    (tmp_path / "dist" / "f.png").write_bytes(b"old")
    (tmp_path / "dist" / ".superseded" / "f.png").write_bytes(b"old")
    (tmp_path / "out" / "f.png").write_bytes(b"new")
    moves = [Move("dist/f.png", "dist/.superseded/f.png"),
             Move("out/f.png", "dist/f.png", hashlib.sha256(b"new").hexdigest(), 3)]
    Journal.create(tmp_path / "journal.json", tmp_path, moves).run()
    assert (tmp_path / "dist" / "f.png").read_bytes() == b"new"
    assert (tmp_path / "dist" / ".superseded" / "f.png").read_bytes() == b"old"
    assert not (tmp_path / "out" / "f.png").exists()


# --- archive: an interrupted prune is finished, never archived again ----------------------


def test_interrupted_prune_is_finished_by_the_same_command(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    volume = make_release(tmp_path)
    real_rmtree = archive_mod.shutil.rmtree
    calls: list[str] = []

    def rmtree_then_die(path: object, *args: object, **kwargs: object) -> None:
        calls.append(str(path))
        real_rmtree(path)  # type: ignore[arg-type]
        raise KeyboardInterrupt  # killed after the first folder went

    monkeypatch.setattr(archive_mod.shutil, "rmtree", rmtree_then_die)
    with pytest.raises(KeyboardInterrupt):
        archive_release(volume, "spring", prune=True)
    monkeypatch.undo()
    target = volume.archive_path("spring")
    archived = _sha(target)
    marker = volume.release_dir("spring") / ARCHIVED_MARKER
    assert '"pruned": false' in marker.read_text() and len(calls) == 1
    # Re-archiving now would make an archive without the pruned folder: refused.
    for force, prune in ((True, True), (True, False), (False, False)):
        with pytest.raises(ArchiveError, match=r"interrupted.*--prune"):
            archive_release(volume, "spring", force=force, prune=prune)
    result = archive_release(volume, "spring", prune=True)
    assert result.pruned and _sha(target) == archived
    assert '"pruned": true' in marker.read_text()
    assert not volume.store_dir("spring").exists() and not volume.dist_dir("spring").exists()
    with pytest.raises(ArchiveError, match="pruned"):
        archive_release(volume, "spring", prune=True)


def test_prune_with_an_existing_archive_refuses_changed_files(tmp_path: Path) -> None:
    """An archive already there (a run killed right after writing it): --prune checks the
    files against it and refuses if one changed, pruning nothing."""
    volume = make_release(tmp_path)
    archive_release(volume, "spring")
    frame = volume.job_out_dir("spring", "chair") / "000001.png"
    frame.write_bytes(frame.read_bytes() + b"changed")
    with pytest.raises(ArchiveError, match="changed after it was archived"):
        archive_release(volume, "spring", prune=True)
    assert frame.exists() and volume.store_dir("spring").exists()


# --- temporary files left by killed processes ----------------------------------------------


def test_sweep_removes_only_what_dead_processes_left(tmp_path: Path) -> None:
    host = owner_tag().rpartition("@")[0]
    dead = 2**22 + 12345  # above the default pid_max: no such process
    names = {
        "dead": f"{TEMP_PREFIX}{host}@{dead}-x-release.json",
        "alive": f"{TEMP_PREFIX}{owner_tag()}-y-release.json",
        "other host": f"{TEMP_PREFIX}elsewhere@{dead}-z",
        "untagged": f"{TEMP_PREFIX}abc-release.json",
        "not a temp": "release.json",
    }
    for name in names.values():
        (tmp_path / name).write_text("x")
    (tmp_path / f"{TEMP_PREFIX}{host}@{dead}-pack-q").mkdir()
    removed = sweep_temps(tmp_path)
    assert sorted(removed) == sorted([names["dead"], f"{TEMP_PREFIX}{host}@{dead}-pack-q"])
    assert sorted(sweep_temps(tmp_path, locked=True)) == sorted(
        [names["alive"], names["other host"], names["untagged"]])
    assert [p.name for p in tmp_path.iterdir()] == ["release.json"]
    assert socket.gethostname()  # the tag uses it


# --- disk errors reach the faces as FarmErrors -----------------------------------------------


def test_os_errors_become_disk_errors() -> None:
    @reports_disk_errors("do the thing")
    def full() -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "/vol/x")

    with pytest.raises(DiskError, match=r"Could not do the thing: No space left on device "
                                        r"\(/vol/x\).*free some space.*run the same command"):
        full()


def test_cli_reports_a_stray_os_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: object) -> int:
        raise PermissionError(errno.EACCES, "Permission denied", "/vol/releases")

    monkeypatch.setattr("farm_addon.core.cli.status.run", boom)  # before the parser is built
    err = io.StringIO()
    with redirect_stdout(io.StringIO()), redirect_stderr(err):
        code = cli.main(["status"])
    assert code == 1
    assert "farm: error: Could not finish `farm status`: Permission denied" in err.getvalue()
    assert "Traceback" not in err.getvalue()


# --- inputs that used to escape as tracebacks -----------------------------------------------


def test_unknown_home_folder_is_bad_input(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="no such user"):
        expand_user("~no-such-user-here/x.blend")
    with pytest.raises(BadInput, match="no such user"):
        expand_sources(["~no-such-user-here/x.blend"], tmp_path)


@pytest.mark.parametrize("template", ["{stem.nope}", "{stem[x]}", "{stem.upper}", "{stem!r}",
                                      "{stem:>>>}", "{", "{0}"])
def test_name_templates_take_plain_parts_only(tmp_path: Path, template: str) -> None:
    (tmp_path / "a.blend").write_bytes(b"BLENDER")
    with pytest.raises(BadSource, match="Name template"):
        expand_sources(["*.blend"], tmp_path, template)
    assert expand_sources(["*.blend"], tmp_path, "{stem:>3}-x")[0].name == "  a-x"


def test_a_source_name_too_long_for_the_file_system_is_bad_input(tmp_path: Path) -> None:
    """Found by the property search: a 300-byte file name made `Path.exists()` raise
    ENAMETOOLONG, which escaped as a crash instead of a message naming the source."""
    from farm_addon.core.release.sources import BadSource, expand_sources

    long_name = "a" * 300 + ".blend"
    with pytest.raises(BadSource, match=r"File name too long\. Shorten the path"):
        expand_sources([long_name], tmp_path)
    with pytest.raises(BadSource, match=r"matches no \.blend file"):  # a pattern: no crash either
        expand_sources([f"{'b' * 300}/{{object}}.blend"], tmp_path)
