"""Request body limits per route: the server-wide limit, and the fine-tune upload limit for
`POST /v1/files` (datasets are far larger than any image request)."""

from __future__ import annotations

from typing import Callable

from gesso.service.http.body_limit import BodyLimitMiddleware

UPLOAD_PATH = "/v1/files"


class RouteBodyLimits:
    """Pure ASGI: `BodyLimitMiddleware` with `upload_max_bytes` for dataset uploads, `max_bytes` elsewhere."""

    def __init__(self, app: Callable, max_bytes: int, upload_max_bytes: int):
        self.default = BodyLimitMiddleware(app, max_bytes)
        self.uploads = BodyLimitMiddleware(app, upload_max_bytes)

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        is_upload = scope["type"] == "http" and scope.get("method") == "POST" and scope.get("path") == UPLOAD_PATH
        await (self.uploads if is_upload else self.default)(scope, receive, send)
