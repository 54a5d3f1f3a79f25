"""Fetch npm packages with `npm pack` and unpack them safely (the corpus's only source)."""

from __future__ import annotations

import subprocess
import tarfile
from pathlib import Path

EMOJI_PACKAGES: dict[str, str] = {
    "emoji-datasource-google": "16.0.0",
    "emoji-datasource-twitter": "16.0.0",
    "@lobehub/fluent-emoji-3d": "1.1.0",
    "emojibase-data": "17.0.0",
    # vector sets and caption sources of the 128 px RGBA corpus (data/vector_emoji_corpus.py)
    "@iconify-json/noto": "1.2.9",
    "@iconify-json/twemoji": "1.2.5",
    "@iconify-json/fluent-emoji-flat": "1.2.6",
    "emojilib": "4.0.3",
    "cldr-annotations-full": "48.2.0",
}


class PackageFetchError(RuntimeError):
    pass


def fetch_package(name: str, version: str, cache_dir: Path) -> Path:
    """Return the unpacked `package/` folder of name@version, running `npm pack` if not cached."""
    slug = name.lstrip("@").replace("/", "-") + "-" + version
    target = cache_dir / slug
    if (target / "package" / "package.json").is_file():
        return target / "package"
    cache_dir.mkdir(parents=True, exist_ok=True)
    tarball = cache_dir / f"{slug}.tgz"
    if not tarball.is_file():
        try:
            subprocess.run(
                ["npm", "pack", f"{name}@{version}", "--silent", "--pack-destination", str(cache_dir)],
                check=True,
                capture_output=True,
                text=True,
            )
        except (OSError, subprocess.CalledProcessError) as exc:
            detail = getattr(exc, "stderr", "") or str(exc)
            raise PackageFetchError(f"npm pack {name}@{version} failed: {detail.strip()}") from exc
    target.mkdir(parents=True, exist_ok=True)
    with tarfile.open(tarball) as tar:
        tar.extractall(target, filter="data")
    return target / "package"
