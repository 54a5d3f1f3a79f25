"""The SVG renderer refuses malformed and hostile documents, with no network at all."""

import socket

import pytest

from gesso.data.svg_rendering import SvgLimits, SvgRefused, check_svg, render_svg

NS = 'xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"'
CIRCLE = f'<svg {NS} viewBox="0 0 36 36"><circle cx="18" cy="18" r="10" fill="red"/></svg>'


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Any attempt to open a socket fails the test loudly."""

    def refuse(*_args, **_kwargs):
        raise AssertionError("the renderer tried to reach the network")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


def svg(body: str, attrs: str = 'viewBox="0 0 36 36"') -> str:
    return f"<svg {NS} {attrs}>{body}</svg>"


def test_a_plain_drawing_renders_to_rgba_with_transparent_corners():
    image = render_svg(CIRCLE, 128)
    assert image.mode == "RGBA" and image.size == (128, 128)
    assert image.getpixel((0, 0))[3] == 0 and image.getpixel((64, 64)) == (255, 0, 0, 255)


def test_a_drawing_that_is_not_square_is_centred_on_transparency():
    image = render_svg(svg('<rect width="18" height="36" fill="blue"/>', 'viewBox="0 0 18 36"'), 64)
    assert image.size == (64, 64)
    assert image.getpixel((2, 32))[3] == 0 and image.getpixel((32, 32)) == (0, 0, 255, 255)


def test_same_document_references_are_allowed():
    body = (
        '<defs><linearGradient id="g"><stop offset="0" stop-color="#f00"/></linearGradient>'
        '<circle id="c" cx="9" cy="9" r="5"/></defs><use href="#c" fill="url(#g)"/>'
        '<use xlink:href="#c" x="10" fill="url(\'#g\')"/>'
    )
    assert render_svg(svg(body), 32).getpixel((9, 9))[3] > 0


@pytest.mark.parametrize(
    "body",
    [
        '<image href="http://example.com/a.png" width="10" height="10"/>',
        '<image xlink:href="https://example.com/a.png" width="10" height="10"/>',
        '<use href="http://example.com/sprite.svg#icon"/>',
        '<rect width="10" height="10" fill="url(http://example.com/p.svg#g)"/>',
        '<rect width="10" height="10" style="fill:url(file:///etc/passwd)"/>',
        '<rect width="10" height="10" style="@import url(#x)"/>',
    ],
)
def test_references_outside_the_document_are_refused(body):
    with pytest.raises(SvgRefused, match="outside the document|@import|not allowed"):
        render_svg(svg(body), 32)


def test_a_local_file_is_never_read(tmp_path):
    from PIL import Image

    secret = tmp_path / "secret.png"
    Image.new("RGB", (8, 8), "blue").save(secret)
    for href in (str(secret), f"file://{secret}", "secret.png"):
        with pytest.raises(SvgRefused, match="outside the document"):
            render_svg(svg(f'<use href="{href}"/>'), 32)
        with pytest.raises(SvgRefused):  # an <image> is refused whatever it names
            render_svg(svg(f'<image href="{href}" width="36" height="36"/>'), 32)


@pytest.mark.parametrize(
    "element", ["script", "style", "foreignObject", "text", "feImage", "image"]
)
def test_elements_outside_the_allow_list_are_refused(element):
    with pytest.raises(SvgRefused, match=f"<{element}> is not allowed"):
        render_svg(svg(f"<{element}/>"), 32)


def test_an_element_in_another_namespace_is_refused():
    with pytest.raises(SvgRefused, match="not allowed"):
        render_svg(svg('<h:script xmlns:h="http://www.w3.org/1999/xhtml">x</h:script>'), 32)


def test_entity_expansion_is_refused_before_any_expansion():
    bomb = (
        '<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY a "aaaaaaaaaa">'
        '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>'
        f"<svg {NS}><desc>&c;</desc></svg>"
    )
    with pytest.raises(SvgRefused, match="DOCTYPE"):
        render_svg(bomb, 32)


def test_an_external_entity_is_refused():
    xxe = (
        f'<!DOCTYPE svg [<!ENTITY x SYSTEM "file:///etc/passwd">]><svg {NS}><desc>&x;</desc></svg>'
    )
    with pytest.raises(SvgRefused, match="DOCTYPE"):
        render_svg(xxe, 32)


def test_a_stylesheet_instruction_is_refused():
    with pytest.raises(SvgRefused, match="processing instruction"):
        render_svg('<?xml-stylesheet href="http://example.com/s.css"?>' + CIRCLE, 32)


@pytest.mark.parametrize(
    "attrs",
    [
        'width="1000000" height="1000000"',
        'width="1e9px"',
        'viewBox="0 0 100000 100000"',
        'viewBox="0 0 36 -5"',
        'viewBox="0 0 0 36"',
        'viewBox="0 0 nan 36"',
        'viewBox="0 0 inf 36"',
        'viewBox="1e9 0 36 36"',
        'viewBox="0 0 36"',
        'width="12em"',
    ],
)
def test_a_huge_or_broken_canvas_is_refused(attrs):
    with pytest.raises(SvgRefused):
        render_svg(svg('<rect width="5" height="5"/>', attrs), 32)


def test_oversized_input_is_refused_before_parsing():
    padding = "<!--" + "x" * 2_000_000 + "-->"
    with pytest.raises(SvgRefused, match="over the limit"):
        render_svg(svg(padding), 32)
    with pytest.raises(SvgRefused, match="over the limit"):
        check_svg(CIRCLE, SvgLimits(max_bytes=50))


def test_a_use_fan_out_bomb_is_refused():
    # ten levels of ten <use> each would draw 10**10 circles
    levels = ['<circle id="l0" r="1"/>']
    for level in range(1, 11):
        uses = "".join(f'<use href="#l{level - 1}"/>' for _ in range(10))
        levels.append(f'<g id="l{level}">{uses}</g>')
    with pytest.raises(SvgRefused, match="expands to more than"):
        render_svg(svg("<defs>" + "".join(levels) + "</defs>"), 32)


def test_a_use_cycle_is_refused():
    body = '<g id="a"><use href="#b"/></g><g id="b"><use href="#a"/></g>'
    with pytest.raises(SvgRefused, match="refers to itself"):
        render_svg(svg(body), 32)


def test_deep_nesting_is_refused():
    with pytest.raises(SvgRefused, match="deeper"):
        render_svg(svg("<g>" * 100 + "</g>" * 100), 32)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ("<svg", "not well-formed"),
        ("", "not well-formed"),
        ('<html xmlns="http://www.w3.org/1999/xhtml"/>', "root element"),
        (b"\x1f\x8b\x08\x00" + b"\xff" * 20, "not UTF-8"),
        (f"<svg {NS}><circle r='1'></svg>", "not well-formed"),
    ],
)
def test_malformed_documents_are_refused(data, reason):
    with pytest.raises(SvgRefused, match=reason):
        render_svg(data, 32)


@pytest.mark.parametrize("size", [0, -1, 4096])
def test_an_unsupported_output_size_is_refused(size):
    with pytest.raises(SvgRefused, match="output size"):
        render_svg(CIRCLE, size)


def test_every_refusal_is_one_typed_error():
    assert issubclass(SvgRefused, ValueError)
