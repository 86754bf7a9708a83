"""The crash-safe mover: same and cross file system, faults, kills at every step, resume."""

from __future__ import annotations

import errno
import hashlib
import os
from pathlib import Path
from typing import Any

import pytest

from farm_addon.core.errors import Cancelled
from farm_addon.core.progress import Progress
from farm_addon.core.transfer import (
    TMP_PREFIX,
    FileOps,
    Journal,
    Move,
    TransferError,
    sha256_file,
    transfer,
)
from tests.core.faulty import FaultyOps


class CrossOps(FileOps):
    def same_device(self, src_dir: Path, dst_dir: Path) -> bool:
        return False


def make_files(root: Path, n: int, size: int = 3000) -> list[Move]:
    moves = []
    for i in range(n):
        data = hashlib.sha256(str(i).encode()).digest() * ((size + i) // 32 + 1)
        src = root / "out" / "job" / f"{i:06d}.png"
        src.parent.mkdir(parents=True, exist_ok=True)
        src.write_bytes(data[: size + i])
        moves.append(Move(f"out/job/{i:06d}.png", f"dist/rel/sub/f{i}.png",
                          hashlib.sha256(data[: size + i]).hexdigest(), size + i))
    return moves


def assert_done(root: Path, moves: list[Move]) -> None:
    for m in moves:
        assert not (root / m.src).exists(), m.src
        assert sha256_file(root / m.dst)[0] == m.sha256
    leftovers = [p for p in root.rglob(f"{TMP_PREFIX}*")]
    assert leftovers == []


def state_ok(root: Path, moves: list[Move]) -> None:
    """Every file is under exactly one name (src or dst), never both, never none."""
    for m in moves:
        s, d = (root / m.src).exists(), (root / m.dst).exists()
        assert s != d, (m, s, d)


def test_same_fs_moves(tmp_path: Path) -> None:
    moves = make_files(tmp_path, 20)
    inodes = [os.stat(tmp_path / m.src).st_ino for m in moves]
    stats = transfer(moves, tmp_path, tmp_path / "journal.json")
    assert stats.moved == 20 and stats.copied == 0
    assert_done(tmp_path, moves)
    assert [os.stat(tmp_path / m.dst).st_ino for m in moves] == inodes
    assert not (tmp_path / "journal.json").exists()


def test_cross_fs_copies_and_verifies(tmp_path: Path) -> None:
    moves = make_files(tmp_path, 10, size=3 << 20 // 2)
    stats = transfer(moves, tmp_path, tmp_path / "journal.json", ops=CrossOps())
    assert stats.copied == 10 and stats.moved == 0
    assert_done(tmp_path, moves)


def test_exdev_falls_back_to_copy(tmp_path: Path) -> None:
    class Exdev(FileOps):
        def move(self, src: Path, dst: Path) -> None:
            if "/out/" in str(src):
                raise OSError(errno.EXDEV, "Invalid cross-device link")
            super().move(src, dst)

    moves = make_files(tmp_path, 5)
    stats = transfer(moves, tmp_path, tmp_path / "j.json", ops=Exdev())
    assert stats.copied == 5
    assert_done(tmp_path, moves)


def test_changed_source_is_not_moved(tmp_path: Path) -> None:
    moves = make_files(tmp_path, 2)
    (tmp_path / moves[1].src).write_bytes(b"changed")
    with pytest.raises(TransferError, match="changed since it was checked"):
        transfer(moves, tmp_path, tmp_path / "j.json", ops=CrossOps())
    assert (tmp_path / moves[1].src).read_bytes() == b"changed"
    assert not (tmp_path / moves[1].dst).exists()
    assert not list(tmp_path.rglob(f"{TMP_PREFIX}*"))


def test_never_overwrites_other_content(tmp_path: Path) -> None:
    moves = make_files(tmp_path, 3)
    dst = tmp_path / moves[1].dst
    dst.parent.mkdir(parents=True)
    dst.write_bytes(b"someone else's")
    with pytest.raises(TransferError, match="already exists with other content"):
        transfer(moves, tmp_path, tmp_path / "j.json")
    assert dst.read_bytes() == b"someone else's"
    assert (tmp_path / moves[1].src).exists()


@pytest.mark.parametrize("cross", [False, True])
@pytest.mark.parametrize("err", [errno.ENOSPC, errno.EACCES])
def test_fault_then_rerun_finishes(tmp_path: Path, cross: bool, err: int) -> None:
    moves = make_files(tmp_path, 12)
    journal = tmp_path / "rel" / "journal.json"
    # The journal is written through rename too: call 1. The 6th call fails mid-way.
    faulty = FaultyOps({"rename", "write"} if cross else {"rename"}, 6, err, cross=cross)
    with pytest.raises(TransferError) as exc:
        transfer(moves, tmp_path, journal, ops=faulty)
    msg = str(exc.value)
    assert os.strerror(err) in msg and "running the command again" in msg
    state_ok(tmp_path, moves)
    assert journal.exists()
    assert not list(tmp_path.rglob(f"{TMP_PREFIX}*"))
    stats = transfer([], tmp_path, journal, ops=CrossOps() if cross else FileOps())
    assert stats.total == 12
    assert_done(tmp_path, moves)
    assert not journal.exists()


def test_journal_write_fails_nothing_moves(tmp_path: Path) -> None:
    moves = make_files(tmp_path, 3)
    with pytest.raises(TransferError, match="Nothing was moved"):
        transfer(moves, tmp_path, tmp_path / "j.json", ops=FaultyOps({"write"}, 1))
    assert all((tmp_path / m.src).exists() for m in moves)
    assert not (tmp_path / "j.json").exists()
    assert not list(tmp_path.rglob(f"{TMP_PREFIX}*"))


def _killed_run(root: Path, moves: list[Move], n: int, cross: bool) -> None:
    pid = os.fork()
    if pid == 0:  # the child dies (as with kill -9) at the n-th file operation
        try:
            ops = FaultyOps({"*"}, n, action=lambda: os._exit(9), cross=cross)
            transfer(moves, root, root / "journal.json", ops=ops)
        finally:
            os._exit(0)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status)


@pytest.mark.parametrize("cross", [False, True])
def test_killed_at_every_step_then_resumed(tmp_path: Path, cross: bool) -> None:
    """Kill the mover at each file operation in turn; a second run always finishes cleanly."""
    steps = 40 if cross else 12
    for n in range(1, steps):
        root = tmp_path / f"{n}"
        moves = make_files(root, 4)
        _killed_run(root, moves, n, cross)
        for m in moves:  # never under no name; a copy's source may remain beside its target
            assert (root / m.src).exists() or (root / m.dst).exists()
        transfer([], root, root / "journal.json", ops=CrossOps() if cross else FileOps())
        if (root / "journal.json").exists():  # killed before the journal was complete
            pytest.fail("journal left behind")
        if all((root / m.src).exists() for m in moves):
            continue  # killed before the journal existed: nothing was planned, nothing moved
        assert_done(root, moves)


def test_resume_states(tmp_path: Path) -> None:
    moves = make_files(tmp_path, 4)
    r = tmp_path
    # 0: already delivered; 1: delivered but the source remains (copy not cleaned up);
    # 2: a complete temporary copy, neither name present; 3: untouched.
    for i in (0, 1, 2):
        (r / moves[i].dst).parent.mkdir(parents=True, exist_ok=True)
    os.rename(r / moves[0].src, r / moves[0].dst)
    (r / moves[1].dst).write_bytes((r / moves[1].src).read_bytes())
    tmp = (r / moves[2].dst).with_name(TMP_PREFIX + (r / moves[2].dst).name)
    os.rename(r / moves[2].src, tmp)
    Journal.create(r / "j.json", r, moves)
    stats = transfer([], r, r / "j.json")
    assert (stats.already, stats.cleaned, stats.copied, stats.moved) == (1, 1, 1, 1)
    assert_done(r, moves)


def test_lost_file_is_reported(tmp_path: Path) -> None:
    moves = make_files(tmp_path, 2)
    Journal.create(tmp_path / "j.json", tmp_path, moves)
    (tmp_path / moves[0].src).unlink()
    with pytest.raises(TransferError, match="removed by something other than farm"):
        transfer([], tmp_path, tmp_path / "j.json")


def test_cancel_between_files_and_resume(tmp_path: Path) -> None:
    class CancelAt(Progress):
        def on_update(self) -> None:
            if self.done == 3:
                self.cancel()

    moves = make_files(tmp_path, 8)
    with pytest.raises(Cancelled):
        transfer(moves, tmp_path, tmp_path / "j.json", progress=CancelAt())
    state_ok(tmp_path, moves)
    assert sum((tmp_path / m.dst).exists() for m in moves) == 3
    transfer([], tmp_path, tmp_path / "j.json")
    assert_done(tmp_path, moves)


def test_damaged_journal(tmp_path: Path) -> None:
    (tmp_path / "j.json").write_text("{not json")
    with pytest.raises(TransferError, match="damaged"):
        transfer([], tmp_path, tmp_path / "j.json")


def test_existing_journal_refuses_create(tmp_path: Path) -> None:
    Journal.create(tmp_path / "j.json", tmp_path, [])
    with pytest.raises(TransferError, match="interrupted"):
        Journal.create(tmp_path / "j.json", tmp_path, [])


def test_payload_round_trip(tmp_path: Path) -> None:
    payload: dict[str, Any] = {"entries": [{"a": 1}]}
    Journal.create(tmp_path / "j.json", tmp_path, [Move("a", "b", "", -1)], payload)
    j = Journal.load(tmp_path / "j.json", tmp_path)
    assert j is not None and j.payload == payload and j.moves == [Move("a", "b", "", -1)]


def test_move_without_renameat2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from farm_addon.core import transfer as transfer_mod

    monkeypatch.setattr(transfer_mod, "_renameat2", None)
    moves = make_files(tmp_path, 3)
    dst = tmp_path / moves[2].dst
    dst.parent.mkdir(parents=True)
    dst.write_bytes(b"other")
    with pytest.raises(TransferError, match="already exists with other content"):
        transfer(moves, tmp_path, tmp_path / "j.json")
    dst.unlink()
    transfer([], tmp_path, tmp_path / "j.json")
    assert_done(tmp_path, moves)


def test_move_never_replaces(tmp_path: Path) -> None:
    (tmp_path / "a").write_text("a")
    (tmp_path / "b").write_text("b")
    with pytest.raises(FileExistsError):
        FileOps().move(tmp_path / "a", tmp_path / "b")
    assert (tmp_path / "b").read_text() == "b"


def test_gc_paused_restores_the_collector() -> None:
    import gc

    from farm_addon.core.transfer import gc_paused

    assert gc.isenabled()
    with pytest.raises(ZeroDivisionError), gc_paused():
        assert not gc.isenabled()
        1 / 0  # noqa: B018
    assert gc.isenabled()
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()  # left as it was found
    finally:
        gc.enable()
