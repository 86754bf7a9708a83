"""A block-parallel gzip writer, the way ``pigz`` does it. No `bpy` module use.

:class:`GzipWriter` writes one standard gzip member whose deflate stream is made of 1 MiB
blocks compressed independently in worker threads (``zlib`` releases the GIL). Data that is
compressed already (PNG, JPEG, video, zip...: :data:`PRECOMPRESSED`) goes in as deflate
*stored* blocks instead of being compressed again for a gain of a percent or two.
"""

from __future__ import annotations

import contextlib
import queue
import struct
import threading
import time
import zlib
from concurrent.futures import Future, ThreadPoolExecutor
from typing import BinaryIO

from ..fs.mover import FileOps
from .collect import ArchiveError

BLOCK = 1 << 20
_ZERO = bytes(512)


#: Formats whose data is compressed already: stored in the archive as they are (deflate
#: "stored" blocks), not compressed a second time for a gain of a few percent.
PRECOMPRESSED = frozenset({
    ".png", ".jpg", ".jpeg", ".webp", ".jp2", ".j2c", ".gif", ".avif", ".heic",
    ".mp4", ".mov", ".mkv", ".webm", ".avi", ".ogg", ".ogv", ".mp3", ".flac", ".opus",
    ".zip", ".gz", ".tgz", ".bz2", ".xz", ".zst", ".7z", ".rar", ".lz4",
})


def precompressed(name: str) -> bool:
    dot = name.rfind(".")
    return dot > name.rfind("/") and name[dot:].lower() in PRECOMPRESSED


def _deflate(pieces: list[tuple[bool, bytes]], level: int, final: bool) -> bytes:
    """One stretch of the deflate stream. Compressible pieces go through zlib; stored pieces
    become stored blocks, after a full flush so that no match reaches across them."""
    c = zlib.compressobj(level, zlib.DEFLATED, -15, 9)
    out: list[bytes] = []
    for stored, data in pieces:
        if stored:
            out.append(c.flush(zlib.Z_FULL_FLUSH))  # byte-aligned, history reset
            for i in range(0, len(data), 0xFFFF):
                part = data[i:i + 0xFFFF]
                out.append(b"\x00" + struct.pack("<HH", len(part), 0xFFFF ^ len(part)) + part)
        else:
            out.append(c.compress(data))
    out.append(c.flush(zlib.Z_FINISH if final else zlib.Z_SYNC_FLUSH))
    return b"".join(out)


class GzipWriter:
    """One gzip member whose deflate stream is made of independently compressed blocks.

    The calling thread fills 1 MiB blocks; a pool compresses them; one writer thread writes
    them in order. A write error stops everything and is raised to the caller."""

    def __init__(self, f: BinaryIO, ops: FileOps, level: int, threads: int) -> None:
        self.f, self.ops, self.level = f, ops, level
        self.buf = bytearray()  # the compressible piece being filled
        self.pieces: list[tuple[bool, bytes]] = []  # the block being filled
        self.pending = 0  # bytes in the block
        self.crc = 0
        self.size = 0  # bytes cut into pieces
        self.out = 0
        self.threads = max(1, threads)
        self.pool = ThreadPoolExecutor(self.threads, thread_name_prefix="farm-gzip")
        self.queue: queue.Queue[Future[bytes] | None] = queue.Queue(maxsize=2 * self.threads)
        self.error: BaseException | None = None
        xfl = 4 if level == 1 else (2 if level == 9 else 0)
        self._emit(b"\x1f\x8b\x08\x00" + struct.pack("<I", int(time.time())) + bytes([xfl, 3]))
        self.writer = threading.Thread(target=self._drain, name="farm-gzip-writer", daemon=True)
        self.writer.start()

    def _emit(self, data: bytes) -> None:
        self.ops.write(self.f, data)
        self.out += len(data)

    def _drain(self) -> None:
        while (fut := self.queue.get()) is not None:
            if self.error is None:
                try:
                    self._emit(fut.result())
                except BaseException as exc:
                    self.error = exc

    def _raise(self) -> None:
        if self.error is not None:
            raise self.error

    def write(self, data: bytes, stored: bool = False) -> None:
        """Append ``data``; ``stored``: it is compressed already, store it as it is."""
        if stored and self.level:
            self._cut()
            self.crc = zlib.crc32(data, self.crc)
            self.size += len(data)
            self.pieces.append((True, data))
        else:
            self.buf += data
        self.pending += len(data)
        if self.pending >= BLOCK:
            self._submit(final=False)

    def member(self, head: bytes, data: bytes, stored: bool) -> None:
        """A whole small member: its header, its data and the padding, in one call (a
        release has 100,000 of them)."""
        buf = self.buf
        buf += head
        if stored and self.level:
            self._cut()
            self.crc = zlib.crc32(data, self.crc)
            self.size += len(data)
            self.pieces.append((True, data))
            buf = self.buf
        else:
            buf += data
        pad = -len(data) % 512
        if pad:
            buf += _ZERO[:pad]
        self.pending += len(head) + len(data) + pad
        if self.pending >= BLOCK:
            self._submit(final=False)

    def _cut(self) -> None:
        if self.buf:
            piece = bytes(self.buf)
            self.crc = zlib.crc32(piece, self.crc)
            self.size += len(piece)
            self.pieces.append((False, piece))
            self.buf = bytearray()

    def _submit(self, final: bool) -> None:
        self._raise()
        self._cut()
        pieces, self.pieces, self.pending = self.pieces, [], 0
        self.queue.put(self.pool.submit(_deflate, pieces, self.level, final))

    def finish(self) -> None:
        self._submit(final=True)
        self.queue.put(None)
        self.writer.join()
        self.pool.shutdown()
        self._raise()
        self._emit(struct.pack("<II", self.crc, self.size & 0xFFFFFFFF))

    def abort(self) -> None:
        self.error = self.error or ArchiveError("aborted")
        while True:  # unblock and stop the writer
            try:
                self.queue.put_nowait(None)
                break
            except queue.Full:
                with contextlib.suppress(queue.Empty):
                    self.queue.get_nowait()
        self.writer.join()
        self.pool.shutdown(wait=True, cancel_futures=True)


