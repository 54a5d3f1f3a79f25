"""Emoji-like test images: flat colours, dark outlines, anti-aliased edges, white backgrounds.

Drawn at the model's native 64 px and upscaled the way Gesso delivers them, so the watermark is
measured on the kind of image it must survive on (mostly white, little texture).
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

FACE_COLOURS = [
    (255, 204, 77),
    (244, 144, 12),
    (221, 46, 68),
    (120, 177, 89),
    (85, 172, 238),
    (170, 142, 214),
]


def emoji_image(index: int, size: int = 64) -> Image.Image:
    """One of a family of emoji-like pictures (face, heart, star, object) on white."""
    rng = np.random.default_rng(index)
    scale = 4
    canvas = Image.new("RGB", (size * scale, size * scale), "white")
    draw = ImageDraw.Draw(canvas)
    s = size * scale
    colour = FACE_COLOURS[index % len(FACE_COLOURS)]
    kind = index % 4
    if kind == 0:  # face
        draw.ellipse(
            (s * 0.08, s * 0.08, s * 0.92, s * 0.92),
            fill=colour,
            outline=(60, 40, 20),
            width=scale * 2,
        )
        for x in (0.35, 0.65):
            draw.ellipse((s * (x - 0.06), s * 0.33, s * (x + 0.06), s * 0.48), fill=(60, 40, 20))
        draw.arc(
            (s * 0.28, s * 0.4, s * 0.72, s * 0.78), 20, 160, fill=(60, 40, 20), width=scale * 3
        )
    elif kind == 1:  # heart
        draw.ellipse((s * 0.12, s * 0.18, s * 0.52, s * 0.58), fill=colour)
        draw.ellipse((s * 0.48, s * 0.18, s * 0.88, s * 0.58), fill=colour)
        draw.polygon([(s * 0.14, s * 0.45), (s * 0.86, s * 0.45), (s * 0.5, s * 0.88)], fill=colour)
    elif kind == 2:  # star
        points = []
        for k in range(10):
            radius = 0.42 if k % 2 == 0 else 0.18
            angle = np.pi / 2 + k * np.pi / 5
            points.append((s * (0.5 + radius * np.cos(angle)), s * (0.52 - radius * np.sin(angle))))
        draw.polygon(points, fill=colour, outline=(90, 60, 0))
    else:  # an object with a highlight and a shadow
        draw.ellipse((s * 0.2, s * 0.8, s * 0.8, s * 0.92), fill=(225, 225, 225))
        draw.rounded_rectangle((s * 0.22, s * 0.2, s * 0.78, s * 0.8), radius=s * 0.1, fill=colour)
        draw.ellipse((s * 0.3, s * 0.26, s * 0.45, s * 0.4), fill=(255, 255, 255))
    jitter = rng.integers(-6, 7, size=3)
    picture = canvas.resize((size, size), Image.Resampling.LANCZOS)
    array = np.asarray(picture).astype(np.int16)
    coloured = (array < 250).any(axis=-1, keepdims=True)
    return Image.fromarray(np.clip(array + coloured * jitter, 0, 255).astype(np.uint8))
