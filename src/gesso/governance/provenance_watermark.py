"""Invisible watermark: a 64-bit image identifier spread over low/mid-frequency DCT coefficients.

Why this design (measured numbers in docs/SECURITY.md):
- JPEG works on 8x8 luma DCT blocks and rounds each coefficient to a multiple of its quantisation
  step. At quality 85 the steps of the nine lowest AC frequencies (u + v <= 3) are 3-5, so a
  coefficient pushed to at least STRENGTH (above half a step) in the wanted direction keeps its sign
  through re-encoding. Higher frequencies have larger steps and are rounded to zero.
- Emoji are mostly flat white: there the host coefficients are ~0 and the mark is the whole
  signal, which is why white backgrounds are easy for this scheme rather than hard, provided the
  white is lowered by HEADROOM levels so the mark is not clipped at 255.
- Each payload bit is carried by many coefficients (96 at 256 px) picked by a keyed permutation,
  each with a keyed +-1 chip (spread spectrum). Embedding is informed: a coefficient that already
  points the wanted way by STRENGTH is left alone; others are moved just far enough (at most
  MAX_PUSH per pass), so edges and textures are not disturbed more than needed. Embedding is
  repeated on the rounded, clipped uint8 result, which restores what clipping near black or white
  took away. Decoding correlates each bit's coefficients with its chips (soft repetition
  decoding), then a CRC-32 over the identifier says whether a Gesso mark is present at all (a
  foreign image passes it with probability 2^-32).
- Only luma is marked (added equally to R, G, B): chroma is subsampled by JPEG.

It needs room: at 256x256 (1024 blocks) each of the 96 coded bits has 96 coefficients. Gesso
delivers images at >= 256 px (`delivery_size`), upscaling its 64 px native output first. It does
not survive cropping, rotation or downscaling (the block grid moves); C2PA covers those cases
only while the manifest is attached.
"""

from __future__ import annotations

import functools
import hashlib
import zlib
from dataclasses import dataclass

import numpy as np
from PIL import Image

BLOCK = 8
# (row, col) frequencies with u + v <= 3, excluding DC: JPEG q85 luma steps 3-5.
POSITIONS = ((0, 1), (1, 0), (0, 2), (1, 1), (2, 0), (0, 3), (1, 2), (2, 1), (3, 0))
ID_BITS = 64
CRC_BITS = 32
CODED_BITS = ID_BITS + CRC_BITS
STRENGTH = 3.0  # wanted signed amplitude of a marked coefficient (orthonormal DCT, 0..255 pixels)
MAX_PUSH = 3.0  # largest change made to any one coefficient per pass
HEADROOM = 2.0  # luma kept within [HEADROOM, 255 - HEADROOM] so the mark is not clipped
MIN_SIZE = 256
EMBED_PASSES = 3  # re-embed after rounding/clipping to uint8 RGB
DEFAULT_KEY = b"gesso-watermark-v1"


@dataclass(frozen=True)
class WatermarkReading:
    found: bool  # a payload whose CRC matches was read
    image_id: int | None  # the 64-bit identifier when found
    confidence: float  # mean |correlation| / STRENGTH over the coded bits (~1 clean, ~0 unmarked)
    bits: tuple[int, ...]  # the 96 decoded bits (id + crc), for diagnostics and bit-error rates

    @property
    def image_id_hex(self) -> str | None:
        return None if self.image_id is None else f"{self.image_id:016x}"


def delivery_size(native: int, minimum: int = MIN_SIZE) -> int:
    """Delivery size of a `native`-px image: the smallest multiple of it that is >= minimum."""
    factor = max(1, -(-minimum // native))
    return native * factor


def upscale_for_delivery(image: Image.Image, minimum: int = MIN_SIZE) -> Image.Image:
    """Upscale a square model output to its delivery size (Lanczos) so the watermark has room."""
    size = delivery_size(min(image.size), minimum)
    if image.size == (size, size):
        return image
    return image.resize((size, size), Image.Resampling.LANCZOS)


def payload_bits(image_id: int) -> np.ndarray:
    """The 96 coded bits: the identifier (big-endian) then the CRC-32 of its 8 bytes."""
    if not 0 <= image_id < 2**ID_BITS:
        raise ValueError("image_id must fit in 64 bits")
    raw = image_id.to_bytes(8, "big")
    crc = zlib.crc32(raw).to_bytes(4, "big")
    return np.unpackbits(np.frombuffer(raw + crc, dtype=np.uint8)).astype(np.int8)


def _layout(blocks_h: int, blocks_w: int, key: bytes) -> tuple[np.ndarray, np.ndarray]:
    """For each marked coefficient (block-major, then POSITIONS): its coded bit and its chip."""
    count = blocks_h * blocks_w * len(POSITIONS)
    seed = int.from_bytes(
        hashlib.sha256(key + f"|{blocks_h}x{blocks_w}".encode()).digest()[:8], "big"
    )
    rng = np.random.default_rng(seed)
    bit_of = (
        rng.permutation(count) % CODED_BITS
    )  # interleaved: every bit spread over the whole image
    chips = rng.integers(0, 2, count).astype(np.float32) * 2 - 1
    return bit_of, chips


LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114], dtype=np.float32)  # JPEG's (BT.601) luma


def _luma(rgb: np.ndarray) -> np.ndarray:
    rgb = rgb.astype(np.float32, copy=False)
    return rgb[..., 0] * LUMA_WEIGHTS[0] + rgb[..., 1] * LUMA_WEIGHTS[1] + rgb[..., 2] * LUMA_WEIGHTS[2]


