"""Build the RGBA emoji corpus from vector sets on npm, rendered at any size with resvg.

Styles: Noto (Apache-2.0), Twemoji (CC-BY-4.0) and Fluent flat (MIT), each read from its
`@iconify-json/*` package. Every image is an RGBA PNG (the alpha channel is the drawing's own)
with several caption views (data/emoji_captions.py) built from emojibase, emojilib and CLDR, and
its concept id, so a held-out set of paraphrases can be scored per concept. The folder is in
Gesso's dataset format, plus `sources.json`: every package, version, licence and count.

    python -m gesso.data.vector_emoji_corpus --out corpus/base2 --size 128
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml
from tqdm import tqdm

from gesso.data.dataset_format import DatasetRow, write_metadata
from gesso.data.emoji_captions import StyleName, caption_views
from gesso.data.emoji_corpus import load_labels, normalise_hex
from gesso.data.emoji_keywords import EmojiWords, load_emoji_words
from gesso.data.iconify_sets import read_iconify_emoji
from gesso.data.npm_packages import EMOJI_PACKAGES, PackageFetchError, fetch_package
from gesso.data.svg_rendering import SvgRefused, render_svg


@dataclass(frozen=True)
class VectorStyle:
    style: str
    package: str
    licence: str
    name: StyleName


VECTOR_STYLES: dict[str, VectorStyle] = {
    "noto": VectorStyle(
        "noto", "@iconify-json/noto", "Apache-2.0", StyleName("cartoon style", "noto style")
    ),
    "twemoji": VectorStyle(
        "twemoji", "@iconify-json/twemoji", "CC-BY-4.0", StyleName("flat style", "twemoji style")
    ),
    "fluent-flat": VectorStyle(
        "fluent-flat",
        "@iconify-json/fluent-emoji-flat",
        "MIT",
        StyleName("fluent style", "fluent emoji style"),
    ),
}
VECTOR_BASE_STYLES = ("noto", "twemoji", "fluent-flat")
CAPTION_SOURCES = {
    "emojibase-data": "MIT",
    "emojilib": "MIT",
    "cldr-annotations-full": "Unicode-3.0",
}
SOURCES_FILE = "sources.json"


def _prompt_key(text: str) -> str:
    return " ".join(text.lower().replace(",", " ").split())


def build_vector_emoji_corpus(
    out_dir: Path,
    cache_dir: Path,
    styles: tuple[str, ...] = VECTOR_BASE_STYLES,
    size: int = 128,
    limit: int | None = None,
    held_out: tuple[str, ...] = (),
    progress: bool = True,
) -> list[DatasetRow]:
    """Fetch the packages, write `out_dir/<style>/<hex>.png`, `metadata.jsonl`, `sources.json`.

    Skipped: emoji without an emojibase label (no caption to learn from), an image whose emoji or
    bytes repeat an earlier one, an SVG the renderer refuses (counted in sources.json), and any
    caption view equal to a `held_out` prompt, so paraphrases kept for evaluation are never trained
    on. Raises ValueError for an unknown style, PackageFetchError when npm cannot deliver.
    """
    unknown = [s for s in styles if s not in VECTOR_STYLES]
    if unknown:
        choices = ", ".join(VECTOR_STYLES)
        raise ValueError(f"unknown style(s): {', '.join(unknown)}; choose from {choices}")
    fetched = {
        name: fetch_package(name, EMOJI_PACKAGES[name], cache_dir) for name in CAPTION_SOURCES
    }
    labels = load_labels(fetched["emojibase-data"])
    words = load_emoji_words(
        fetched["emojibase-data"], fetched["emojilib"], fetched["cldr-annotations-full"]
    )
    held = {_prompt_key(p) for p in held_out}
    rows: list[DatasetRow] = []
    seen_images: set[str] = set()
    counts: dict[str, dict[str, int]] = {}
    for style_name in styles:
        style = VECTOR_STYLES[style_name]
        version = EMOJI_PACKAGES[style.package]
        emoji = read_iconify_emoji(fetch_package(style.package, version, cache_dir))
        labelled = [(normalise_hex(e.code), e) for e in emoji if normalise_hex(e.code) in labels][
            :limit
        ]
        count = counts[style_name] = {
            "in_package": len(emoji),
            "images": 0,
            "refused": 0,
            "repeated": 0,
            "empty": 0,
        }
        (out_dir / style_name).mkdir(parents=True, exist_ok=True)
        seen_codes: set[str] = set()
        for code, item in tqdm(
            labelled, desc=f"render {style_name}", unit="img", disable=not progress
        ):
            if code in seen_codes:
                count["repeated"] += 1
                continue
            seen_codes.add(code)
            try:
                image = render_svg(item.svg, size)
            except SvgRefused:
                count["refused"] += 1
                continue
            encoded = io.BytesIO()
            image.save(encoded, format="PNG", optimize=True)
            digest = hashlib.sha256(encoded.getvalue()).hexdigest()
            if image.getchannel("A").getbbox() is None:
                count["empty"] += 1
                continue
            if digest in seen_images:  # a placeholder picture drawn for several emoji
                count["repeated"] += 1
                continue
            seen_images.add(digest)
            label = labels[code]
            # a skin-tone variant has only tone-coded shortcodes of its own: it takes its base's words
            variant_words = words.get(label.concept_id) or EmojiWords()
            file_name = f"{style_name}/{code.lower()}.png"
            views = caption_views(
                label.concept, label.label, label.tags, variant_words, style.name, file_name
            )
            views = [v for v in views if _prompt_key(v) not in held]
            if not views:
                continue
            (out_dir / file_name).write_bytes(encoded.getvalue())
            count["images"] += 1
            rows.append(
                DatasetRow(
                    line=len(rows) + 1,
                    file_name=file_name,
                    text=views[0],
                    extra={
                        "captions": views,
                        "concept": label.concept,
                        "concept_id": label.concept_id,
                        "label": label.label,
                        "tags": list(label.tags),
                        "shortcodes": list(variant_words.shortcodes),
                        "keywords": list(variant_words.keywords[1:]),
                        "style": style_name,
                        "style_phrase": style.name.phrase,
                        "source": f"{style.package}@{version}",
                        "licence": style.licence,
                    },
                )
            )
    out_dir.mkdir(parents=True, exist_ok=True)
    write_metadata(out_dir, rows)
    _write_sources(out_dir, styles, counts, size)
    return rows


def _write_sources(out_dir: Path, styles: tuple[str, ...], counts: dict, size: int) -> None:
    sources = {
        "image_size": size,
        "styles": {
            name: {
                "package": VECTOR_STYLES[name].package,
                "version": EMOJI_PACKAGES[VECTOR_STYLES[name].package],
                "licence": VECTOR_STYLES[name].licence,
                "style_phrase": VECTOR_STYLES[name].name.phrase,
                "style_alias": VECTOR_STYLES[name].name.alias,
                **counts[name],
            }
            for name in styles
        },
        "captions": {
            name: {"version": EMOJI_PACKAGES[name], "licence": licence}
            for name, licence in CAPTION_SOURCES.items()
        },
    }
    (out_dir / SOURCES_FILE).write_text(json.dumps(sources, indent=2) + "\n")


def read_held_out_prompts(path: Path) -> tuple[str, ...]:
    """The prompts of a paraphrase file (as `configs/paraphrases.yaml`: {prompt, concept} each)."""
    return tuple(str(entry["prompt"]) for entry in yaml.safe_load(path.read_text(encoding="utf-8")) or ())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="the corpus folder to write")
    parser.add_argument(
        "--cache", type=Path, default=Path(".npm-packs"), help="where npm tarballs are kept"
    )
    parser.add_argument("--size", type=int, default=128, help="pixels per side")
    parser.add_argument(
        "--styles", default=",".join(VECTOR_BASE_STYLES), help="comma-separated styles"
    )
    parser.add_argument(
        "--limit", type=int, default=None, help="at most this many images per style"
    )
    parser.add_argument(
        "--held-out", type=Path, default=None, help="paraphrase YAML never to train on"
    )
    args = parser.parse_args(argv)
    from gesso.data.validation import validate_dataset

    try:
        held_out = read_held_out_prompts(args.held_out) if args.held_out else ()
        styles = tuple(s.strip() for s in args.styles.split(",") if s.strip())
        rows = build_vector_emoji_corpus(
            args.out, args.cache, styles, args.size, args.limit, held_out
        )
    except (ValueError, OSError, PackageFetchError) as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    report = validate_dataset(args.out)
    if not report.ok:
        sys.stderr.write("error: " + report.summary().replace("\n", "; ") + "\n")
        return 2
    counts = json.loads((args.out / SOURCES_FILE).read_text())["styles"]
    summary = ", ".join(f"{name} {c['images']}" for name, c in counts.items())
    sys.stdout.write(f"{len(rows)} images ({summary}) in {args.out}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
