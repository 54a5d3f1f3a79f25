"""Signed image-URL tokens: only `<ASCII digits>.<64 hex>` of bounded length is ever parsed, so any
other text is refused without raising."""

from __future__ import annotations

import pytest

from gesso.governance.signed_urls import MAX_TOKEN_CHARS, image_token_valid, sign_image_token

KEY = b"k" * 32
HEX = "0" * 64


def test_a_token_made_for_the_image_is_valid_until_it_expires():
    token = sign_image_token(KEY, "img_1", 2_000)
    assert image_token_valid(KEY, "img_1", token, now=1_000)
    assert not image_token_valid(KEY, "img_1", token, now=2_001)
    assert not image_token_valid(KEY, "img_2", token, now=1_000)


@pytest.mark.parametrize(
    "token",
    ["\u0661\u0662\u0663." + HEX, "\u00b2." + HEX, "\uff11." + HEX, "9" * 5000 + "." + HEX, "9" * 13 + "." + HEX,
     "1." + HEX.upper(), "1." + HEX + "\n", " 1." + HEX, "-1." + HEX, "1." + HEX[:-1], "", ".", "x" * 10_000],
)
def test_malformed_token_is_refused_without_raising(token):
    assert not image_token_valid(KEY, "img_1", token, now=0)


def test_an_id_no_image_can_have_is_refused_without_raising():
    assert not image_token_valid(KEY, "img_\ud800", "1." + HEX, now=0)


def test_the_longest_token_sign_makes_fits_the_bound():
    assert len(sign_image_token(KEY, "img_1", 10**12 - 1)) <= MAX_TOKEN_CHARS
