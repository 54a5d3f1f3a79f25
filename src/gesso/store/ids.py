"""Opaque, prefixed identifiers (`job_...`, `img_...`), as OpenAI-style APIs use."""

from __future__ import annotations

import uuid


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"
