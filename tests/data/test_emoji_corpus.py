import json
from pathlib import Path

import pytest
from PIL import Image

from gesso.data import emoji_corpus
from gesso.data.dataset_format import read_rows
from gesso.data.validation import validate_dataset


def fake_packages(cache: Path) -> None:
    """Unpacked package folders laid out as `npm pack` leaves them, with three emoji."""
    base = cache / "emojibase-data-17.0.0" / "package" / "en"
    base.mkdir(parents=True)
    (base.parent / "package.json").write_text("{}")
    (base / "data.json").write_text(json.dumps([
        {"label": "red apple", "hexcode": "1F34E", "tags": ["apple", "fruit", "red"], "group": 4},
        {"label": "waving hand", "hexcode": "1F44B", "tags": ["hand", "wave"], "group": 1,
         "skins": [{"label": "waving hand: dark skin tone", "hexcode": "1F44B-1F3FF"}]},
        {"label": "keycap: #", "hexcode": "0023-FE0F-20E3", "tags": ["keycap"], "group": 8},
    ]))
    google = cache / "emoji-datasource-google-16.0.0" / "package"
    (google / "img" / "google" / "64").mkdir(parents=True)
    (google / "package.json").write_text("{}")
    entries = [
        {"unified": "1F34E", "image": "1f34e.png"},
        {"unified": "1F44B", "image": "1f44b.png",
         "skin_variations": {"1F3FF": {"unified": "1F44B-1F3FF", "image": "1f44b-1f3ff.png"}}},
        {"unified": "0023-FE0F-20E3", "image": "0023-fe0f-20e3.png"},
        {"unified": "1F600", "image": "1f600.png"},  # no emojibase label: skipped
    ]
    (google / "emoji.json").write_text(json.dumps(entries))
    for name, colour in [("1f34e", "red"), ("1f44b", "yellow"), ("1f44b-1f3ff", "brown"),
                         ("0023-fe0f-20e3", "grey"), ("1f600", "orange")]:
        Image.new("RGBA", (64, 64), colour).save(google / "img" / "google" / "64" / f"{name}.png")


def test_normalise_hex_drops_variation_selectors_and_zeros():
    assert emoji_corpus.normalise_hex("0023-fe0f-20e3") == "23-20E3"
    assert emoji_corpus.normalise_hex("1F44B-1F3FF") == "1F44B-1F3FF"


def test_corpus_rows_have_captions_concepts_and_licences(tmp_path):
    cache = tmp_path / "cache"
    fake_packages(cache)
    rows = emoji_corpus.build_emoji_corpus(tmp_path / "out", cache, styles=("google",))
    by_label = {r.extra["label"]: r for r in rows}
    assert set(by_label) == {"red apple", "waving hand", "waving hand, dark skin tone", "keycap: #"}
    skin = by_label["waving hand, dark skin tone"]
    assert skin.text == "waving hand, dark skin tone, cartoon style"
    assert skin.extra["concept"] == "waving hand" and skin.extra["licence"] == "Apache-2.0"
    assert skin.extra["source"] == "emoji-datasource-google@16.0.0"
    assert validate_dataset(tmp_path / "out").ok
    assert len(read_rows(tmp_path / "out")) == 4
    with Image.open(tmp_path / "out" / skin.file_name) as image:
        assert image.mode == "RGB" and image.size == (64, 64)


def test_unknown_style_is_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown style"):
        emoji_corpus.build_emoji_corpus(tmp_path, tmp_path, styles=("apple",))


def test_an_image_repeating_an_earlier_one_is_left_out(tmp_path):
    # Twemoji draws several emoji with one placeholder picture; the validator refuses duplicates,
    # so the builder keeps the first and drops the rest.
    cache = tmp_path / "cache"
    fake_packages(cache)
    images = cache / "emoji-datasource-google-16.0.0" / "package" / "img" / "google" / "64"
    (images / "0023-fe0f-20e3.png").write_bytes((images / "1f34e.png").read_bytes())
    rows = emoji_corpus.build_emoji_corpus(tmp_path / "out", cache, styles=("google",))
    assert {r.extra["label"] for r in rows} == {"red apple", "waving hand", "waving hand, dark skin tone"}
    assert [r.line for r in rows] == [1, 2, 3]
    assert not (tmp_path / "out" / "google" / "23-20e3.png").exists()
    assert validate_dataset(tmp_path / "out").ok


def test_an_emoji_shipped_with_and_without_its_selector_is_written_once(tmp_path):
    cache = tmp_path / "cache"
    fake_packages(cache)
    fluent = cache / "lobehub-fluent-emoji-3d-1.1.0" / "package"
    (fluent / "assets").mkdir(parents=True)
    (fluent / "package.json").write_text("{}")
    Image.new("RGBA", (64, 64), "grey").save(fluent / "assets" / "0023-fe0f-20e3.webp")
    Image.new("RGBA", (64, 64), "silver").save(fluent / "assets" / "0023-20e3.webp")
    Image.new("RGBA", (64, 64), "red").save(fluent / "assets" / "1f34e.webp")
    rows = emoji_corpus.build_emoji_corpus(tmp_path / "out", cache, styles=("fluent3d",))
    assert sorted(r.file_name for r in rows) == ["fluent3d/1f34e.png", "fluent3d/23-20e3.png"]
    assert validate_dataset(tmp_path / "out").ok
