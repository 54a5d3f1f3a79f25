"""The blocked-terms rule: does a text contain one of a tenant's terms, however it is spelled?

Both the text and each term go through the same reading:

1. `text_skeleton.fold`: default-ignorable characters removed (zero-width characters, soft
   hyphen, variation selectors, Hangul fillers), NFKC, case folding, UTS #39 confusable prototypes
   (look-alike letters of any script, small capitals, letters with strokes or hooks), marks dropped.
2. ASCII art for letters: `()`, `[]`, `{}` read as o; `|\\/|` and `/\\/\\` as m, `\\/\\/` as w,
   `\\/` as v, `/\\` as a, `|<` as k, `|)` as d, `|-|` as h, `|_|` as u.
3. Leetspeak: 0 o, 1 i, 3 e, 4 a, 5 s, 7 t, 8 b, @ a, $ s; inside a word also ! i, | l, + t
   (at a word's edge those are punctuation). A number of two or more digits alone ("2024", the
   "15" of "4.15") stays a number. A second reading takes every 1 and every capital I as l
   ("ki11", "kiII"); one text is not read with some of them as i and others as l.
4. What is left is letters (any character Unicode calls a letter or a digit), masks (`*`, `?`,
   `#`, `_`) and separators (everything else: spaces, line breaks, punctuation, symbols, visible
   blanks such as the braille blank U+2800). Separators and masks are dropped and the letters
   joined; a letter repeated (even across a separator) counts once.

A term matches when its letters appear in that letter sequence starting where a word starts and
ending where a word ends (a plural "s" or "es" may follow). So, for the term "bomb":

- refused: "bomb", "BOMBS", "a-bomb", "bo mb", "bo-mb", "bo_mb", "bo\\nmb", "b.o.m.b", "b o m b",
  "b()mb", "b0mb", "ʙᴏᴍʙ", "bømb", "ɓomb", "b\\u200bomb", "b\\u2800omb", "tomb bomb";
- allowed: "bomber jacket", "bombay", "a bombastic speech", "tombomb" (no word starts at its b).

A mask may also stand for one hidden letter inside a term ("b*mb", "k*ll", "n*rve ag*nt"): never
the first or last letter, and at most one hidden letter per four letters of the term ("b**b"
could as well be "boob", "*omb" could be "tomb").

The trade-off: since separators between a term's letters are ignored, whole words that together
spell a term are refused too ("an al" for a term "anal"; "the rapist" for "therapist"). That is
the price of refusing "bo mb" and "b.o.m.b"; a word that merely contains a term ("skill",
"bomber") is still allowed.

Cost: terms are indexed by their first letter and the next letter the text shows, so a
4,000-character prompt against a few hundred terms takes milliseconds; no regular expression is
built from terms. The mask search has a fixed step budget per text (`MASK_SEARCH_STEPS`): a text
built to exhaust it (thousands of masks against long, nearly matching terms) is refused, naming
the term being searched, rather than let through unchecked.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Sequence

from gesso.governance.text_skeleton import fold

# Digits and symbols people type for letters; "1" is tried both as i and l.
_LEET = {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b",
         "@": "a", "$": "s", "!": "i", "|": "l", "+": "t"}
LEET_I = str.maketrans(_LEET)
LEET_L = str.maketrans({**_LEET, "1": "l"})
_EDGE_ONLY = "!|+"  # letters inside a word, punctuation at its edge ("k!ll", "bomb!")
_ASCII_ART = {
    "|\\/|": "m", "/\\/\\": "m", "\\/\\/": "w", "|-|": "h", "|_|": "u",
    "()": "o", "[]": "o", "{}": "o", "\\/": "v", "/\\": "a", "|<": "k", "|)": "d",
}
_ART = re.compile("|".join(re.escape(k) for k in sorted(_ASCII_ART, key=len, reverse=True)))
_LEET_SYMBOLS = re.escape("".join(k for k in _LEET if not k.isalnum()))
_WORDISH = re.compile(f"(?:[^\\W_]|[{_LEET_SYMBOLS}])+")
MASKS = frozenset("*?#_")
# Steps of the mask search (below) one text may take. Ordinary prompts take a few hundred; only a
# text built to make long, look-alike terms almost match at every word needs more, and is refused.
MASK_SEARCH_STEPS = 200_000
_MASK = "\x00"  # one run of masks in a letter sequence (a control character is never a letter)


@dataclass(frozen=True)
class Letters:
    """A text's letter sequence: `letters` (a run of masks is one `_MASK`), where words start and
    end, and how many masks each run holds."""

    letters: str
    starts: frozenset[int]  # indexes where a word starts
    ends: frozenset[int]  # indexes just past a word's last letter
    runs: dict[int, int]  # index of a _MASK -> masks in that run


def _prepared(text: str) -> str:
    """Steps 1 and 2 of the module docstring."""
    return _ART.sub(lambda m: _ASCII_ART[m.group()], fold(text))


def _with_leet(prepared: str, leet: dict[int, str]) -> str:
    """Step 3: leetspeak read inside words; "!", "|", "+" at a word's edge become separators."""

    def word(match: re.Match[str]) -> str:
        chunk = match.group()
        core = chunk.strip(_EDGE_ONLY)
        if not core:
            return " " * len(chunk)
        left = len(chunk) - len(chunk.lstrip(_EDGE_ONLY))
        right = len(chunk) - len(chunk.rstrip(_EDGE_ONLY))
        if len(core) > 1 and core.isdigit():
            return chunk  # a number ("4.15 s"), not letters
        return " " * left + core.translate(leet) + " " * right

    return _WORDISH.sub(word, prepared)


