"""The vector emoji corpus: RGBA renders, caption views with style names, licences and counts."""

import json
from pathlib import Path

import pytest
from PIL import Image

from gesso.data import vector_emoji_corpus as corpus
from gesso.data.dataset_format import read_rows
from gesso.data.validation import validate_dataset

NS = 'xmlns="http://www.w3.org/2000/svg"'
HOSTILE = '<image href="file:///etc/passwd" width="36" height="36"/>'


def package(cache: Path, slug: str) -> Path:
    root = cache / slug / "package"
    root.mkdir(parents=True)
    (root / "package.json").write_text("{}")
    return root


def iconify(
    cache: Path, slug: str, icons: dict[str, str], chars: dict[str, str], size: int = 36
) -> None:
    root = package(cache, slug)
    bodies = {name: {"body": body} for name, body in icons.items()}
    (root / "icons.json").write_text(
        json.dumps({"prefix": slug, "icons": bodies, "width": size, "height": size})
    )
    (root / "chars.json").write_text(json.dumps(chars))


def fake_packages(cache: Path, noto_extra: dict[str, str] | None = None) -> None:
    """The caption sources and three vector sets, laid out as `npm pack` leaves them."""
    base = package(cache, "emojibase-data-17.0.0")
    (base / "en" / "shortcodes").mkdir(parents=True)
    (base / "en" / "data.json").write_text(
        json.dumps(
            [
                {
                    "label": "red apple",
                    "hexcode": "1F34E",
                    "tags": ["apple", "fruit", "red"],
                    "group": 4,
                },
                {
                    "label": "waving hand",
                    "hexcode": "1F44B",
                    "tags": ["hand", "wave"],
                    "group": 1,
                    "skins": [{"label": "waving hand: dark skin tone", "hexcode": "1F44B-1F3FF"}],
                },
                {
                    "label": "red heart",
                    "hexcode": "2764-FE0F",
                    "tags": ["heart", "love"],
                    "group": 0,
                },
            ]
        )
    )
    (base / "en" / "shortcodes" / "emojibase.json").write_text(
        json.dumps({"1F34E": "apple", "1F44B": ["wave", "waving_hand"], "2764-FE0F": "heart"})
    )
    (base / "en" / "shortcodes" / "github.json").write_text(
        json.dumps({"1F34E": "apple", "1F44B": "wave"})
    )
    lib = package(cache, "emojilib-4.0.3")
    (lib / "dist").mkdir()
    (lib / "dist" / "emoji-en-US.json").write_text(
        json.dumps(
            {
                "\U0001f34e": ["red_apple", "fruit", "mac", "school"],
                "\U0001f44b": [
                    "waving_hand",
                    "hands",
                    "gesture",
                    "goodbye",
                    "solong",
                    "farewell",
                    "hello",
                ],
                "\u2764\ufe0f": ["red_heart", "love", "like", "valentines"],
            }
        )
    )
    cldr = package(cache, "cldr-annotations-full-48.2.0")
    (cldr / "annotations" / "en").mkdir(parents=True)
    (cldr / "annotations" / "en" / "annotations.json").write_text(
        json.dumps(
            {
                "annotations": {
                    "annotations": {
                        "\U0001f34e": {"default": ["apple", "fruit", "red"], "tts": ["red apple"]},
                        "\U0001f44b": {
                            "default": ["hand", "wave", "waving", "hello", "bye"],
                            "tts": ["waving hand"],
                        },
                        "\u2764": {
                            "default": ["emotion", "heart", "love", "red"],
                            "tts": ["red heart"],
                        },
                    }
                }
            }
        )
    )
    shapes = {
        "apple": '<circle cx="18" cy="18" r="12" fill="#d22"/>',
        "wave": '<rect x="8" y="8" width="20" height="20" fill="#fc3"/>',
        "wave-dark": '<rect x="8" y="8" width="20" height="20" fill="#642"/>',
        "heart": '<path d="M18 30 L6 14 A6 6 0 0 1 18 10 A6 6 0 0 1 30 14 Z" fill="#e23"/>',
        "grinning": '<circle cx="18" cy="18" r="12" fill="#fd0"/>',  # no emojibase label: skipped
    }
    chars = {
        "1f34e": "apple",
        "1f44b": "wave",
        "1f44b-1f3ff": "wave-dark",
        "2764": "heart",
        "1f600": "grinning",
    }
    noto = {
        k: f'<g transform="scale({128 / 36:.4f})">{v}</g>' for k, v in shapes.items()
    }  # 128 units
    iconify(
        cache,
        "iconify-json-noto-1.2.9",
        {**noto, **(noto_extra or {})},
        {**chars, **{code: code for code in noto_extra or {}}},
        size=128,
    )
    iconify(
        cache,
        "iconify-json-twemoji-1.2.5",
        {k: f'<g transform="translate(1 0)">{v}</g>' for k, v in shapes.items()},
        chars,
    )
    iconify(
        cache,
        "iconify-json-fluent-emoji-flat-1.2.6",
        {k: v.replace("fill=", 'stroke="#000" fill=') for k, v in shapes.items()},
        chars,
        size=36,
    )


@pytest.fixture
def built(tmp_path):
    cache = tmp_path / "cache"
    fake_packages(cache)
    rows = corpus.build_vector_emoji_corpus(tmp_path / "out", cache, size=32, progress=False)
    return tmp_path / "out", rows