@functools.cache
def _basis() -> np.ndarray:
    """(64, len(POSITIONS)): the orthonormal 8x8 DCT-II basis images of the marked frequencies,
    flattened. Only these few coefficients are read or changed, so one small matrix product
    replaces a full DCT and inverse DCT of every block."""
    x = np.arange(BLOCK)
    scale = np.where(np.arange(BLOCK) == 0, np.sqrt(1 / BLOCK), np.sqrt(2 / BLOCK))
    cosines = scale[:, None] * np.cos(np.pi * (2 * x[None, :] + 1) * np.arange(BLOCK)[:, None] / (2 * BLOCK))
    return np.stack([np.outer(cosines[u], cosines[v]).reshape(-1) for u, v in POSITIONS], axis=1).astype(np.float32)


def _product(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    # einsum's own loop, not BLAS: products this small gain nothing from BLAS threads, which
    # contend with torch's for the same cores in a busy server.
    return np.einsum("nk,kp->np", a, b, optimize=False)


def _blocks(plane: np.ndarray) -> np.ndarray:
    """(blocks, 64): the whole 8x8 blocks of a 2-D plane, block-major, each flattened."""
    h, w = (plane.shape[0] // BLOCK) * BLOCK, (plane.shape[1] // BLOCK) * BLOCK
    return plane[:h, :w].reshape(h // BLOCK, BLOCK, w // BLOCK, BLOCK).transpose(0, 2, 1, 3).reshape(-1, BLOCK * BLOCK)


def _coefficients(luma: np.ndarray) -> np.ndarray:
    """Marked DCT coefficients, (blocks, len(POSITIONS)), of the whole 8x8 blocks of `luma`
    (the constant -128 level shift only moves the DC term, which is not marked)."""
    return _product(_blocks(luma.astype(np.float32, copy=False)), _basis())


def _luma_change(shape: tuple[int, int], delta: np.ndarray) -> np.ndarray:
    """Pixel-domain luma change for coefficient changes `delta` (blocks, len(POSITIONS))."""
    bh, bw = shape[0] // BLOCK, shape[1] // BLOCK
    blocks = _product(delta.astype(np.float32, copy=False), _basis().T).reshape(bh, bw, BLOCK, BLOCK)
    change = np.zeros(shape, dtype=np.float32)
    change[: bh * BLOCK, : bw * BLOCK] = blocks.transpose(0, 2, 1, 3).reshape(bh * BLOCK, bw * BLOCK)
    return change


def embed_watermark(image: Image.Image, image_id: int, key: bytes = DEFAULT_KEY) -> Image.Image:
    """`image` (RGB or RGBA, both sides >= MIN_SIZE) with `image_id` embedded invisibly.

    Raises ValueError for a smaller image or an identifier wider than 64 bits.
    """
    if min(image.size) < MIN_SIZE:
        raise ValueError(
            f"the watermark needs at least {MIN_SIZE}x{MIN_SIZE} px; upscale_for_delivery first"
        )
    alpha = image.getchannel("A") if image.mode == "RGBA" else None
    rgb = np.asarray(image.convert("RGB"), dtype=np.float32)
    # Lower the brightest and raise the darkest pixels a little so the mark has room both ways.
    luma = _luma(rgb)
    rgb = rgb + (np.clip(luma, HEADROOM, 255 - HEADROOM) - luma)[..., None]
    bits = payload_bits(image_id)
    shape = rgb.shape[:2]
    bit_of, chips = _layout(shape[0] // BLOCK, shape[1] // BLOCK, key)
    wanted = (bits[bit_of] * 2 - 1) * chips  # +-1: the sign each marked coefficient should have
    out = np.clip(np.round(rgb), 0, 255)
    for _ in range(EMBED_PASSES):
        current = _coefficients(_luma(out)).reshape(-1)
        shortfall = STRENGTH - wanted * current  # > 0 where the coefficient is not yet far enough
        push = np.clip(shortfall, 0, MAX_PUSH) * wanted
        if not np.any(push):
            break
        out = np.clip(
            np.round(out + _luma_change(shape, push.reshape(-1, len(POSITIONS)))[..., None]), 0, 255
        )
    marked = Image.fromarray(out.astype(np.uint8), "RGB")
    if alpha is not None:
        marked.putalpha(alpha)
    return marked


def read_watermark(image: Image.Image, key: bytes = DEFAULT_KEY) -> WatermarkReading:
    """Decode the identifier from an image (a PNG or a re-encoded JPEG of a marked image)."""
    rgb = np.asarray(image.convert("RGB"))  # uint8: a float64 copy of a 4096^2 upload is 400 MiB
    if min(rgb.shape[:2]) < MIN_SIZE:
        return WatermarkReading(False, None, 0.0, ())
    shape = rgb.shape[:2]
    luma = sum(rgb[..., c].astype(np.float32) * w for c, w in enumerate(LUMA_WEIGHTS))  # a plane at a time
    coefficients = _coefficients(luma).reshape(-1)
    bit_of, chips = _layout(shape[0] // BLOCK, shape[1] // BLOCK, key)
    # Soft decision per coded bit: mean of chip-weighted coefficients, clipped so that one large
    # host coefficient (an edge) cannot outvote the rest.
    votes = np.clip(coefficients * chips, -2 * STRENGTH, 2 * STRENGTH)
    sums = np.bincount(bit_of, weights=votes, minlength=CODED_BITS)
    counts = np.bincount(bit_of, minlength=CODED_BITS)
    soft = sums / np.maximum(counts, 1)
    bits = (soft > 0).astype(np.uint8)
    confidence = float(np.mean(np.abs(soft)) / STRENGTH)
    raw = np.packbits(bits).tobytes()
    found = zlib.crc32(raw[:8]) == int.from_bytes(raw[8:12], "big")
    image_id = int.from_bytes(raw[:8], "big") if found else None
    return WatermarkReading(found, image_id, confidence, tuple(int(b) for b in bits))
