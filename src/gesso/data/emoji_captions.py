"""Caption views of one emoji image: its name and the words people use for it, with a style name.

Every view names the style (`..., cartoon style`, `... in noto style`), so the model learns the
style names prompts can use. Views are chosen with a random generator seeded by the image, so a
corpus rebuilt from the same packages has the same captions.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from gesso.data.emoji_keywords import EmojiWords

MAX_VIEWS = 5
KEYWORDS_PER_VIEW = 5


@dataclass(frozen=True)
class StyleName:
    phrase: str  # the main name, used by the canonical caption: "cartoon style"
    alias: str  # a second name prompts can use: "noto style"


def _words_of(label: str, tags: tuple[str, ...], words: EmojiWords) -> list[str]:
    """Keywords of the emoji that the label does not already say, in source order."""
    said = set(label.lower().replace(",", " ").split())
    pool = [*words.keywords[1:], *tags, *words.cldr_keywords]  # emojilib's first word is its slug
    kept: list[str] = []
    for word in pool:
        word = word.lower().strip()
        if word and word not in said and word not in kept and len(word) > 1:
            kept.append(word)
    return kept


def caption_views(
    concept: str, label: str, tags: tuple[str, ...], words: EmojiWords, style: StyleName, seed: str
) -> list[str]:
    """Up to MAX_VIEWS distinct captions; the first is the canonical '<label>, <style phrase>'.

    The others: the label with some keywords and the style's alias, keywords alone (a description
    without the name), a shortcode or CLDR name that differs from the label, and the label in the
    style's alias.
    """
    rng = random.Random(seed)
    keywords = _words_of(label, tags, words)
    # A variant's own words ("medium skin tone") stay in every view; load_labels writes a skin
    # label as the concept with ": " turned into ", ", then the tone.
    variant_of = f"{concept.replace(': ', ', ')}, "
    tone = label.removeprefix(variant_of) if label.startswith(variant_of) else ""
    views = [f"{label}, {style.phrase}"]
    if keywords:
        picked = rng.sample(keywords, min(3, len(keywords)))
        views.append(f"{label} ({', '.join(picked)}), {style.alias}")
    if len(keywords) >= 2:
        picked = rng.sample(keywords, min(KEYWORDS_PER_VIEW, len(keywords)))
        views.append(", ".join(picked + ([tone] if tone else []) + [style.phrase]))
    other_names = [
        n for n in (*words.shortcodes, words.cldr_name) if n and n.lower() != concept.lower()
    ]
    if other_names:
        name = rng.choice(other_names)
        views.append(
            f"{name}{', ' + tone if tone else ''}, {rng.choice((style.phrase, style.alias))}"
        )
    views.append(f"{label} in {style.alias}")
    unique: list[str] = []
    for view in views:
        if view.lower() not in (u.lower() for u in unique):
            unique.append(view)
    return unique[:MAX_VIEWS]
