"""Build Gesso's emoji training corpus from the npm emoji packages.

Google and Twitter images (64x64 PNG) are the base model's corpus; Fluent 3D images are the
brand-style set kept apart for fine-tuning. Labels and tags come from emojibase.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass
from pathlib import Path

from PIL import Image
from tqdm import tqdm

from gesso.data.dataset_format import DatasetRow, write_metadata
from gesso.data.npm_packages import EMOJI_PACKAGES, fetch_package


@dataclass(frozen=True)
class StyleSource:
    style: str
    package: str
    licence: str
    phrase: str


STYLES: dict[str, StyleSource] = {
    "google": StyleSource("google", "emoji-datasource-google", "Apache-2.0", "cartoon style"),
    "twitter": StyleSource("twitter", "emoji-datasource-twitter", "CC-BY-4.0", "flat style"),
    "fluent3d": StyleSource("fluent3d", "@lobehub/fluent-emoji-3d", "MIT", "3d style"),
}
BASE_STYLES = ("google", "twitter")
IMAGE_SIZE = 64


@dataclass(frozen=True)
class EmojiLabel:
    concept: str  # canonical label of the base emoji, e.g. "waving hand"
    concept_id: str  # normalised hexcode of the base emoji
    label: str  # label of this variant, e.g. "waving hand, medium skin tone"
    tags: tuple[str, ...]
    group: int | None


def normalise_hex(code: str) -> str:
    """Hexcode without FE0F variation selectors or leading zeros, upper case: '1F44B-1F3FD'."""
    parts = [p.lstrip("0").upper() or "0" for p in code.replace("_", "-").split("-")]
    return "-".join(p for p in parts if p != "FE0F")


def load_labels(emojibase_dir: Path) -> dict[str, EmojiLabel]:
    """Map each normalised hexcode (skin variants included) to its label and tags."""
    entries = json.loads((emojibase_dir / "en" / "data.json").read_text(encoding="utf-8"))
    labels: dict[str, EmojiLabel] = {}
    for entry in entries:
        concept = entry["label"].strip()
        concept_id = normalise_hex(entry["hexcode"])
        tags = tuple(entry.get("tags") or ())
        group = entry.get("group")
        labels[concept_id] = EmojiLabel(concept, concept_id, concept, tags, group)
        for skin in entry.get("skins") or ():
            label = skin["label"].replace(": ", ", ").strip()
            labels[normalise_hex(skin["hexcode"])] = EmojiLabel(
                concept, concept_id, label, tags, group
            )
    return labels


def caption(label: EmojiLabel, style: StyleSource) -> str:
    """Natural-language caption: 'waving hand, medium skin tone, flat style'."""
    return f"{label.label}, {style.phrase}"


def _rgba_to_rgb(image: Image.Image, size: int) -> Image.Image:
    image = image.convert("RGBA")
    if image.size != (size, size):
        image = image.resize((size, size), Image.Resampling.LANCZOS)
    canvas = Image.new("RGBA", image.size, (255, 255, 255, 255))
    return Image.alpha_composite(canvas, image).convert("RGB")


def _datasource_images(package_dir: Path, style: str) -> list[tuple[str, Path]]:
    entries = json.loads((package_dir / "emoji.json").read_text(encoding="utf-8"))
    found = []
    for entry in entries:
        variants = [entry] + list((entry.get("skin_variations") or {}).values())
        for variant in variants:
            path = package_dir / "img" / style / "64" / variant["image"]
            if path.is_file():
                found.append((normalise_hex(variant["unified"]), path))
    return found


def _fluent_images(package_dir: Path) -> list[tuple[str, Path]]:
    return [(normalise_hex(p.stem), p) for p in sorted((package_dir / "assets").glob("*.webp"))]


def build_emoji_corpus(
    out_dir: Path,
    cache_dir: Path,
    styles: tuple[str, ...] = BASE_STYLES,
    size: int = IMAGE_SIZE,
    limit: int | None = None,
) -> list[DatasetRow]:
    """Fetch the packages, write `out_dir/<style>/<hex>.png` and `metadata.jsonl`; return rows.

    Images without an emojibase label are skipped (they have no caption to learn from), and so is
    an image whose bytes or emoji repeat an earlier one: a package draws several emoji with one
    placeholder picture (Twemoji's families, flags of territories that fly another's flag), and one
    picture under two captions teaches neither; Fluent ships some emoji both with and without the
    FE0F selector, which name the same emoji.
    """
    unknown = [s for s in styles if s not in STYLES]
    if unknown:
        raise ValueError(f"unknown style(s): {', '.join(unknown)}; choose from {', '.join(STYLES)}")
    labels = load_labels(fetch_package("emojibase-data", EMOJI_PACKAGES["emojibase-data"], cache_dir))
    rows: list[DatasetRow] = []
    seen_images: set[str] = set()  # sha256 of the written PNG
    seen_names: set[str] = set()
    for style_name in styles:
        style = STYLES[style_name]
        version = EMOJI_PACKAGES[style.package]
        package_dir = fetch_package(style.package, version, cache_dir)
        images = (
            _fluent_images(package_dir)
            if style_name == "fluent3d"
            else _datasource_images(package_dir, style_name)
        )
        images = [(code, path) for code, path in images if code in labels][:limit]
        (out_dir / style_name).mkdir(parents=True, exist_ok=True)
        for code, path in tqdm(images, desc=f"corpus {style_name}", unit="img"):
            label = labels[code]
            file_name = f"{style_name}/{code.lower()}.png"
            if file_name in seen_names:
                continue
            encoded = io.BytesIO()
            with Image.open(path) as image:
                _rgba_to_rgb(image, size).save(encoded, format="PNG", optimize=True)
            digest = hashlib.sha256(encoded.getvalue()).hexdigest()
            if digest in seen_images:
                continue
            seen_images.add(digest)
            seen_names.add(file_name)
            (out_dir / file_name).write_bytes(encoded.getvalue())
            rows.append(
                DatasetRow(
                    line=len(rows) + 1,
                    file_name=file_name,
                    text=caption(label, style),
                    extra={
                        "concept": label.concept,
                        "concept_id": label.concept_id,
                        "label": label.label,
                        "tags": list(label.tags),
                        "style": style_name,
                        "source": f"{style.package}@{version}",
                        "licence": style.licence,
                    },
                )
            )
    out_dir.mkdir(parents=True, exist_ok=True)
    write_metadata(out_dir, rows)
    return rows
