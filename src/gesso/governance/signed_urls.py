"""Signed, expiring tokens for image URLs: `<expires>.<HMAC-SHA256(image id, expires)>`."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from pathlib import Path

from gesso.store.secret_files import read_or_create_secret


def sign_image_token(key: bytes, image_id: str, expires_at: int) -> str:
    digest = hmac.new(key, f"{image_id}.{expires_at}".encode(), hashlib.sha256).hexdigest()
    return f"{expires_at}.{digest}"


def image_token_valid(key: bytes, image_id: str, token: str, now: float) -> bool:
    """True for an unexpired token made for exactly this image."""
    expires_text, _, _ = token.partition(".")
    if not expires_text.isdigit():
        return False
    expires_at = int(expires_text)
    expected = sign_image_token(key, image_id, expires_at)
    return hmac.compare_digest(expected, token) and now <= expires_at


def load_or_create_signing_key(path: Path) -> bytes:
    """Read the URL-signing key, creating it (owner-only) on first start."""
    return read_or_create_secret(path, lambda: secrets.token_bytes(32))
