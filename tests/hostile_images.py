"""Image bytes a hostile client sends: tiny files that declare huge sizes, truncated and random
data, GIFs of many frames. Built by hand in milliseconds, never decoded to make."""

from __future__ import annotations

import io
import random
import struct
import zlib

from PIL import Image


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def huge_png(width: int, height: int) -> bytes:
    """A valid 1-bit greyscale PNG of `width`x`height` zeros: a few KB on disk (zeros compress
    a thousandfold), `width * height` pixels once decoded."""
    row = b"\x00" * (1 + (width + 7) // 8)  # filter byte + packed bits
    packer = zlib.compressobj(9)
    idat = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def plain_png(size: tuple[int, int] = (64, 64), colour: str = "teal") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


def truncated_png(size: tuple[int, int] = (64, 64)) -> bytes:
    """A PNG cut off in the middle of its pixel data: the header reads, the pixels do not."""
    buffer = io.BytesIO()
    Image.effect_noise(size, 64).convert("RGB").save(buffer, format="PNG")
    data = buffer.getvalue()
    return data[: len(data) * 2 // 3]


def random_bytes(count: int = 4096, seed: int = 7) -> bytes:
    return random.Random(seed).randbytes(count)


def many_frame_gif(frames: int = 500, size: tuple[int, int] = (32, 32)) -> bytes:
    """An animated GIF whose first frame is red and every later one a different grey."""
    first = Image.new("RGB", size, "red")
    rest = [Image.new("RGB", size, (i % 200, i % 200, i % 200)) for i in range(1, frames)]
    buffer = io.BytesIO()
    first.save(buffer, format="GIF", save_all=True, append_images=rest, duration=10, loop=0)
    return buffer.getvalue()
