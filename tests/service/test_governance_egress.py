"""`gesso serve` runs under the egress guard: while it generates, a dependency that phones home
(planted with `sitecustomize`, as a compromised package would be) is blocked before any packet
leaves, generation carries on, and the attempt is in the deployment's audit chain."""

from __future__ import annotations

import json
import os
import time

import pytest
from sqlalchemy import select

from gesso.store.database import database_url, open_database
from gesso.store.tables import AuditRecordRow
from tests.service.conftest import http
from tests.service.server_process import running_server

PHONE_HOME = '''
import os, socket, threading, time

def _phone_home():
    trigger = os.environ["GESSO_TEST_PHONE_HOME_TRIGGER"]
    while not os.path.exists(trigger):
        time.sleep(0.05)
    outcome = {}
    for name, attempt in (
        ("tcp", lambda: socket.create_connection(("192.0.2.1", 80), timeout=2)),
        ("dns", lambda: socket.getaddrinfo("telemetry.example.com", 443)),
    ):
        try:
            attempt()
            outcome[name] = "connected"
        except Exception as exc:
            outcome[name] = type(exc).__name__
    with open(trigger + ".result", "w") as handle:
        handle.write(__import__("json").dumps(outcome))

threading.Thread(target=_phone_home, daemon=True).start()
'''


@pytest.fixture(scope="module")
def guarded_server(models_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("guarded")
    (root / "plant").mkdir()
    (root / "plant" / "sitecustomize.py").write_text(PHONE_HOME)
    environment = {"PYTHONPATH": os.pathsep.join([str(root / "plant"), os.environ.get("PYTHONPATH", "")]),
                   "GESSO_TEST_PHONE_HOME_TRIGGER": str(root / "trigger")}
    with running_server(root, models_dir, environment, default_steps=2) as proc:
        yield proc


def test_outside_connection_during_generation_is_blocked_and_audited(guarded_server):
    admin = guarded_server.admin_key()
    trigger = guarded_server.root / "trigger"
    with http(guarded_server, admin) as client:
        job = client.post("/v1/images/generations", json={"prompt": "a kite", "background": True}).json()
        trigger.write_text("go")  # the planted code phones home while the job runs
        deadline = time.monotonic() + 60
        while not (guarded_server.root / "trigger.result").exists():
            assert time.monotonic() < deadline, guarded_server.log()[-2000:]
            time.sleep(0.1)
        while client.get(f"/v1/images/jobs/{job['id']}").json()["status"] != "succeeded":
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert client.post("/v1/images/generations", json={"prompt": "a kite"}).status_code == 200
    outcome = json.loads((guarded_server.root / "trigger.result").read_text())
    assert outcome == {"tcp": "EgressBlocked", "dns": "EgressBlocked"}
    sessions = open_database(database_url(guarded_server.data_dir))
    deadline = time.monotonic() + 10
    while True:
        with sessions() as session:
            records = session.scalars(select(AuditRecordRow).where(AuditRecordRow.action == "egress.blocked")).all()
        if len(records) >= 2 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    targets = {(r.chain, r.target) for r in records}
    assert ("deployment", "192.0.2.1:80") in targets
    assert any(target.startswith("telemetry.example.com") for _, target in targets)
    assert all(json.loads(r.details_json)["blocked"] for r in records)
