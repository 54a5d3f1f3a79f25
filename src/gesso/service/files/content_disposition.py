"""Client-chosen file names made safe to store and to send back in a Content-Disposition header
(RFC 6266 with RFC 5987's `filename*`), whatever characters they hold."""

from __future__ import annotations

import unicodedata
from urllib.parse import quote

MAX_FILENAME_CHARS = 255
FALLBACK = "upload"


def safe_filename(name: str | None) -> str:
    """The last path segment of `name`, without control, format, unassigned characters and lone
    surrogates, every kind of space a plain one, at most MAX_FILENAME_CHARS long; FALLBACK when
    nothing is left."""
    if not name:
        return FALLBACK
    name = name.encode("utf-8", "replace").decode("utf-8")  # lone surrogates -> "?"
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    kept = "".join(" " if c.isspace() else c for c in name
                   if unicodedata.category(c) not in ("Cc", "Cf", "Cs", "Co", "Cn"))
    kept = kept.strip().strip(".") or FALLBACK
    return kept[:MAX_FILENAME_CHARS]


def attachment_disposition(filename: str) -> str:
    """`attachment; filename="<ascii>"; filename*=UTF-8''<percent-encoded>`: the quoted form
    for old clients (non-ASCII, quotes and backslashes replaced), the encoded one exact."""
    name = safe_filename(filename)
    ascii_name = "".join(c if 32 <= ord(c) < 127 and c not in '"\\%' else "_" for c in name)
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"
