"""Signed, expiring tokens for image URLs: `<expires>.<HMAC-SHA256(image id, expires)>`."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path


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
    if path.is_file():
        return path.read_bytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key)
    return key
