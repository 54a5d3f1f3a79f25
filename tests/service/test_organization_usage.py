"""`GET /v1/organization/usage` counts the images each key of the organisation generated."""

from __future__ import annotations

import time
from datetime import datetime, timezone

from tests.service.conftest import assert_openai_error, http, sdk

USAGE = "/v1/organization/usage"


def key_id_of(server, secret: str) -> str:
    with http(server, secret) as client:
        return client.get("/v1/me").json()["key"]["id"]


def usage(server, admin: str, **params) -> dict:
    with http(server, admin) as client:
        response = client.get(USAGE, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def test_usage_per_key_and_day_matches_the_generated_images(server, make_key):
    admin, first, second = make_key("usage-a", "admin"), make_key("usage-a", "developer"), make_key("usage-a", "developer")
    idle = make_key("usage-a", "viewer")
    outsider = make_key("usage-b", "developer")
    start = time.time()
    made_by_first = len(sdk(server, first).images.generate(prompt="a blue square", n=2).data)
    made_by_first += len(sdk(server, first).images.generate(prompt="a green dot", n=1).data)
    made_by_second = len(sdk(server, second).images.generate(prompt="a red ring", n=1).data)
    sdk(server, outsider).images.generate(prompt="not counted here", n=2)
    end = time.time()

    body = usage(server, admin)
    rows = {row["api_key_id"]: row for row in body["data"]}
    ids = {name: key_id_of(server, key) for name, key in [("first", first), ("second", second), ("idle", idle)]}
    assert (rows[ids["first"]]["images"], rows[ids["first"]]["requests"]) == (made_by_first, 2) == (3, 2)
    assert (rows[ids["second"]]["images"], rows[ids["second"]]["requests"]) == (made_by_second, 1)
    assert (rows[ids["idle"]]["images"], rows[ids["idle"]]["last_image_at"]) == (0, None)
    assert body["total_images"] == made_by_first + made_by_second
    assert key_id_of(server, outsider) not in rows
    assert body["data"][0]["api_key_id"] == ids["first"]  # most images first
    assert int(start) <= rows[ids["first"]]["first_image_at"] <= rows[ids["first"]]["last_image_at"] <= end

    days = {datetime.fromtimestamp(moment, timezone.utc).date().isoformat() for moment in (start, end)}
    daily = body["daily"]
    assert {row["date"] for row in daily} <= days
    assert sum(row["images"] for row in daily if row["api_key_id"] == ids["first"]) == made_by_first
    assert sum(row["images"] for row in daily) == body["total_images"]

    assert usage(server, admin, since=start, until=end)["total_images"] == 4
    assert usage(server, admin, until=start - 1)["total_images"] == 0
    assert usage(server, admin, since=end + 1)["total_images"] == 0


def test_bad_usage_bounds_are_400s(server, make_key):
    admin = make_key("usage-a", "admin")
    with http(server, admin) as client:
        assert_openai_error(client.get(USAGE, params={"since": "yesterday"}), 400, "since")
        assert_openai_error(client.get(USAGE, params={"until": -5}), 400, "until")
        assert_openai_error(client.get(USAGE, params={"since": 200, "until": 100}), 400, "since")
