from gesso.data.emoji_captions import MAX_VIEWS, StyleName, caption_views
from gesso.data.emoji_keywords import EmojiWords, char_hex

NOTO = StyleName("cartoon style", "noto style")
WORDS = EmojiWords(
    shortcodes=("wave",),
    keywords=("waving_hand", "hello", "goodbye", "gesture"),
    cldr_keywords=("hand", "hi", "bye"),
    cldr_name="waving hand",
)


def test_views_are_distinct_name_the_style_and_start_with_the_canonical_caption():
    views = caption_views(
        "waving hand", "waving hand", ("hand", "wave"), WORDS, NOTO, "noto/1f44b.png"
    )
    assert views[0] == "waving hand, cartoon style"
    assert 3 <= len(views) <= MAX_VIEWS and len({v.lower() for v in views}) == len(views)
    assert all("cartoon style" in v or "noto style" in v for v in views)
    assert any("waving hand" not in v for v in views)  # a description without the name
    assert "waving_hand" not in " ".join(views)  # emojilib's slug is not a keyword


def test_views_are_the_same_for_the_same_image_and_keep_a_variant_in_each():
    args = ("waving hand", "waving hand, dark skin tone", ("hand",), WORDS, NOTO)
    views = caption_views(*args, "noto/1f44b-1f3ff.png")
    assert views == caption_views(*args, "noto/1f44b-1f3ff.png")
    assert all("dark skin tone" in v for v in views)


def test_the_tone_of_a_variant_whose_concept_has_a_colon_is_found():
    label = "kiss, woman, man, medium skin tone"
    views = caption_views("kiss: woman, man", label, ("kiss",), WORDS, NOTO, "x")
    keywords_view = views[2]  # canonical, label with keywords, then keywords alone
    assert keywords_view.endswith(", medium skin tone, cartoon style")
    assert label not in keywords_view


def test_an_emoji_without_words_still_has_its_name_in_the_style():
    views = caption_views("keycap: #", "keycap: #", (), EmojiWords(), NOTO, "x")
    assert views == ["keycap: #, cartoon style", "keycap: # in noto style"]


def test_char_hex_drops_the_variation_selector():
    assert char_hex("\u2764\ufe0f") == char_hex("\u2764") == "2764"
    assert char_hex("\U0001f44b\U0001f3ff") == "1F44B-1F3FF"
