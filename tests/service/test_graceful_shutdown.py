"""SIGTERM: new work is refused with 503, the running batch is handed back (no attempt counted)
once the grace period is over, a waiting client gets 503 naming its kept job, and a retry with
the same Idempotency-Key after the restart finds that job. Also: a connection that sends its
headers too slowly is closed."""

from __future__ import annotations

import asyncio
import socket
import threading
import time

import httpx
import pytest
from sqlalchemy import select

from gesso.service.http.draining import Drain, DrainGateMiddleware
from gesso.store.database import database_url, open_database
from gesso.store.tables import Job
from tests.service.conftest import assert_openai_error, http, job_row
from tests.service.server_process import running_server

HEADER_TIMEOUT_S = 1
LONG_STEPS = 1500  # a batch that outlasts the 1 s grace period on any machine the suite runs on


@pytest.fixture(scope="module")
def drain_server(models_dir, tmp_path_factory):
    with running_server(tmp_path_factory.mktemp("shutdown"), models_dir, default_steps=2, max_steps=LONG_STEPS,
                        shutdown_grace_s=1, header_read_timeout_s=HEADER_TIMEOUT_S) as proc:
        yield proc


def _closed_within(sock: socket.socket, seconds: float, trickle: bytes = b"") -> bool:
    """Send `trickle` a byte at a time; True once the server closes the connection."""
    deadline = time.monotonic() + seconds
    sock.settimeout(0.2)
    sent = 0
    while time.monotonic() < deadline:
        try:
            if sent < len(trickle):
                sock.send(trickle[sent:sent + 1])
                sent += 1
            if sock.recv(1024) == b"":
                return True
        except socket.timeout:
            continue
        except OSError:  # reset or broken pipe: closed as well
            return True
    return False


def test_a_connection_sending_headers_slowly_is_closed(drain_server):
    port = drain_server.port
    with socket.create_connection(("127.0.0.1", port)) as silent:
        assert _closed_within(silent, HEADER_TIMEOUT_S + 5)
    slow = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n" + b"X-Slow: " + b"a" * 200
    with socket.create_connection(("127.0.0.1", port)) as trickling:
        assert _closed_within(trickling, HEADER_TIMEOUT_S + 5, slow)
    assert httpx.get(f"{drain_server.url}/healthz").status_code == 200  # normal requests are untouched


def _job_by_key(sessions, idempotency_key: str) -> Job | None:
    with sessions() as session:
        return session.scalar(select(Job).where(Job.idempotency_key == idempotency_key))


def test_sigterm_hands_work_back_and_waiting_clients_get_503_with_their_job(drain_server):
    key = drain_server.admin_key()
    sessions = open_database(database_url(drain_server.data_dir))
    with http(drain_server, key) as client:
        long_id = client.post("/v1/images/generations",
                              json={"prompt": "long", "n": 8, "steps": LONG_STEPS, "background": True}).json()["id"]
    deadline = time.monotonic() + 30
    while job_row(sessions, long_id).status != "running" and time.monotonic() < deadline:
        time.sleep(0.02)
    answer: dict[str, httpx.Response] = {}

    def wait_synchronously() -> None:
        with http(drain_server, key) as waiting:
            answer["first"] = waiting.post("/v1/images/generations", json={"prompt": "queued behind"},
                                           headers={"Idempotency-Key": "kept-across-restart"})

    waiter = threading.Thread(target=wait_synchronously)
    waiter.start()
    while _job_by_key(sessions, "kept-across-restart") is None and time.monotonic() < deadline:
        time.sleep(0.02)
    waiting_id = _job_by_key(sessions, "kept-across-restart").id

    drain_server.process.terminate()  # SIGTERM
    waiter.join(30)
    refused = answer["first"]
    error = assert_openai_error(refused, 503)
    assert error["code"] == "server_shutting_down" and waiting_id in error["message"]
    assert refused.headers["x-gesso-job-id"] == waiting_id and int(refused.headers["retry-after"]) >= 1
    assert drain_server.process.wait(30) in (0, -15)  # uvicorn re-raises the SIGTERM it handled
    handed_back = job_row(sessions, long_id)
    # handed back uncounted once the grace period was over (or, on a very fast machine, finished)
    assert (handed_back.status, handed_back.attempts) in (("queued", 0), ("succeeded", 1))

    drain_server.start()
    with http(drain_server, key) as client:
        retried = client.post("/v1/images/generations", json={"prompt": "queued behind"},
                              headers={"Idempotency-Key": "kept-across-restart"})
    assert retried.status_code == 200 and retried.headers["x-gesso-job-id"] == waiting_id
    done = job_row(sessions, long_id)
    assert (done.status, done.attempts) == ("succeeded", 1)


class _State:
    def __init__(self):
        self.drain = Drain()


def _call(gate: DrainGateMiddleware, method: str, path: str) -> tuple[int, dict]:
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b""}

    async def send(message: dict) -> None:
        sent.append(message)

    asyncio.run(gate({"type": "http", "method": method, "path": path, "headers": []}, receive, send))
    return sent[0]["status"], dict(sent[0].get("headers", []))


def test_once_draining_new_work_and_readiness_answer_503_reads_go_on():
    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    state = _State()
    gate = DrainGateMiddleware(app, lambda: state)
    assert _call(gate, "POST", "/v1/images/generations")[0] == 200
    state.drain.begin(grace_s=5)
    status, headers = _call(gate, "POST", "/v1/images/generations")
    assert status == 503 and int(headers[b"retry-after"]) >= 1
    assert _call(gate, "GET", "/readyz")[0] == 503
    assert _call(gate, "GET", "/v1/images/jobs/job_x")[0] == 200
