"""Typed refusals raised by governance; the service maps each to OpenAI's error object."""

from __future__ import annotations


class AccessError(Exception):
    """Base of every refusal decided by governance."""


class Unauthenticated(AccessError):
    """No key, a malformed header, an unknown or revoked key, or a bad signed-URL token (401)."""


class PermissionDenied(AccessError):
    """The key's role may not do this (403)."""


class RateLimited(AccessError):
    """The key sent too many requests; retry after `retry_after` seconds (429)."""

    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after


class QuotaExceeded(AccessError):
    """The tenant has used its image quota for the window (429)."""

    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after
