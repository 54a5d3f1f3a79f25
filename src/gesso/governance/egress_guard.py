"""Egress guard: a Python audit hook that lets sockets reach only loopback and configured endpoints.

CPython raises an audit event before it makes a socket system call (`socket.connect`,
`socket.sendto`, `socket.getaddrinfo`, ...). The hook checks the destination and, in strict mode,
raises `EgressBlocked` from inside the event, so the system call never runs: no SYN, no DNS query,
no packet leaves. Every blocked (or, in monitor mode, every unlisted) attempt is passed to the
`on_block` callback, which the service wires to the audit log.

Audit hooks cannot be removed once added (PEP 578). The hook is therefore installed once per
process and consults module state; `enable_egress_guard` / `disable_egress_guard` and the
`egress_guard` context manager switch that state, which is what tests use to restore it.

What it does not cover: native code that opens sockets without going through CPython's `socket`
module (a Rust or C library's own HTTP client) and child processes. Pair it with a network policy
at the host or cluster level; see docs/SECURITY.md.
"""

from __future__ import annotations

import ipaddress
import socket
import sys
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, Iterator, Literal

Mode = Literal["strict", "monitor"]

LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})
# Events whose arguments name a destination; index of the address in the event's args.
ADDRESS_EVENTS = {"socket.connect": 1, "socket.sendto": 1, "socket.sendmsg": 1}
NAME_EVENTS = {
    "socket.getaddrinfo",
    "socket.gethostbyname",
    "socket.gethostbyname_ex",
    "socket.gethostbyaddr",
}


class EgressBlocked(PermissionError):
    """An outbound connection to an endpoint that is not on the allow-list."""


@dataclass(frozen=True)
class Endpoint:
    host: str  # a host name or IP address, lower case
    port: int | None  # None allows every port of the host

    @classmethod
    def parse(cls, text: str) -> "Endpoint":
        """`host:port`, `host` (any port), `[v6]:port` or `*:port` is refused; raises ValueError."""
        text = text.strip()
        if not text:
            raise ValueError("empty endpoint")
        if text.startswith("["):
            host, _, rest = text[1:].partition("]")
            port_text = rest[1:] if rest.startswith(":") else ""
        elif text.count(":") == 1:
            host, port_text = text.split(":")
        else:
            host, port_text = text, ""
        if not host or "*" in host:
            raise ValueError(f"endpoint {text!r} must name one host")
        port = int(port_text) if port_text else None
        if port is not None and not 0 < port < 65536:
            raise ValueError(f"endpoint {text!r} has a bad port")
        return cls(host.lower(), port)


@dataclass(frozen=True)
class EgressAttempt:
    event: str
    host: str
    port: int | None
    blocked: bool
    time: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat())

    def audit_details(self) -> dict[str, Any]:
        return {"event": self.event, "host": self.host, "port": self.port, "blocked": self.blocked}


@dataclass
class _GuardState:
    enabled: bool = False
    mode: Mode = "strict"
    endpoints: frozenset[Endpoint] = frozenset()
    on_block: Callable[[EgressAttempt], None] | None = None


_state = _GuardState()
_installed = False
_install_lock = threading.Lock()
_reporting = threading.local()  # set while on_block runs, so a blocked callback does not recurse


def is_loopback(host: str) -> bool:
    host = host.lower().rstrip(".")
    if host in LOOPBACK_NAMES or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)  # ::ffff:127.0.0.1 is loopback too
    return address.is_loopback or (mapped is not None and mapped.is_loopback)


def is_allowed(host: str, port: int | None, endpoints: Iterable[Endpoint]) -> bool:
    """Whether a destination is loopback or an allowed endpoint (port None: a name lookup)."""
    if is_loopback(host):
        return True
    host = host.lower().rstrip(".")
    for endpoint in endpoints:
        if endpoint.host == host and (
            endpoint.port is None or port is None or endpoint.port == port
        ):
            return True
    return False