def _sequence(prepared: str, leet: dict[int, str]) -> Letters:
    out: list[str] = []
    starts: set[int] = set()
    ends: set[int] = set()
    runs: dict[int, int] = {}
    at_break, in_word = True, False
    for char in _with_leet(prepared, leet):
        if char.isalnum():
            if out and out[-1] == char:  # a repeat, possibly across a separator ("tomb bomb")
                if at_break:
                    starts.add(len(out) - 1)
            else:
                if at_break:
                    starts.add(len(out))
                out.append(char)
            at_break, in_word = False, True
            continue
        if in_word:
            ends.add(len(out))
            in_word = False
        at_break = True
        if char in MASKS:
            if out and out[-1] == _MASK:
                runs[len(out) - 1] += 1
            else:
                runs[len(out)] = 1
                out.append(_MASK)
    if in_word:
        ends.add(len(out))
    return Letters("".join(out), frozenset(starts), frozenset(ends), runs)


def letter_sequence(text: str, leet: dict[int, str] = LEET_I) -> Letters:
    """The letters of `text` with separators dropped and repeats collapsed (module docstring)."""
    return _sequence(_prepared(text), leet)


@dataclass(frozen=True)
class _Term:
    order: int
    text: str  # as the tenant listed it
    letters: str  # collapsed letter sequence, masks dropped
    hidden: int  # how many of its letters masks may stand for


@dataclass
class _Index:
    """Terms by their first letter and the letter a text shows next: `shown[q][(a, b)]` holds
    the terms whose first letter is a and whose letter q+1 is b (q letters hidden before it)."""

    single: dict[str, list[_Term]]
    shown: dict[int, dict[tuple[str, str], list[_Term]]]


@lru_cache(maxsize=64)
def _compile(terms: tuple[str, ...]) -> _Index:
    """A policy's term tuple, compiled once and reused for every text it checks."""
    index = _Index({}, {})
    for order, term in enumerate(terms):
        prepared = _with_leet(_prepared(term), LEET_I)
        seq = re.sub(r"(.)\1+", r"\1", "".join(c for c in prepared if c.isalnum()))
        if not seq:
            continue
        entry = _Term(order, term, seq, sum(c.isalnum() for c in prepared) // 4)
        if len(seq) == 1:
            index.single.setdefault(seq, []).append(entry)
            continue
        for q in range(min(entry.hidden, len(seq) - 2) + 1):
            index.shown.setdefault(q, {}).setdefault((seq[0], seq[q + 1]), []).append(entry)
    return index


def _ends_here(seq: Letters, at: int) -> bool:
    if at in seq.ends:
        return True
    for plural in ("s", "es"):
        if seq.letters.startswith(plural, at) and at + len(plural) in seq.ends:
            return True
    return False


class _SearchTooLong(Exception):
    def __init__(self, term: _Term):
        self.term = term


def _matches(term: _Term, seq: Letters, start: int, steps: list[int]) -> bool:
    """Whether `term` matches at `start`, each run of masks skipped or standing for letters.

    `steps` is the text's remaining search budget (one counter shared by every call)."""
    letters, want = seq.letters, term.letters
    if letters.startswith(want, start) and _ends_here(seq, start + len(want)):
        return True
    if not seq.runs:
        return False
    todo = [(1, start + 1, 0)]  # (letters of the term matched, position in seq, letters hidden)
    seen: set[tuple[int, int, int]] = set()
    while todo:
        state = todo.pop()
        if state in seen:
            continue
        seen.add(state)
        steps[0] -= 1
        if steps[0] < 0:
            raise _SearchTooLong(term)
        i, at, hidden = state
        if i == len(want):
            if _ends_here(seq, at):
                return True
            continue
        if at >= len(letters):
            continue
        here = letters[at]
        if here == _MASK:
            todo.append((i, at + 1, hidden))  # the masks are only a separator
            most = min(seq.runs[at], term.hidden - hidden, len(want) - 1 - i)
            todo.extend((i + q, at + 1, hidden + q) for q in range(1, most + 1))
        elif here == want[i]:
            todo.append((i + 1, at + 1, hidden))
    return False


def _candidates(index: _Index, seq: Letters, start: int) -> list[_Term]:
    letters = seq.letters
    first = letters[start]
    found = list(index.single.get(first, ()))
    after = start + 1
    if after >= len(letters):
        return found
    run = 0
    if letters[after] == _MASK:
        run = seq.runs[after]
        after += 1
        if after >= len(letters):
            return found
    shown = letters[after]
    if run == 0:
        return found + index.shown.get(0, {}).get((first, shown), [])
    for q, by_letters in index.shown.items():
        if q <= run:
            found += by_letters.get((first, shown), ())
    return found


def _first_match(index: _Index, seq: Letters, steps: list[int]) -> _Term | None:
    best: _Term | None = None
    for start in seq.starts:
        for term in _candidates(index, seq, start):
            if (best is None or term.order < best.order) and _matches(term, seq, start, steps):
                best = term
    return best


def find_blocked_term(text: str, terms: Sequence[str]) -> str | None:
    """The first listed term that `text` contains (module docstring), or None."""
    if not terms or not text:
        return None
    index = _compile(tuple(terms))
    prepared = _prepared(text)
    readings = [(prepared, LEET_I)]
    compatible = unicodedata.normalize("NFKC", text)
    if "1" in prepared or "I" in compatible:  # the second reading differs only there
        readings.append((_prepared(compatible.replace("I", "l")), LEET_L))
    steps = [MASK_SEARCH_STEPS]
    hits = []
    for reading, leet in readings:
        try:
            hit = _first_match(index, _sequence(reading, leet), steps)
        except _SearchTooLong as too_long:  # refused rather than let through unchecked
            return too_long.term.text
        if hit is not None:
            hits.append(hit)
    return min(hits, key=lambda t: t.order).text if hits else None
