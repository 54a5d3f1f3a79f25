import json

from gesso.data.iconify_sets import icon_svg, read_iconify_emoji
from gesso.data.svg_rendering import render_svg


def test_a_narrow_icon_gets_a_square_viewbox_centred_on_it():
    svg = icon_svg({"body": '<rect width="18" height="36" fill="red"/>', "width": 18}, 36, 36)
    assert 'viewBox="-9 0 36 36"' in svg
    image = render_svg(svg, 36)
    assert image.getpixel((1, 18))[3] == 0 and image.getpixel((18, 18))[3] == 255


def test_aliases_resolve_to_their_parent_and_a_flip_mirrors_it(tmp_path):
    left_half = '<rect width="18" height="36" fill="blue"/>'
    (tmp_path / "icons.json").write_text(
        json.dumps(
            {
                "icons": {"point-left": {"body": left_half}},
                "aliases": {
                    "point-right": {"parent": "point-left", "hFlip": True},
                    "again": {"parent": "point-right"},
                },
                "width": 36,
                "height": 36,
            }
        )
    )
    (tmp_path / "chars.json").write_text(
        json.dumps({"1f448": "point-left", "1f449": "again", "1f4a9": "gone"})
    )
    emoji = {e.code: e for e in read_iconify_emoji(tmp_path)}
    assert set(emoji) == {"1f448", "1f449"}  # a name the set lacks is skipped
    left, right = render_svg(emoji["1f448"].svg, 36), render_svg(emoji["1f449"].svg, 36)
    assert left.getpixel((4, 18))[3] == 255 and left.getpixel((31, 18))[3] == 0
    assert right.getpixel((4, 18))[3] == 0 and right.getpixel((31, 18))[3] == 255
