"""The suite's zero-5xx check reads the shared server's log: it must see a 5xx when there is one."""

from __future__ import annotations

import json

from tests.service.conftest import answers_of_5xx


def test_the_5xx_scan_finds_server_errors_and_nothing_else():
    lines = [
        json.dumps({"message": "request", "method": "GET", "path": "/v1/models", "status": 200}),
        "not json at all",
        json.dumps({"message": "request", "method": "POST", "path": "/v1/images/generations", "status": 500,
                    "request_id": "r1"}),
        json.dumps({"message": "worker started"}),
        json.dumps({"message": "request", "method": "GET", "path": "/readyz", "status": 503}),
    ]
    assert answers_of_5xx("\n".join(lines)) == [
        {"method": "POST", "path": "/v1/images/generations", "status": 500, "request_id": "r1"}
    ]
