"""The crash-safe mover: same and cross file system, faults, kills at every step, resume."""

from __future__ import annotations

import errno
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest

from farm_addon.core.errors import Cancelled
from farm_addon.core.fs.atomic import TEMP_PREFIX as TMP_PREFIX
from farm_addon.core.fs.journal import Journal, transfer
from farm_addon.core.fs.mover import FileOps, Move, TransferError, sha256_file
from farm_addon.core.progress import Progress
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


def stamped(root: Path, moves: list[Move]) -> list[Move]:
    """The moves with their sources' mtime and inode, as a harvest records them."""
    out = []
    for m in moves:
        st = os.stat(root / m.src)
        out.append(m._replace(mtime_ns=st.st_mtime_ns, ino=st.st_ino))
    return out


class ChangeBeforeMove(FileOps):
    """Someone rewrites source number ``at`` just before farm renames (or copies) it."""

    def __init__(self, at: int, data: bytes = b"rewritten by someone else",
                 cross: bool = False, keep_time: bool = False) -> None:
        self.at, self.data, self.cross, self.keep_time = at, data, cross, keep_time
        self.seen = 0
        self.changed: str | None = None

    def same_device(self, src_dir: Path, dst_dir: Path) -> bool:
        return not self.cross and super().same_device(src_dir, dst_dir)

    def _maybe_change(self, src: Any) -> None:
        if "/out/" not in str(src):
            return
        self.seen += 1
        if self.seen == self.at:
            st = os.stat(src)
            with open(src, "r+b") as f:  # in place: the same inode
                f.truncate(0)
                f.write(self.data)
            if self.keep_time:  # a rewrite in the same tick of the clock as the last one
                os.utime(src, ns=(st.st_atime_ns, st.st_mtime_ns))
            self.changed = str(src)

    def move(self, src: Any, dst: Any) -> None:
        self._maybe_change(src)
        super().move(src, dst)

    def open_read(self, path: Any) -> Any:
        self._maybe_change(path)
        return super().open_read(path)


@pytest.mark.parametrize("cross", [False, True], ids=["rename", "copy"])
def test_source_changed_before_its_move_is_held_back(tmp_path: Path, cross: bool) -> None:
    """A file rewritten between its check (the hash in the move) and its move is not
    delivered: it stays under its source name with its new content, the others go, and the
    stats name it."""
    moves = stamped(tmp_path, make_files(tmp_path, 6))
    ops = ChangeBeforeMove(3, cross=cross)
    stats = transfer(moves, tmp_path, tmp_path / "j.json", ops=ops)
    assert stats.held == [moves[2]]
    assert ops.changed == str(tmp_path / moves[2].src)
    assert (tmp_path / moves[2].src).read_bytes() == b"rewritten by someone else"
    assert not (tmp_path / moves[2].dst).exists()
    others = moves[:2] + moves[3:]
    assert_done(tmp_path, others)
    assert stats.moved + stats.copied == 5
    assert not (tmp_path / "j.json").exists()


def test_rewrite_that_keeps_size_and_time_is_caught_when_unstamped(tmp_path: Path) -> None:
    """The racy case: same inode, same size, same modification time, other bytes. A move
    with its stamp cannot see it (which is why a harvest leaves the stamp out for frames
    modified just before their check); without the stamp the file is hashed again."""
    moves = make_files(tmp_path, 3)
    same_size = bytes(reversed((tmp_path / moves[1].src).read_bytes()))
    stats = transfer(stamped(tmp_path, moves), tmp_path, tmp_path / "a.json",
                     ops=ChangeBeforeMove(2, same_size, keep_time=True))
    assert stats.held == [] and stats.rehashed == 0  # invisible with a stamp
    assert (tmp_path / moves[1].dst).read_bytes() == same_size

    moves = make_files(tmp_path / "b", 3)
    same_size = bytes(reversed((tmp_path / "b" / moves[1].src).read_bytes()))
    stats = transfer(moves, tmp_path / "b", tmp_path / "b.json",
                     ops=ChangeBeforeMove(2, same_size, keep_time=True))
    assert [m.src for m in stats.held] == [moves[1].src] and stats.rehashed == 3
    assert (tmp_path / "b" / moves[1].src).read_bytes() == same_size


def test_stamped_moves_are_not_hashed_again(tmp_path: Path) -> None:
    moves = stamped(tmp_path, make_files(tmp_path, 8))
    stats = transfer(moves, tmp_path, tmp_path / "j.json")
    assert stats.moved == 8 and stats.rehashed == 0 and stats.held == []
    assert_done(tmp_path, moves)


