"""Signed, expiring tokens for image URLs: `<expires>.<HMAC-SHA256(image id, expires)>`."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from pathlib import Path

from gesso.store.secret_files import read_or_create_secret

# ASCII digits only (str.isdigit() also takes Arabic-Indic digits and superscripts), at most 12 of
# them (Unix seconds well past year 30000), then the 64 hex digits of the HMAC.
MAX_EXPIRES_DIGITS = 12
MAX_TOKEN_CHARS = MAX_EXPIRES_DIGITS + 1 + 64
URL_SIGNING_KEY_FILE = "url-signing.key"  # in the keys folder, which every replica shares
_TOKEN = re.compile(rf"([0-9]{{1,{MAX_EXPIRES_DIGITS}}})\.[0-9a-f]{{64}}")


def sign_image_token(key: bytes, image_id: str, expires_at: int) -> str:
    digest = hmac.new(key, f"{image_id}.{expires_at}".encode(), hashlib.sha256).hexdigest()
    return f"{expires_at}.{digest}"


def image_token_valid(key: bytes, image_id: str, token: str, now: float) -> bool:
    """True for an unexpired token made for exactly this image; False for any other text,
    malformed ones included (never raises)."""
    match = _TOKEN.fullmatch(token) if len(token) <= MAX_TOKEN_CHARS else None
    if match is None:
        return False
    expires_at = int(match.group(1))
    try:
        expected = sign_image_token(key, image_id, expires_at)
    except UnicodeEncodeError:  # an id no image can have (a lone surrogate)
        return False
    return hmac.compare_digest(expected, token) and now <= expires_at


def load_or_create_url_signing_key(path: Path) -> bytes:
    """Read the URL-signing key, creating it (owner-only) on first start; replicas that start
    together on one shared keys folder all read the one created first."""
    return read_or_create_secret(path, lambda: secrets.token_bytes(32))
