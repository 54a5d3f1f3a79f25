"""The error for a request its caller must fix (the service answers 400, the CLI exits 2)."""

from __future__ import annotations


class BadRequest(ValueError):
    """A request a caller must fix; `param` names the offending field."""

    def __init__(self, message: str, param: str | None = None):
        super().__init__(message)
        self.param = param