def test_every_style_renders_rgba_with_transparent_corners(built):
    out, rows = built
    assert validate_dataset(out).ok and len(read_rows(out)) == len(rows) == 12  # 4 emoji x 3 styles
    assert {r.extra["style"] for r in rows} == {"noto", "twemoji", "fluent-flat"}
    for row in rows:
        with Image.open(out / row.file_name) as image:
            assert image.mode == "RGBA" and image.size == (32, 32)
            assert image.getpixel((0, 0))[3] == 0 and image.getpixel((16, 16))[3] == 255


def test_rows_carry_concept_ids_licences_and_several_caption_views(built):
    _, rows = built
    skin = next(
        r
        for r in rows
        if r.extra["label"] == "waving hand, dark skin tone" and r.extra["style"] == "noto"
    )
    assert skin.extra["concept"] == "waving hand" and skin.extra["concept_id"] == "1F44B"
    assert (
        skin.extra["licence"] == "Apache-2.0" and skin.extra["source"] == "@iconify-json/noto@1.2.9"
    )
    assert skin.text == "waving hand, dark skin tone, cartoon style" == skin.extra["captions"][0]
    assert len(skin.extra["captions"]) >= 3
    assert all("dark skin tone" in view for view in skin.extra["captions"])
    heart = next(
        r for r in rows if r.extra["concept_id"] == "2764" and r.extra["style"] == "twemoji"
    )
    assert heart.extra["licence"] == "CC-BY-4.0" and "valentines" in heart.extra["keywords"]
    styles = {
        "noto": ("cartoon style", "noto style"),
        "twemoji": ("flat style", "twemoji style"),
        "fluent-flat": ("fluent style", "fluent emoji style"),
    }
    for row in rows:
        names = styles[row.extra["style"]]
        assert all(any(name in view for name in names) for view in row.extra["captions"]), (
            row.extra["captions"]
        )


def test_sources_record_every_package_licence_and_count(built):
    out, _ = built
    sources = json.loads((out / corpus.SOURCES_FILE).read_text())
    assert sources["styles"]["fluent-flat"]["licence"] == "MIT"
    assert sources["styles"]["noto"]["images"] == 4 and sources["styles"]["noto"]["in_package"] == 5
    assert sources["captions"]["cldr-annotations-full"] == {
        "version": "48.2.0",
        "licence": "Unicode-3.0",
    }
    assert sources["captions"]["emojilib"]["licence"] == "MIT"


def test_a_hostile_svg_in_a_set_is_refused_and_counted(tmp_path):
    cache = tmp_path / "cache"
    fake_packages(cache, noto_extra={"1f600": HOSTILE})  # given a label below, so it is rendered
    data = cache / "emojibase-data-17.0.0" / "package" / "en" / "data.json"
    data.write_text(
        data.read_text()[:-1] + ', {"label": "grinning face", "hexcode": "1F600", "tags": []}]'
    )
    rows = corpus.build_vector_emoji_corpus(
        tmp_path / "out", cache, styles=("noto",), size=32, progress=False
    )
    sources = json.loads((tmp_path / "out" / corpus.SOURCES_FILE).read_text())
    assert sources["styles"]["noto"]["refused"] == 1
    assert "grinning face" not in {r.extra["concept"] for r in rows} and len(rows) == 4


def test_a_held_out_prompt_is_never_a_caption(tmp_path):
    cache = tmp_path / "cache"
    fake_packages(cache)
    held_out = ("Red apple in noto style", "a fruit from a tree")
    rows = corpus.build_vector_emoji_corpus(
        tmp_path / "out", cache, styles=("noto",), size=32, held_out=held_out, progress=False
    )
    apple = next(r for r in rows if r.extra["concept"] == "red apple")
    assert "red apple in noto style" not in [v.lower() for v in apple.extra["captions"]]
    assert len(apple.extra["captions"]) >= 2


def test_a_drawing_repeated_for_another_emoji_is_written_once(tmp_path):
    cache = tmp_path / "cache"
    fake_packages(cache)
    icons = cache / "iconify-json-twemoji-1.2.5" / "package" / "icons.json"
    data = json.loads(icons.read_text())
    data["icons"]["wave-dark"] = data["icons"]["apple"]
    icons.write_text(json.dumps(data))
    rows = corpus.build_vector_emoji_corpus(
        tmp_path / "out", cache, styles=("twemoji",), size=32, progress=False
    )
    assert len(rows) == 3 and validate_dataset(tmp_path / "out").ok


def test_unknown_style_is_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown style"):
        corpus.build_vector_emoji_corpus(tmp_path, tmp_path, styles=("fluent3d",))


def test_the_entry_point_builds_and_reports_counts(tmp_path, capsys):
    cache = tmp_path / "cache"
    fake_packages(cache)
    held = tmp_path / "paraphrases.yaml"
    held.write_text('- {prompt: "a shiny red fruit", concept: "red apple"}\n')
    code = corpus.main(
        [
            "--out",
            str(tmp_path / "out"),
            "--cache",
            str(cache),
            "--size",
            "32",
            "--styles",
            "noto,twemoji",
            "--held-out",
            str(held),
        ]
    )
    assert code == 0
    assert capsys.readouterr().out.strip().startswith("8 images (noto 4, twemoji 4) in ")


def test_the_entry_point_refuses_a_bad_style_with_one_line_and_exit_2(tmp_path, capsys):
    code = corpus.main(
        ["--out", str(tmp_path / "out"), "--cache", str(tmp_path), "--styles", "apple"]
    )
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "unknown style" in err
