"""Get a blocked term past the policy with look-alike letters, invisible characters, separators and
masks; and make sure ordinary words that merely contain a term still pass."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gesso.governance import blocked_terms
from gesso.governance.content_policy import ContentPolicy, check_captions, find_blocked_term
from gesso.governance.text_skeleton import fold, prototypes

TERMS = ("bomb", "nerve agent", "acme", "kill")

# Default-ignorable code points of many kinds: zero-width, soft hyphen, bidi, variation selectors,
# Hangul fillers, tags, Mongolian, shorthand and musical format controls.
IGNORABLES = [chr(cp) for cp in (
    0x00AD, 0x034F, 0x061C, 0x115F, 0x1160, 0x17B4, 0x180B, 0x180E, 0x200B, 0x200C, 0x200D,
    0x200E, 0x202A, 0x202E, 0x2060, 0x2064, 0x2066, 0x3164, 0xFE00, 0xFE0F, 0xFEFF, 0xFFA0,
    0x1BCA0, 0x1D173, 0xE0001, 0xE0020, 0xE0100, 0xE01EF,
)]
SEPARATORS = [" ", "-", "_", ".", ",", ":", ";", "\n", "\t", "~", "=", '"', "'", "^", "&",
              "*", "#", "?", "\u00a0", "\u2800", "\u3000", "\u2028", "\u00b7"]
# Every non-ASCII character that reads as a given letter, found from the UTS #39 data itself.
LOOKALIKES = {
    letter: sorted({c for c in prototypes() if not c.isascii() and fold(c) == letter})
    for letter in set("".join(TERMS).replace(" ", ""))
}


def obfuscated(draw: st.DrawFn, term: str) -> str:
    letters = term.replace(" ", "")
    out = []
    for i, letter in enumerate(letters):
        if draw(st.booleans()) and LOOKALIKES[letter]:
            letter = draw(st.sampled_from(LOOKALIKES[letter]))
        if draw(st.booleans()):
            letter = letter.upper()
        out.append(letter)
        if i < len(letters) - 1:
            filler = draw(st.lists(st.sampled_from(SEPARATORS + IGNORABLES), max_size=3))
            out.append("".join(filler))
    return "".join(out)


@st.composite
def obfuscated_prompt(draw: st.DrawFn) -> tuple[str, str]:
    term = draw(st.sampled_from(TERMS))
    return term, f"a {obfuscated(draw, term)} on a table"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(obfuscated_prompt())
def test_a_term_with_lookalikes_separators_and_invisibles_inserted_is_refused(case):
    term, text = case
    assert find_blocked_term(text, TERMS) == term, ascii(text)


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(TERMS), st.data())
def test_a_term_with_one_letter_masked_is_refused(term, data):
    letters = term.replace(" ", "")
    hidden = data.draw(st.integers(1, len(letters) - 2))
    mask = data.draw(st.sampled_from(sorted(blocked_terms.MASKS)))
    text = f"draw {letters[:hidden]}{mask}{letters[hidden + 1:]} now"
    assert find_blocked_term(text, TERMS) == term, text


@pytest.mark.parametrize(
    "text",
    [
        "a ʙᴏᴍʙ",  # small capitals (UTS #39 keeps them apart from lower case; read by name)
        "ʙᴏᴍʙ".upper(),
        "a b\u0585mb",  # Armenian օ
        "a bømb",
        "a ɓomb",
        "a вомв",  # Cyrillic в and м (lower case, whose prototypes are ʙ and ʍ)
        "a 🅱\ufe0fomb",
        "🇧🇴🇲🇧",
        "a b\u3164omb",  # Hangul filler
        "a b\u2800omb",  # braille blank
        "a b\u200dom\u200db",  # zero-width joiners
        "a b\u00adomb",  # soft hyphen
        "a b\ufe0fo\ufe0em\U000e0100b",  # variation selectors
        "a bo mb",
        "a bo-mb",
        "a bo_mb",
        "a bo\nmb",
        "a b()mb",
        "a b*mb",
        "a b.o.m.b",
        "a b o o m b",  # stretched across separators
        "a tomb bomb",  # the b both words share
        "a B0MB!!!",
    ],
)
def test_every_listed_bypass_is_refused(text):
    assert find_blocked_term(text, TERMS) == "bomb"


@pytest.mark.parametrize(
    "text,term",
    [
        ("ᴋɪʟʟ them", "kill"),
        ("k*ll", "kill"),
        ("n*rve ag*nt", "nerve agent"),
        ("ɴᴇʀᴠᴇ\u2800ᴀɢᴇɴᴛ", "nerve agent"),
        ("the ᴀᴄᴍᴇ logo", "acme"),
        ("the \u0430\u0441\u043c\u0435 logo", "acme"),  # all Cyrillic
        ("kiII them", "kill"),  # capital I for l
        ("#bomb", "bomb"),
        ("**bomb**", "bomb"),
    ],
)
def test_other_terms_and_markup(text, term):
    assert find_blocked_term(text, TERMS) == term


@pytest.mark.parametrize(
    "text",
    [
        "a bomber jacket",
        "a trip to bombay",
        "a bombastic speech",
        "a tomb in the desert",
        "tombomb",  # no word starts at its b
        "skill tree",
        "a killer whale",
        "acmeology",
        "a nervous agent of change",
        "Bo Mbappé scores",
        "b**b",  # two of four letters hidden is too ambiguous (boob, bomb, barb...)
        "*omb",  # a hidden first letter: tomb? womb?
        "| 2 | on | 4.15 | 3.42 s | 4.53 s |",  # numbers are not leetspeak
        "a cute cat wearing a hat, flat style",
    ],
)
def test_words_that_merely_contain_a_term_pass(text):
    assert find_blocked_term(text, TERMS) is None


def test_words_that_together_spell_a_term_are_refused():
    """The documented trade-off of ignoring separators between a term's letters."""
    assert find_blocked_term("an al capone movie", ("anal",)) == "anal"
    assert find_blocked_term("an alley", ("anal",)) is None


