"""Try to get a packet out while the egress guard is on: TCP, UDP, DNS, an HTTP client, during
generation and during a training step. Loopback must keep working.

192.0.2.1 is TEST-NET-1 (RFC 5737): never routed, so even a guard failure would reach nobody; the
tests prove the guard stopped the call *before* the system call (the socket never got a local port).
"""

from __future__ import annotations

import socket
import sys
import threading
import time

import httpx
import pytest
import torch

from gesso.governance.egress_guard import (
    EgressAttempt,
    EgressBlocked,
    Endpoint,
    egress_guard,
    egress_guard_enabled,
    is_allowed,
    resolve_endpoints,
)
from gesso.offline import OFFLINE_ENV, offline_gaps

OUTSIDE = ("192.0.2.1", 80)


@pytest.fixture()
def attempts() -> list[EgressAttempt]:
    return []


def tcp_echo_server() -> tuple[socket.socket, int]:
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen()

    def serve() -> None:
        connection, _ = server.accept()
        with connection:
            connection.sendall(connection.recv(64).upper())

    threading.Thread(target=serve, daemon=True).start()
    return server, server.getsockname()[1]


def test_outside_tcp_connection_is_blocked_before_any_packet(attempts):
    with egress_guard(on_block=attempts.append):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.settimeout(5)
        started = time.monotonic()
        with pytest.raises(EgressBlocked):
            sock.connect(OUTSIDE)
        elapsed = time.monotonic() - started
        # connect(2) never ran: the kernel would have bound an ephemeral local port for the SYN.
        assert sock.getsockname()[1] == 0
        sock.close()
    assert elapsed < 0.5
    assert [(a.event, a.host, a.port, a.blocked) for a in attempts] == [
        ("socket.connect", "192.0.2.1", 80, True)
    ]
    assert not egress_guard_enabled()


def test_dns_lookup_and_udp_are_blocked(attempts):
    with egress_guard(on_block=attempts.append):
        with pytest.raises(EgressBlocked):
            socket.getaddrinfo("example.com", 443)
        with pytest.raises(EgressBlocked):
            socket.gethostbyname("telemetry.example.org")
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        with pytest.raises(EgressBlocked):
            udp.sendto(b"query", ("192.0.2.1", 53))
        assert udp.getsockname()[1] == 0  # never bound, so nothing was sent
        udp.close()
    assert [a.host for a in attempts] == ["example.com", "telemetry.example.org", "192.0.2.1"]
    assert all(a.blocked for a in attempts)


def test_http_client_to_the_outside_is_blocked_and_recorded(attempts):
    with egress_guard(on_block=attempts.append):
        with pytest.raises(httpx.ConnectError) as caught:
            httpx.get("http://192.0.2.1:8080/v1/telemetry", timeout=5)
    assert "egress guard" in str(caught.value)
    assert attempts and attempts[0].host == "192.0.2.1" and attempts[0].blocked


def test_loopback_keeps_working_under_the_guard(attempts):
    server, port = tcp_echo_server()
    with egress_guard(on_block=attempts.append):
        assert socket.getaddrinfo("localhost", port)
        with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
            client.sendall(b"ping")
            assert client.recv(64) == b"PING"
    server.close()
    assert attempts == []


def test_configured_endpoint_is_allowed_and_its_other_ports_are_not():
    endpoints = resolve_endpoints(
        [Endpoint.parse("192.0.2.10:5432"), Endpoint.parse("[2001:db8::5]:9000")]
    )
    assert is_allowed("192.0.2.10", 5432, endpoints)
    assert is_allowed("2001:db8::5", 9000, endpoints)
    assert not is_allowed("192.0.2.10", 22, endpoints)
    assert not is_allowed("192.0.2.11", 5432, endpoints)
    for loopback in ("::1", "localhost", "LOCALHOST.", "127.8.9.10", "::ffff:127.0.0.1"):
        assert is_allowed(loopback, 80, ())
    for outside in ("::ffff:192.0.2.1", "0.0.0.0", "localhost.example.com", "127.0.0.1.nip.io"):
        assert not is_allowed(outside, 80, ())


def test_allowed_endpoint_passes_the_hook_and_monitor_mode_only_records(attempts):
    with egress_guard(allowed=["192.0.2.10:5432"], on_block=attempts.append):
        sys.audit("socket.connect", None, ("192.0.2.10", 5432))  # what socket.connect raises first
        with pytest.raises(EgressBlocked):
            sys.audit("socket.connect", None, ("192.0.2.10", 5433))
    with egress_guard(on_block=attempts.append, mode="monitor"):
        sys.audit("socket.connect", None, OUTSIDE)  # reported, not raised
    assert [(a.port, a.blocked) for a in attempts] == [(5433, True), (80, False)]


@pytest.mark.parametrize("bad", ["", "*:80", "db:99999", "db:abc"])
def test_malformed_endpoints_are_refused(bad):
    with pytest.raises(ValueError):
        Endpoint.parse(bad)


def test_guard_state_is_restored_after_nesting(attempts):
    with egress_guard(allowed=["192.0.2.10:5432"]):
        with egress_guard(on_block=attempts.append):
            with pytest.raises(EgressBlocked):
                sys.audit("socket.connect", None, ("192.0.2.10", 5432))
        sys.audit("socket.connect", None, ("192.0.2.10", 5432))
        assert egress_guard_enabled()
    assert not egress_guard_enabled()
    sys.audit("socket.connect", None, OUTSIDE)  # guard off: the hook lets it through


def test_generation_and_a_training_step_run_under_the_guard(tiny_pipeline_dir, attempts):
    from gesso.model.pipeline_gesso import GessoPipeline
    from gesso.train.base_loop import flow_matching_loss

    with egress_guard(on_block=attempts.append):
        pipe = GessoPipeline.load(tiny_pipeline_dir)
        images = pipe("red circle", num_inference_steps=2, seed=0, output_type="pt")
        assert images.shape == (1, 3, pipe.native_size, pipe.native_size)

        # A fine-tuning step: flow-matching loss on the denoiser, one optimiser update.
        states, mask = pipe.encode_prompts(["red circle", "blue square"])
        latents = pipe.encode_image(images.float().div(127.5).sub(1).repeat(2, 1, 1, 1))
        optimiser = torch.optim.AdamW(pipe.transformer.parameters(), lr=1e-3)
        before = [p.detach().clone() for p in pipe.transformer.parameters()]
        loss = flow_matching_loss(
            pipe.transformer, latents, states, mask, torch.Generator().manual_seed(0)
        )
        loss.backward()
        optimiser.step()
        assert any(
            not torch.equal(a, b)
            for a, b in zip(before, pipe.transformer.parameters(), strict=True)
        )

        # Mid-run, something tries to phone home: blocked and recorded.
        with pytest.raises(EgressBlocked):
            socket.create_connection(OUTSIDE, timeout=5)
    assert [(a.host, a.blocked) for a in attempts] == [("192.0.2.1", True)]


def test_every_offline_switch_is_set_once_gesso_is_imported():
    import gesso  # noqa: F401

    assert offline_gaps() == []
    assert offline_gaps({}) == list(OFFLINE_ENV)
