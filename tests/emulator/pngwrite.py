"""Tiny PNG writer and reader (stdlib only: zlib + struct).

The instant worker writes one small valid PNG per frame; tests read them back with
:func:`read_png`, which checks every chunk's CRC.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def png_bytes(width: int = 8, height: int = 8,
              rgb: tuple[int, int, int] = (128, 128, 128)) -> bytes:
    """Return an 8-bit RGB PNG of ``width`` x ``height`` pixels filled with ``rgb``."""
    if width < 1 or height < 1:
        raise ValueError("PNG dimensions must be positive")
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    row = b"\x00" + bytes(rgb) * width  # filter type 0 per scanline
    idat = zlib.compress(row * height, 9)
    return PNG_SIGNATURE + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def frame_colour(frame: int) -> tuple[int, int, int]:
    """A colour that differs per frame number, so frames can be told apart."""
    return ((frame * 37) % 256, (frame * 91) % 256, (frame * 173) % 256)


def write_png(path: Path, width: int = 8, height: int = 8,
              rgb: tuple[int, int, int] = (128, 128, 128)) -> bytes:
    """Write a PNG to ``path`` (creating parent folders) and return its bytes."""
    data = png_bytes(width, height, rgb)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return data


@dataclass(frozen=True)
class PngInfo:
    """What :func:`read_png` found in a PNG file."""

    width: int
    height: int
    bit_depth: int
    colour_type: int
    pixels: bytes  # decompressed scanlines, filter bytes included


def read_png(data: bytes) -> PngInfo:
    """Parse a PNG, checking the signature and each chunk's CRC; raise ValueError if broken."""
    if not data.startswith(PNG_SIGNATURE):
        raise ValueError("not a PNG: bad signature")
    pos = len(PNG_SIGNATURE)
    header: tuple[int, ...] | None = None
    idat = b""
    seen_end = False
    while pos < len(data):
        if pos + 8 > len(data):
            raise ValueError("truncated chunk header")
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        crc_bytes = data[pos + 8 + length : pos + 12 + length]
        if len(body) != length or len(crc_bytes) != 4:
            raise ValueError(f"truncated {kind!r} chunk")
        if zlib.crc32(kind + body) & 0xFFFFFFFF != struct.unpack(">I", crc_bytes)[0]:
            raise ValueError(f"bad CRC in {kind!r} chunk")
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            seen_end = True
            break
        pos += 12 + length
    if header is None or not seen_end:
        raise ValueError("PNG without IHDR or IEND")
    width, height, depth, colour = header[:4]
    return PngInfo(width, height, depth, colour, zlib.decompress(idat))
