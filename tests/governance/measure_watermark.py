"""Measure the watermark's bit-error rate and invisibility on emoji images (not a test).

    .venv/bin/python -m tests.governance.measure_watermark [--corpus corpus/base] [--count 200]

Reads the emoji corpus (64 px, white backgrounds) when it is there, otherwise the synthetic
emoji of `emoji_images.py`; upscales each to the delivery size, embeds a random identifier, and
reads it back clean, after JPEG quality 85 and 75, and from unmarked images (false positives).
The numbers in docs/SECURITY.md come from this script.
"""

from __future__ import annotations

import argparse
import io
import json
import random
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from gesso.governance import provenance_watermark as watermark
from tests.governance.emoji_images import emoji_image


def jpeg(image: Image.Image, quality: int) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    buffer.seek(0)
    return Image.open(buffer)


def corpus_images(root: Path, count: int) -> list[Image.Image]:
    rows = [
        json.loads(line)
        for line in (root / "metadata.jsonl").read_text().splitlines()
        if line.strip()
    ]
    random.Random(0).shuffle(rows)
    return [Image.open(root / row["file_name"]).convert("RGB") for row in rows[:count]]


def measure(images: list[Image.Image], size: int) -> dict[str, float]:
    watermark.MIN_SIZE = size
    rng = random.Random(1)
    errors = {"clean": 0, "jpeg85": 0, "jpeg75": 0}
    decoded = dict.fromkeys(errors, 0)
    psnr, false_positives = [], 0
    for image in tqdm(images, desc=f"{size}px", leave=False):
        delivered = (
            image.resize((size, size), Image.Resampling.LANCZOS) if image.width != size else image
        )
        image_id = rng.getrandbits(64)
        marked = watermark.embed_watermark(delivered, image_id)
        truth = watermark.payload_bits(image_id)
        for name, candidate in (
            ("clean", marked),
            ("jpeg85", jpeg(marked, 85)),
            ("jpeg75", jpeg(marked, 75)),
        ):
            reading = watermark.read_watermark(candidate)
            errors[name] += int(np.sum(np.array(reading.bits) != truth))
            decoded[name] += int(reading.found and reading.image_id == image_id)
        a, b = np.asarray(delivered, float), np.asarray(marked, float)
        psnr.append(10 * np.log10(255**2 / np.mean((a - b) ** 2)))
        false_positives += watermark.read_watermark(delivered).found
    watermark.MIN_SIZE = 256
    n = len(images)
    out = {f"ber_{k}": errors[k] / (n * watermark.CODED_BITS) for k in errors}
    out |= {f"ids_read_{k}": f"{decoded[k]}/{n}" for k in decoded}
    out |= {
        "psnr_mean_db": round(float(np.mean(psnr)), 1),
        "psnr_min_db": round(float(np.min(psnr)), 1),
    }
    out["false_positives_unmarked"] = f"{false_positives}/{n}"
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=Path("corpus/base"))
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--sizes", default="64,128,256")
    args = parser.parse_args()
    if (args.corpus / "metadata.jsonl").exists():
        images, source = corpus_images(args.corpus, args.count), str(args.corpus)
    else:
        images, source = [emoji_image(i) for i in range(args.count)], "synthetic emoji"
    print(f"{len(images)} images from {source}")  # noqa: T201 (a measurement script's output)
    for size in (int(s) for s in args.sizes.split(",")):
        print(size, json.dumps(measure(images, size)))  # noqa: T201


if __name__ == "__main__":
    main()
