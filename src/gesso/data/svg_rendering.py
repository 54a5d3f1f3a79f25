"""Render untrusted SVG to a square RGBA image with resvg, after checks that refuse hostile input.

resvg itself never opens a socket, but it does read local files named by `<image href>` and
can be made to do unbounded work (`<use>` fan-out, a huge canvas). So every SVG is first parsed
with expat and checked against the rules below, and only a document that passes reaches resvg:

- at most `max_bytes` of UTF-8 text; no DOCTYPE, entity declaration or processing instruction
  (no entity expansion, no external DTD, no stylesheet link);
- the root is `<svg>`; elements come from an allow-list of shapes, paint servers, clipping and a
  few filter primitives (no `<image>`, `<feImage>`, `<script>`, `<style>`, `<text>`,
  `<foreignObject>`);
- every `href` names a fragment of the same document (`#id`), every `url(...)` likewise;
- `width`, `height` and the `viewBox` are finite, positive and at most `max_canvas` units;
- the document, with every `<use>` expanded, has at most `max_expanded` elements, with no cycle.

A refusal is one `SvgRefused` naming the rule it broke.
"""

from __future__ import annotations

import io
import math
import re
from dataclasses import dataclass
from xml.etree import ElementTree
from xml.parsers import expat

import resvg_py
from PIL import Image

SVG_NS = "{http://www.w3.org/2000/svg}"
ALLOWED_ELEMENTS = frozenset(
    " ".join(
        (
            "svg g defs symbol use title desc",
            "path rect circle ellipse line polyline polygon",
            "linearGradient radialGradient stop clipPath mask",
            "filter feBlend feColorMatrix feComposite feFlood feGaussianBlur",
            "feMerge feMergeNode feOffset",
        )
    ).split()
)
_URL = re.compile(r"url\(\s*['\"]?([^)'\"]*)", re.IGNORECASE)
_NUMBER = re.compile(r"^\s*([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)\s*(px)?\s*$")


class SvgRefused(ValueError):
    """An SVG that breaks one of the renderer's rules, or that resvg could not render."""


@dataclass(frozen=True)
class SvgLimits:
    max_bytes: int = 1024 * 1024
    max_canvas: float = 4096.0  # user units, for width, height and each viewBox side
    max_expanded: int = 50_000  # elements once every <use> is expanded
    max_depth: int = 64
    max_output: int = 1024  # pixels per side of the rendered image


