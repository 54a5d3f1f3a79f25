"""Graceful shutdown: from SIGTERM on, the server takes no new work, lets the running batch
finish within `shutdown_grace_s` (the worker hands it back to the queue after that, no attempt
counted) and answers every waiting client before uvicorn closes the connections.

`Drain` is the flag the signal handler raises; `DrainGateMiddleware` answers 503 with
`Retry-After` to new work (POST, PUT, PATCH, DELETE under `/v1`) and to `/readyz`, so a load
balancer stops sending traffic. Reads (job status, images) are still served until the end.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Callable

RETRY_AFTER_S = 10  # about one restart
WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")


class Drain:
    """Set once, from the signal handler; read by the gate, the waiting requests and the worker."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._deadline = 0.0

    def begin(self, grace_s: float) -> bool:
        """Start draining (first call only); returns whether this call started it."""
        if self._event.is_set():
            return False
        self._deadline = time.monotonic() + max(0.0, grace_s)
        self._event.set()
        return True

    @property
    def active(self) -> bool:
        return self._event.is_set()

    @property
    def grace_over(self) -> bool:
        """The grace period has passed: anything still unfinished is handed back."""
        return self._event.is_set() and time.monotonic() >= self._deadline


def shutting_down_body(message: str, job_id: str | None = None) -> dict:
    text = message if job_id is None else f"{message}; job {job_id} is kept"
    return {"error": {"message": text, "type": "server_error", "param": None, "code": "server_shutting_down"}}


class DrainGateMiddleware:
    """Pure ASGI; passes everything through until the drain begins."""

    def __init__(self, app: Callable, state: Callable[[], object]):
        self.app = app
        self.state = state

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        state = self.state() if scope["type"] == "http" else None
        drain: Drain | None = getattr(state, "drain", None)
        if drain is None or not drain.active or not _gated(scope):
            await self.app(scope, receive, send)
            return
        if scope["path"] == "/readyz":
            body = {"status": "not ready", "checks": {"shutting_down": True}}
        else:
            body = shutting_down_body("the server is shutting down and takes no new work; retry shortly")
        data = json.dumps(body).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode()),
                   (b"retry-after", str(RETRY_AFTER_S).encode()), (b"connection", b"close")]
        await send({"type": "http.response.start", "status": 503, "headers": headers})
        await send({"type": "http.response.body", "body": data})


def _gated(scope: dict) -> bool:
    path = scope["path"]
    if path == "/readyz":
        return True
    return (path == "/v1" or path.startswith("/v1/")) and scope["method"] in WRITE_METHODS
