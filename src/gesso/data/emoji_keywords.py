"""The words people use for each emoji, from three npm packages, keyed by normalised hexcode.

- emojibase-data (MIT): shortcodes of the emojibase and GitHub sets (tags come with the labels);
- emojilib (MIT): keywords, the first of which is the emoji's own slug;
- cldr-annotations-full (Unicode-3.0): CLDR's English keywords and its text-to-speech name.

Skin-tone variants carry no words of their own in any of them: they take their base emoji's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from gesso.data.emoji_corpus import normalise_hex

SHORTCODE_SETS = ("emojibase", "github")


@dataclass(frozen=True)
class EmojiWords:
    shortcodes: tuple[str, ...] = ()  # as words: "thumbs_up" -> "thumbs up"
    keywords: tuple[str, ...] = ()  # emojilib
    cldr_keywords: tuple[str, ...] = ()
    cldr_name: str = ""


def char_hex(emoji: str) -> str:
    """Normalised hexcode of an emoji string: '❤️' -> '2764'."""
    return normalise_hex("-".join(f"{ord(c):X}" for c in emoji))


def _as_words(code: str) -> str:
    return code.replace("_", " ").replace("-", " ").strip(": ").lower()


def _unique(words) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for word in words:
        word = word.strip()
        if word and word.lower() not in (w.lower() for w in seen):
            seen[word] = None
    return tuple(seen)


def load_shortcodes(emojibase_dir: Path) -> dict[str, tuple[str, ...]]:
    found: dict[str, list[str]] = {}
    for name in SHORTCODE_SETS:
        path = emojibase_dir / "en" / "shortcodes" / f"{name}.json"
        for code, value in json.loads(path.read_text(encoding="utf-8")).items():
            values = [value] if isinstance(value, str) else list(value)
            found.setdefault(normalise_hex(code), []).extend(_as_words(v) for v in values)
    return {code: _unique(words) for code, words in found.items()}


def load_emojilib(emojilib_dir: Path) -> dict[str, tuple[str, ...]]:
    entries = json.loads((emojilib_dir / "dist" / "emoji-en-US.json").read_text(encoding="utf-8"))
    return {
        char_hex(emoji): _unique(_as_words(w) for w in words) for emoji, words in entries.items()
    }


def load_cldr(cldr_dir: Path) -> dict[str, tuple[tuple[str, ...], str]]:
    path = cldr_dir / "annotations" / "en" / "annotations.json"
    entries = json.loads(path.read_text(encoding="utf-8"))["annotations"]["annotations"]
    return {
        char_hex(emoji): (_unique(entry.get("default") or ()), " ".join(entry.get("tts") or ()))
        for emoji, entry in entries.items()
    }


def load_emoji_words(
    emojibase_dir: Path, emojilib_dir: Path, cldr_dir: Path
) -> dict[str, EmojiWords]:
    """Map normalised hexcode -> EmojiWords, for every emoji any of the three sources knows."""
    shortcodes = load_shortcodes(emojibase_dir)
    keywords = load_emojilib(emojilib_dir)
    cldr = load_cldr(cldr_dir)
    words = {}
    for code in set(shortcodes) | set(keywords) | set(cldr):
        cldr_keywords, cldr_name = cldr.get(code, ((), ""))
        words[code] = EmojiWords(
            shortcodes=shortcodes.get(code, ()),
            keywords=keywords.get(code, ()),
            cldr_keywords=cldr_keywords,
            cldr_name=cldr_name,
        )
    return words
