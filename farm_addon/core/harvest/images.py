"""Frame files checked as images: one read, hashed as it is read. No `bpy` module use.

A frame must be non-empty and a readable image of its extension: PNG signature, IHDR CRC and
IEND; JPEG start and end markers; EXR, TIFF, WebP, BMP, HDR, DPX, Cineon and JPEG 2000 magic.
"""

from __future__ import annotations

import hashlib
import os
import struct
import zlib
from pathlib import Path

from ..fs.mover import CHUNK

#: Bytes read at once: a small frame is read (and checked, and hashed) in one call.
FIRST_READ = 1 << 16

PNG_SIG = b"\x89PNG\r\n\x1a\n"
PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"
PNG_HEAD = PNG_SIG + b"\x00\x00\x00\x0dIHDR"
_MAGIC: dict[str, tuple[tuple[bytes, ...], str]] = {
    ".exr": ((b"\x76\x2f\x31\x01",), "OpenEXR"),
    ".tif": ((b"II*\x00", b"MM\x00*"), "TIFF"),
    ".tiff": ((b"II*\x00", b"MM\x00*"), "TIFF"),
    ".bmp": ((b"BM",), "BMP"),
    ".hdr": ((b"#?",), "Radiance HDR"),
    ".dpx": ((b"SDPX", b"XPDS"), "DPX"),
    ".cin": ((b"\x80\x2a\x5f\xd7", b"\xd7\x5f\x2a\x80"), "Cineon"),
    ".jp2": ((b"\x00\x00\x00\x0cjP  \r\n\x87\n", b"\xff\x4f\xff\x51"), "JPEG 2000"),
}


def image_problem(head: bytes, tail: bytes, size: int, ext: str) -> str | None:
    """Why a frame file is not a readable image of its extension, or None.

    ``head`` is at least the first 33 bytes (or the whole file), ``tail`` the last 16."""
    ext = ext.lower()
    if size == 0:
        return "empty file"
    if ext == ".png":
        if not head.startswith(PNG_SIG):
            return "not a PNG (bad signature)"
        if len(head) < 33 or head[8:16] != b"\x00\x00\x00\x0dIHDR":
            return "damaged PNG (no IHDR chunk)"
        (crc,) = struct.unpack(">I", head[29:33])
        if zlib.crc32(head[12:29]) != crc:
            return "damaged PNG (IHDR checksum does not match)"
        if not tail.endswith(PNG_END):
            return "truncated PNG (no IEND chunk at the end)"
        return None
    if ext in (".jpg", ".jpeg"):
        if not head.startswith(b"\xff\xd8\xff"):
            return "not a JPEG (bad signature)"
        if not tail.rstrip(b"\x00").endswith(b"\xff\xd9"):
            return "truncated JPEG (no end marker)"
        return None
    if ext == ".webp":
        return None if head[:4] == b"RIFF" and head[8:12] == b"WEBP" else "not a WebP file"
    known = _MAGIC.get(ext)
    if known is not None:
        magics, label = known
        return None if head.startswith(magics) else f"not a {label} file (bad signature)"
    return None  # an extension without a known signature: non-empty is all we can say


def read_frame(path: str | Path, ext: str) -> tuple[str | None, int, str]:
    """``(problem, size, sha256)`` of a frame file: one read, hashed as it is read."""
    return read_frame_status(path, ext)[:3]


def read_frame_status(path: str | Path, ext: str
                      ) -> tuple[str | None, int, str, os.stat_result | None]:
    """:func:`read_frame`, and the file's status taken before its content was read."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        return "missing", 0, "", None
    except OSError as exc:
        return f"unreadable ({exc.strerror})", 0, "", None
    try:
        st = os.fstat(fd)
        data = os.read(fd, FIRST_READ)
        if len(data) < FIRST_READ:  # a short read of a regular file: that is all of it
            return (image_problem(data[:64], data[-16:], len(data), ext), len(data),
                    hashlib.sha256(data).hexdigest(), st)
        h = hashlib.sha256(data)
        head = data[:64]
        tail = data[-16:]
        got = len(data)
        while chunk := os.read(fd, CHUNK):
            h.update(chunk)
            tail = chunk[-16:] if len(chunk) >= 16 else (tail + chunk)[-16:]
            got += len(chunk)
        return image_problem(head, tail, got, ext), got, h.hexdigest(), st
    except OSError as exc:
        return f"unreadable ({exc.strerror})", 0, "", None
    finally:
        os.close(fd)
