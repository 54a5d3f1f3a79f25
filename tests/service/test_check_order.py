"""Authentication comes first: a request without a valid key is 401 whatever its body; failed
authentications are limited per source address (429); repeated refusals are summarised in the
audit log instead of one record each."""

from __future__ import annotations

import json
import time

import pytest
from sqlalchemy import select

from gesso.store.database import database_url, open_database
from gesso.store.tables import AuditRecordRow
from tests.service.conftest import assert_openai_error, http
from tests.service.server_process import ServerProcess, running_server

FAILURES_PER_MINUTE = 30
SUMMARY_EVERY = 10


@pytest.mark.parametrize("header", [None, "Bearer not-a-key", "Basic abc"])
def test_a_malformed_body_without_a_valid_key_is_401_not_400(server, header):
    headers = {"Content-Type": "application/json", **({"Authorization": header} if header else {})}
    with http(server) as client:
        response = client.post("/v1/images/generations", content=b"{not json", headers=headers)
        error = assert_openai_error(response, 401)
        assert error["code"] == "invalid_api_key"
        form = client.post("/v1/images/edits", content=b"--x\r\nbroken", headers={
            "Content-Type": "multipart/form-data; boundary=x", **({"Authorization": header} if header else {})})
        assert_openai_error(form, 401)


def test_an_oversized_body_without_a_key_is_401_before_the_body_limit(server):
    with http(server) as client:
        response = client.post("/v1/images/generations", content=b"x" * (3 * 1024 * 1024),
                               headers={"Content-Type": "application/json"})
    assert_openai_error(response, 401)


def test_a_malformed_body_with_a_valid_key_is_still_400(server, dev_key):
    with http(server, dev_key) as client:
        response = client.post("/v1/images/generations", content=b"{not json",
                               headers={"Content-Type": "application/json"})
    assert assert_openai_error(response, 400)["code"] == "invalid_json"


@pytest.fixture(scope="module")
def guarded_server(models_dir, tmp_path_factory):
    with running_server(
        tmp_path_factory.mktemp("check-order"), models_dir, default_steps=2,
        auth_failures_per_minute=FAILURES_PER_MINUTE, refusal_audit_summary_every=SUMMARY_EVERY,
    ) as proc:
        yield proc


def _refusal_records(proc: ServerProcess) -> list[AuditRecordRow]:
    sessions = open_database(database_url(proc.data_dir))
    with sessions() as session:
        return list(session.scalars(
            select(AuditRecordRow).where(AuditRecordRow.chain == "deployment",
                                         AuditRecordRow.action.like("authorisation.refused%"))
            .order_by(AuditRecordRow.id)
        ))


def test_repeated_bad_keys_are_summarised_and_then_limited_per_address(guarded_server):
    bad = 25
    with http(guarded_server, "gesso-sk-wrong") as client:
        for i in range(bad):
            assert_openai_error(client.get(f"/v1/models/m{i}"), 401)
    deadline = time.monotonic() + 10
    while True:  # the records are written after each answer
        records = _refusal_records(guarded_server)
        summaries = [r for r in records if r.action == "authorisation.refused_repeatedly"]
        if len(summaries) == (bad - 1) // SUMMARY_EVERY or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    singles = [r for r in records if r.action == "authorisation.refused"]
    assert len(singles) == 1 and singles[0].actor == "unknown key"
    assert [json.loads(r.details_json)["count"] for r in summaries] == [SUMMARY_EVERY, SUMMARY_EVERY]
    assert json.loads(summaries[0].details_json)["paths"]  # a sample of what was tried

    with http(guarded_server, "gesso-sk-wrong") as client:
        answers = [client.get("/v1/models") for _ in range(10)]
    statuses = [r.status_code for r in answers]
    assert statuses[: FAILURES_PER_MINUTE - bad] == [401] * (FAILURES_PER_MINUTE - bad)
    limited = answers[-1]
    error = assert_openai_error(limited, 429)
    assert error["code"] == "rate_limit_exceeded" and int(limited.headers["retry-after"]) >= 1
    with http(guarded_server) as client:  # no key at all: the same address's budget
        assert_openai_error(client.post("/v1/images/generations", content=b"{"), 429)
    with http(guarded_server, guarded_server.admin_key()) as client:  # a valid key still works
        assert client.get("/v1/models").status_code == 200
