"""The Host header is client input: links in responses (`url`, `preview_url`) are built from it only
when it names this server, and a request naming another host is refused with 400 `invalid_host`.

The allowed names are `settings.allowed_hosts`, or by default the loopback names, the bind host and
the host of `public_base_url`. An entry may be a name, an IP address, `*.suffix` (any subdomain) or
`*` (any host: links then follow the request's Host, so use it only behind a proxy that sets it).
The operations endpoints (`/healthz`, `/readyz`, `/metrics`) answer any Host, since probes often
address a server by its IP and those answers hold no links.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from gesso.service.http.errors import ApiError, error_response
from gesso.settings import Settings

if TYPE_CHECKING:
    from gesso.service.runtime.app_state import ServiceState

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
WILDCARD_BINDS = ("0.0.0.0", "::", "")
ANY_HOST_PATHS = ("/healthz", "/readyz", "/metrics")


def allowed_host_names(settings: Settings) -> tuple[str, ...]:
    """The lower-case host names (no port) a request's Host may carry."""
    if settings.allowed_hosts:
        return tuple(dict.fromkeys(_bare(name) for name in settings.allowed_hosts))
    names = [*LOOPBACK_NAMES]
    if settings.host not in WILDCARD_BINDS:
        names.append(_bare(settings.host))
    if settings.public_base_url:
        names.append(_bare(urlsplit(settings.public_base_url).hostname or ""))
    return tuple(dict.fromkeys(name for name in names if name))


def host_of(header: str) -> str:
    """`name:port`, `[v6]:port` or `name` -> the lower-case name without port or brackets."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1 : header.find("]")] if "]" in header else header
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


def host_allowed(header: str | None, allowed: tuple[str, ...]) -> bool:
    """Whether a Host header value names this server; a request without one (HTTP/1.0) is
    answered with the bind address, so it passes."""
    if header is None:
        return True
    name = host_of(header)
    for entry in allowed:
        if entry == "*" or entry == name:
            return True
        if entry.startswith("*.") and name.endswith(entry[1:]):
            return True
    return False


def bind_base_url(settings: Settings) -> str:
    """The base URL of the bind address, for links when the request's Host is not trusted."""
    host = "127.0.0.1" if settings.host in WILDCARD_BINDS else settings.host
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.port}"


def base_url(request: Request, state: ServiceState) -> str:
    """Where links in responses point: `public_base_url`, else the request's own base URL when
    its Host names this server, else the bind address (never a host a client made up)."""
    settings = state.settings
    if settings.public_base_url:
        return settings.public_base_url.rstrip("/")
    if host_allowed(request.headers.get("host"), allowed_host_names(settings)):
        return str(request.base_url).rstrip("/")
    return bind_base_url(settings)


def _bare(name: str) -> str:
    return name.strip().lower().strip("[]")


class AllowedHostsMiddleware:
    """Answer 400 `invalid_host` (OpenAI's error shape) to a request whose Host is not allowed."""

    def __init__(self, app: ASGIApp, allowed: tuple[str, ...]):
        self.app = app
        self.allowed = allowed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or scope.get("path") in ANY_HOST_PATHS:
            await self.app(scope, receive, send)
            return
        headers = [value for name, value in scope.get("headers", ()) if name == b"host"]
        header = headers[0].decode("latin-1") if len(headers) == 1 else None
        if len(headers) > 1 or not host_allowed(header, self.allowed):
            error = ApiError(
                400, "the Host header does not name this server (see the allowed_hosts setting)",
                param="Host", code="invalid_host",
            )
            await error_response(error)(scope, receive, send)
            return
        await self.app(scope, receive, send)
