"""A file layer that fails on purpose: shared by the transfer and harvest tests."""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from farm_addon.core.fs.mover import FileOps


class FaultyOps(FileOps):
    """Raise ``exc`` (or call ``action``) at the ``n``-th call of the named operations."""

    def __init__(self, ops: set[str], n: int, err: int = errno.ENOSPC,
                 action: Callable[[], None] | None = None, cross: bool = False) -> None:
        self.ops, self.n, self.err, self.action, self.cross = ops, n, err, action, cross
        self.calls = 0

    def _tick(self, name: str) -> None:
        if name in self.ops or "*" in self.ops:
            self.calls += 1
            if self.calls == self.n:
                if self.action is not None:
                    self.action()
                raise OSError(self.err, os.strerror(self.err))

    def rename(self, src: Path, dst: Path) -> None:
        self._tick("rename")
        super().rename(src, dst)

    def move(self, src: Path, dst: Path) -> None:
        self._tick("rename")
        super().move(src, dst)

    def unlink(self, path: Path) -> None:
        self._tick("unlink")
        super().unlink(path)

    def open_new(self, path: Path) -> BinaryIO:
        self._tick("open_new")
        return super().open_new(path)

    def write(self, f: BinaryIO, data: bytes) -> None:
        self._tick("write")
        super().write(f, data)

    def fsync(self, f: BinaryIO) -> None:
        self._tick("fsync")
        super().fsync(f)

    def same_device(self, src_dir: Path, dst_dir: Path) -> bool:
        return not self.cross and super().same_device(src_dir, dst_dir)