def test_touched_but_unchanged_file_is_delivered(tmp_path: Path) -> None:
    """A new modification time alone (a backup tool, `touch`) costs a hash, not a hold."""
    moves = stamped(tmp_path, make_files(tmp_path, 3))
    os.utime(tmp_path / moves[0].src, ns=(1, 1))
    stats = transfer(moves, tmp_path, tmp_path / "j.json")
    assert stats.held == [] and stats.rehashed == 1
    assert_done(tmp_path, moves)


def test_held_file_whose_name_was_taken_goes_beside_it(tmp_path: Path) -> None:
    """The file changed and, by the time it would go back, a new file took its name (a
    worker writing the frame again): both are kept in the source folder."""

    class Refill(FileOps):
        def move(self, src: Any, dst: Any) -> None:
            super().move(src, dst)
            if "/out/" in str(src) and str(src).endswith("000001.png"):
                with open(dst, "ab") as f:
                    f.write(b"appended while moving")
                Path(src).write_bytes(b"the new render")

    moves = stamped(tmp_path, make_files(tmp_path, 3))
    stats = transfer(moves, tmp_path, tmp_path / "j.json", ops=Refill())
    assert stats.held == [moves[1]]
    src = tmp_path / moves[1].src
    assert src.read_bytes() == b"the new render"
    assert Path(f"{src}.changed").read_bytes().endswith(b"appended while moving")
    assert not (tmp_path / moves[1].dst).exists()


def test_held_file_whose_folder_was_removed_goes_back_into_a_new_one(tmp_path: Path) -> None:
    class RemoveFolder(FileOps):
        def move(self, src: Any, dst: Any) -> None:
            super().move(src, dst)
            if "/out/" in str(src):
                with open(dst, "ab") as f:
                    f.write(b"changed")
                for p in Path(src).parent.iterdir():  # someone clears the folder
                    p.rename(tmp_path / p.name)
                Path(src).parent.rmdir()

    moves = stamped(tmp_path, make_files(tmp_path, 1))
    stats = transfer(moves, tmp_path, tmp_path / "j.json", ops=RemoveFolder())
    assert stats.held == [moves[0]]
    assert (tmp_path / moves[0].src).read_bytes().endswith(b"changed")


def test_killed_after_moving_a_changed_file_holds_it_on_resume(tmp_path: Path) -> None:
    """Killed between the rename and the check: the rerun of the journal finds the changed
    file delivered, checks it as it would have, and puts it back."""
    moves = stamped(tmp_path, make_files(tmp_path, 3))
    journal = Journal.create(tmp_path / "j.json", tmp_path, moves)
    dst = tmp_path / moves[0].dst
    dst.parent.mkdir(parents=True)
    os.rename(tmp_path / moves[0].src, dst)
    with open(dst, "ab") as f:
        f.write(b"changed")
    stats = Journal.load(journal.path, tmp_path).run()  # type: ignore[union-attr]
    assert stats.held == [moves[0]]
    assert (tmp_path / moves[0].src).read_bytes().endswith(b"changed")
    assert not dst.exists()
    assert_done(tmp_path, moves[1:])
    # Once more: the same outcome (the move is held again, nothing else happens).
    again = Journal.load(journal.path, tmp_path).run()  # type: ignore[union-attr]
    assert again.held == [moves[0]] and again.moved == 0 and again.already == 2


def test_schema_1_journal_is_read(tmp_path: Path) -> None:
    """A journal written before moves carried stamps (4 values a move) still runs."""
    moves = make_files(tmp_path, 2)
    doc = {"schema": 1, "kind": "farm-transfer-journal", "payload": {},
           "moves": [list(m[:4]) for m in moves]}
    (tmp_path / "j.json").write_text(json.dumps(doc))
    loaded = Journal.load(tmp_path / "j.json", tmp_path)
    assert loaded is not None and loaded.moves == moves
    stats = loaded.run()
    assert stats.moved == 2 and stats.rehashed == 2
    assert_done(tmp_path, moves)


def test_journal_rows_of_the_wrong_length_are_damage(tmp_path: Path) -> None:
    doc = {"schema": 2, "kind": "farm-transfer-journal", "moves": [["a", "b", "", -1, 5]]}
    (tmp_path / "j.json").write_text(json.dumps(doc))
    with pytest.raises(TransferError, match=r"damaged.*4 or 6 values"):
        Journal.load(tmp_path / "j.json", tmp_path)


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
    from farm_addon.core.fs import mover as transfer_mod

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