def test_terms_are_read_the_same_way_as_texts():
    assert find_blocked_term("a bomb", ("ʙᴏᴍʙ",)) == "ʙᴏᴍʙ"
    assert find_blocked_term("a b\u200bomb", ("b-o-m-b",)) == "b-o-m-b"
    assert find_blocked_term("a bomb", ("", "***", "\u200b")) is None  # terms with no letters
    assert find_blocked_term("бомба!", ("БОМБА",)) == "БОМБА"  # any script is case-blind


def test_the_first_listed_term_is_reported():
    assert find_blocked_term("kill the bomb", ("bomb", "kill")) == "bomb"
    assert find_blocked_term("kill the bomb", ("kill", "bomb")) == "kill"


def test_a_text_built_to_exhaust_the_mask_search_is_refused(monkeypatch):
    terms = ("ba" * 20 + "x",)
    assert find_blocked_term("b*a*" * 30, terms) is None  # within the budget: searched, no match
    monkeypatch.setattr(blocked_terms, "MASK_SEARCH_STEPS", 50)
    assert find_blocked_term("b*a*" * 30, terms) == terms[0]  # out of budget: refused
    assert find_blocked_term("a b*mb", ("bomb",)) == "bomb"  # an ordinary text stays well inside


def test_a_caption_written_in_lookalikes_is_refused():
    policy = ContentPolicy(blocked_terms=TERMS)
    violation = check_captions(["red circle", "a ʙᴏᴍʙ, flat style"], policy)
    assert violation is not None and violation.field == "caption[1]" and violation.matched == "bomb"


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200) | st.text(st.characters(categories=["Cs", "Cf", "Mn", "Zs", "So"])))
def test_any_text_is_checked_without_error(text):
    assert find_blocked_term(text, TERMS) in (*TERMS, None)
