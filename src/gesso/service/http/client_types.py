"""The types every client value is checked against at the edge, before any route logic runs.

A string must be text that UTF-8 can encode (JSON's `"\\ud800"` escape yields a lone surrogate,
which Python holds but cannot encode, so it would fail later in a hash, a database or a log) and
hold no NUL (PostgreSQL text cannot); every string and number has an upper bound. A value that
fails is a 400 `invalid_value` naming the field, through the app's validation handler.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path, Query
from pydantic import AfterValidator, Strict, StringConstraints

MAX_TEXT_CHARS = 32_000  # free text (prompts); the engine's own, lower limit is checked after
MAX_NAME_CHARS = 256  # names, ids, sizes, user identifiers
MAX_ID_CHARS = 300  # path ids: `img_<hex>`, `job_<hex>`, `ft:<base>:<tenant>:<suffix>:<job>`
# ids are printable ASCII without `/`, `?`, `#` or space (fine-tuned model names hold `:`)
ID_PATTERN = r"^[A-Za-z0-9._:~@+=-]+$"
# header values are ASCII in HTTP; allow the visible range and inner spaces
HEADER_PATTERN = r"^[\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?$"


def encodable_text(value: str) -> str:
    """`value` unchanged; ValueError when UTF-8 cannot encode it or it holds a NUL."""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text (it holds a lone surrogate)") from None
    return value


def client_text(max_chars: int, *, strict: bool = True) -> Any:
    """A string type of at most `max_chars` encodable characters (`strict=False` for form fields,
    whose values arrive as strings anyway)."""
    return Annotated[
        str, Strict(strict), StringConstraints(max_length=max_chars), AfterValidator(encodable_text)
    ]


PromptText = client_text(MAX_TEXT_CHARS)
NameText = client_text(MAX_NAME_CHARS)
FormPromptText = client_text(MAX_TEXT_CHARS, strict=False)
FormNameText = client_text(MAX_NAME_CHARS, strict=False)


def id_path(description: str | None = None) -> Any:
    """A path segment that names a resource: bounded, printable ASCII."""
    return Annotated[
        str, Path(max_length=MAX_ID_CHARS, pattern=ID_PATTERN, description=description)
    ]


def id_query(description: str | None = None) -> Any:
    """An optional query parameter that names a resource (a paging cursor): bounded ASCII."""
    return Annotated[
        str | None, Query(max_length=MAX_ID_CHARS, pattern=ID_PATTERN, description=description)
    ]


# Unix seconds from 0 to the year 9999 (what `datetime` can represent); finite by construction
MAX_UNIX_SECONDS = 253_402_300_799.0


def unix_seconds_query(description: str) -> Any:
    """An optional time in Unix seconds: finite, from 1970 to the year 9999."""
    return Annotated[
        float | None, Query(ge=0, le=MAX_UNIX_SECONDS, allow_inf_nan=False, description=description)
    ]


def text_query(max_chars: int, description: str) -> Any:
    """An optional free-text query parameter: bounded, no NUL (a query string is decoded with
    replacement characters, so it never holds a lone surrogate)."""
    return Annotated[
        str | None, Query(max_length=max_chars, pattern=r"^[^\x00]*$", description=description)
    ]
