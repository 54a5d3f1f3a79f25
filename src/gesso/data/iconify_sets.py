"""Read an `@iconify-json/*` emoji package: one standalone SVG document per emoji code point.

Such a package holds `icons.json` (icon bodies, the set's default width and height, aliases) and
`chars.json` (code point sequence, lower-case hex joined by '-', to icon name). Icons are drawn in
their own units; the SVG built here gives each a square viewBox so renders are centred squares.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class IconifyEmoji:
    code: str  # code points as chars.json spells them, e.g. "1f44b-1f3fd"
    name: str  # the icon's name in the set, e.g. "waving-hand-medium-skin-tone"
    svg: str  # a standalone SVG document


def icon_svg(icon: dict, default_width: float, default_height: float) -> str:
    """The standalone SVG document of one icon entry of `icons.json` (flips are applied)."""
    left = float(icon.get("left", 0))
    top = float(icon.get("top", 0))
    width = float(icon.get("width", default_width))
    height = float(icon.get("height", default_height))
    side = max(width, height)
    x, y = left - (side - width) / 2, top - (side - height) / 2
    body = icon["body"]
    if icon.get("hFlip") or icon.get("vFlip"):
        sx, sy = (-1 if icon.get("hFlip") else 1), (-1 if icon.get("vFlip") else 1)
        cx, cy = left + width / 2, top + height / 2
        transform = f"translate({cx:g} {cy:g}) scale({sx} {sy}) translate({-cx:g} {-cy:g})"
        body = f'<g transform="{transform}">{body}</g>'
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" '
        f'viewBox="{x:g} {y:g} {side:g} {side:g}">{body}</svg>'
    )


def _resolve(name: str, icons: dict, aliases: dict) -> dict | None:
    """The icon entry of `name`, following aliases: a nearer alias's sizes win, flips toggle."""
    overrides: dict = {}
    flips = {"hFlip": False, "vFlip": False}
    for _ in range(8):  # iconify nests aliases a level or two at most
        if name in icons:
            entry = {**icons[name], **overrides}
            for flip, toggled in flips.items():
                entry[flip] = bool(icons[name].get(flip)) != toggled
            return entry
        alias = aliases.get(name)
        if alias is None:
            return None
        for flip in flips:
            flips[flip] ^= bool(alias.get(flip))
        kept = {k: v for k, v in alias.items() if k not in ("parent", "hFlip", "vFlip")}
        overrides = {**kept, **overrides}
        name = alias["parent"]
    return None


def read_iconify_emoji(package_dir: Path) -> list[IconifyEmoji]:
    """Every emoji of the package that `chars.json` names, in code point order."""
    icons_file = json.loads((package_dir / "icons.json").read_text(encoding="utf-8"))
    chars: dict[str, str] = json.loads((package_dir / "chars.json").read_text(encoding="utf-8"))
    icons, aliases = icons_file["icons"], icons_file.get("aliases") or {}
    width, height = float(icons_file.get("width", 16)), float(icons_file.get("height", 16))
    found = []
    for code, name in sorted(chars.items()):
        icon = _resolve(name, icons, aliases)
        if icon is not None:
            found.append(IconifyEmoji(code, name, icon_svg(icon, width, height)))
    return found