def check_svg(data: bytes | str, limits: SvgLimits = SvgLimits()) -> str:
    """Return the SVG as text if it passes every rule above; raise SvgRefused otherwise."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    if len(raw) > limits.max_bytes:
        raise SvgRefused(f"SVG is {len(raw)} bytes, over the limit of {limits.max_bytes}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise SvgRefused("SVG is not UTF-8 text") from None
    root = _parse(text)
    if root.tag not in (f"{SVG_NS}svg", "svg"):
        raise SvgRefused("the root element is not <svg>")
    _check_canvas(root, limits)
    by_id: dict[str, ElementTree.Element] = {}
    for element, depth in _walk(root, 0):
        if depth > limits.max_depth:
            raise SvgRefused(f"elements nest deeper than {limits.max_depth}")
        name = element.tag.removeprefix(SVG_NS)
        if name not in ALLOWED_ELEMENTS:
            raise SvgRefused(f"element <{name}> is not allowed")
        for key, value in element.attrib.items():
            _check_attribute(key.rsplit("}", 1)[-1], value)
        if "id" in element.attrib:
            by_id[element.attrib["id"]] = element
    try:
        expanded = _expanded_size(root, by_id, {}, set(), limits.max_expanded)
    except RecursionError:
        raise SvgRefused("<use> references nest too deeply") from None
    if expanded > limits.max_expanded:
        raise SvgRefused(f"the SVG expands to more than {limits.max_expanded} elements")
    return text


def render_svg(data: bytes | str, size: int, limits: SvgLimits = SvgLimits()) -> Image.Image:
    """Check an SVG (see `check_svg`) and render it to a `size` x `size` RGBA image.

    A drawing that is not square is fitted inside the square and centred on transparency.
    Raises SvgRefused for a refused document, an unsupported size or a failed render.
    """
    if not 1 <= size <= limits.max_output:
        raise SvgRefused(f"output size {size} is outside 1..{limits.max_output}")
    text = check_svg(data, limits)
    try:
        png = resvg_py.svg_to_bytes(
            svg_string=text, width=size, height=size, skip_system_fonts=True
        )
    except (ValueError, RuntimeError) as exc:
        raise SvgRefused(f"resvg could not render the SVG: {exc}") from None
    with Image.open(io.BytesIO(bytes(png))) as decoded:
        image = decoded.convert("RGBA")
    if image.size != (size, size):
        image.thumbnail((size, size), Image.Resampling.LANCZOS)
        canvas = Image.new("RGBA", (size, size), (0, 0, 0, 0))
        canvas.paste(image, ((size - image.width) // 2, (size - image.height) // 2))
        image = canvas
    return image


def _parse(text: str) -> ElementTree.Element:
    def refuse_doctype(*_args) -> None:
        raise SvgRefused("a DOCTYPE is not allowed (no entities, no external DTD)")

    def refuse_instruction(target: str, _data: str) -> None:
        raise SvgRefused(f"processing instruction <?{target} ...?> is not allowed")

    # A first pass with bare expat sees declarations the tree builder hides; the second builds.
    scanner = expat.ParserCreate()
    scanner.StartDoctypeDeclHandler = refuse_doctype
    scanner.EntityDeclHandler = refuse_doctype
    scanner.ProcessingInstructionHandler = refuse_instruction
    try:
        scanner.Parse(text, True)
        return ElementTree.fromstring(text)
    except (ElementTree.ParseError, expat.ExpatError) as exc:
        raise SvgRefused(f"SVG is not well-formed XML: {exc}") from None


def _walk(element: ElementTree.Element, depth: int):
    stack = [(element, depth)]
    while stack:
        node, level = stack.pop()
        yield node, level
        stack.extend((child, level + 1) for child in node)


def _check_attribute(name: str, value: str) -> None:
    if name == "href" and not value.strip().startswith("#"):
        raise SvgRefused(f"href {value[:60]!r} points outside the document")
    for target in _URL.findall(value):
        if not target.strip().startswith("#"):
            raise SvgRefused(f"url({target[:60]}) points outside the document")
    if "@import" in value.lower():
        raise SvgRefused("@import is not allowed")


def _check_canvas(root: ElementTree.Element, limits: SvgLimits) -> None:
    for name in ("width", "height"):
        if name in root.attrib:
            if root.attrib[name].strip().endswith("%"):
                continue
            _check_extent(name, _length(name, root.attrib[name]), limits)
    if "viewBox" in root.attrib:
        parts = root.attrib["viewBox"].replace(",", " ").split()
        try:
            x, y, w, h = (float(p) for p in parts)
        except ValueError:
            raise SvgRefused("viewBox is not four numbers") from None
        if not all(math.isfinite(v) for v in (x, y)) or max(abs(x), abs(y)) > limits.max_canvas:
            raise SvgRefused("viewBox origin is outside the canvas limit")
        _check_extent("viewBox width", w, limits)
        _check_extent("viewBox height", h, limits)


def _length(name: str, value: str) -> float:
    match = _NUMBER.match(value)
    if match is None:
        raise SvgRefused(f"{name} {value[:30]!r} is not a length in pixels")
    return float(match.group(1))


def _check_extent(name: str, value: float, limits: SvgLimits) -> None:
    if not math.isfinite(value) or value <= 0 or value > limits.max_canvas:
        raise SvgRefused(f"{name} {value:g} is outside 0..{limits.max_canvas:g}")


def _expanded_size(
    element: ElementTree.Element,
    by_id: dict[str, ElementTree.Element],
    memo: dict[int, int],
    active: set[int],
    cap: int,
) -> int:
    """Element count with every `<use>` replaced by what it references; stops counting past cap."""
    key = id(element)
    if key in memo:
        return memo[key]
    if key in active:
        raise SvgRefused("a <use> refers to itself through its own content")
    active.add(key)
    total = 1
    for child in element:
        total += _expanded_size(child, by_id, memo, active, cap)
        if total > cap:
            break
    if element.tag.removeprefix(SVG_NS) == "use":
        href = next((v for k, v in element.attrib.items() if k.rsplit("}", 1)[-1] == "href"), "")
        target = by_id.get(href.strip()[1:])
        if target is not None:
            total += _expanded_size(target, by_id, memo, active, cap)
    active.discard(key)
    memo[key] = min(total, cap + 1)
    return memo[key]