def resolve_endpoints(endpoints: Iterable[Endpoint]) -> frozenset[Endpoint]:
    """The endpoints plus the IP addresses their host names resolve to now (best effort).

    Run before the guard is enabled, so that a connection to a configured database by its resolved
    address is recognised. An unresolvable name is kept as a name only.
    """
    resolved = set(endpoints)
    for endpoint in list(resolved):
        try:
            ipaddress.ip_address(endpoint.host)
            continue
        except ValueError:
            pass
        try:
            infos = socket.getaddrinfo(endpoint.host, endpoint.port, proto=socket.IPPROTO_TCP)
        except OSError:
            continue
        for info in infos:
            resolved.add(Endpoint(str(info[4][0]).lower(), endpoint.port))
    return frozenset(resolved)


def enable_egress_guard(
    allowed: Iterable[str] = (),
    on_block: Callable[[EgressAttempt], None] | None = None,
    mode: Mode = "strict",
    resolve: bool = True,
) -> None:
    """Install the hook (once per process) and guard every later socket call.

    `allowed`: "host:port" strings for the database, object store and cluster; loopback is always
    allowed. `mode`: "strict" blocks and reports, "monitor" only reports. Raises ValueError on a
    malformed endpoint or mode.
    """
    global _installed
    if mode not in ("strict", "monitor"):
        raise ValueError(f"egress mode must be 'strict' or 'monitor', got {mode!r}")
    endpoints = frozenset(Endpoint.parse(text) for text in allowed)
    if resolve:
        endpoints = resolve_endpoints(endpoints)
    with _install_lock:
        if not _installed:
            sys.addaudithook(_audit_hook)
            _installed = True
        _state.mode = mode
        _state.endpoints = endpoints
        _state.on_block = on_block
        _state.enabled = True


def disable_egress_guard() -> None:
    """Stop guarding (the hook stays installed but lets everything through)."""
    _state.enabled = False


def egress_guard_enabled() -> bool:
    return _state.enabled


@contextmanager
def egress_guard(
    allowed: Iterable[str] = (),
    on_block: Callable[[EgressAttempt], None] | None = None,
    mode: Mode = "strict",
) -> Iterator[None]:
    """Guard the block's socket calls, then restore whatever guard state was there before."""
    saved = _GuardState(_state.enabled, _state.mode, _state.endpoints, _state.on_block)
    enable_egress_guard(allowed, on_block, mode)
    try:
        yield
    finally:
        _state.mode, _state.endpoints, _state.on_block = saved.mode, saved.endpoints, saved.on_block
        _state.enabled = saved.enabled


def _audit_hook(event: str, args: tuple[Any, ...]) -> None:
    if not _state.enabled or not event.startswith("socket."):
        return
    destination = _destination(event, args)
    if destination is None:
        return
    host, port = destination
    if is_allowed(host, port, _state.endpoints):
        return
    blocked = _state.mode == "strict"
    if not getattr(
        _reporting, "active", False
    ):  # the callback's own sockets are judged, not re-reported
        _report(EgressAttempt(event, host, port, blocked))
    if blocked:
        raise EgressBlocked(
            f"egress to {host}:{port if port is not None else '*'} blocked by Gesso's egress guard"
        )


def _destination(event: str, args: tuple[Any, ...]) -> tuple[str, int | None] | None:
    """(host, port) named by a socket event, or None when the event names no remote address."""
    if event in ADDRESS_EVENTS:
        address = args[ADDRESS_EVENTS[event]] if len(args) > ADDRESS_EVENTS[event] else None
        if (
            isinstance(address, tuple)
            and len(address) >= 2
            and isinstance(address[0], (str, bytes))
        ):
            host = address[0].decode() if isinstance(address[0], bytes) else address[0]
            return host, int(address[1]) if isinstance(address[1], int) else None
        return None  # AF_UNIX paths and other local families
    if event in NAME_EVENTS and args:
        host = args[0]
        if isinstance(host, bytes):
            host = host.decode(errors="replace")
        if host is None or host == "":
            return None  # getaddrinfo(None, port) asks for a local (bind) address
        port = (
            args[1]
            if event == "socket.getaddrinfo" and len(args) > 1 and isinstance(args[1], int)
            else None
        )
        return str(host), port
    return None


def _report(attempt: EgressAttempt) -> None:
    callback = _state.on_block
    if callback is None:
        return
    _reporting.active = True
    try:
        callback(attempt)
    finally:
        _reporting.active = False
