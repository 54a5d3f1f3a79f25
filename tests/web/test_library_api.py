"""`GET /v1/images` and `GET /v1/me`, the two API extensions the console reads."""

from __future__ import annotations

import io
import time

import httpx
import pytest
from PIL import Image


def client(server, key: str) -> httpx.Client:
    return httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {key}"}, timeout=60)


@pytest.fixture(scope="module")
def library_key(make_key) -> str:
    return make_key("weblibrary", "developer")


@pytest.fixture(scope="module")
def made(server, library_key):
    """Two jobs in one tenant: 2 images of a fox, 1 of an owl."""
    with client(server, library_key) as http:
        for prompt, n, seed in (("a Red Fox in snow", 2, 100), ("an owl at night", 1, 200)):
            response = http.post("/v1/images/generations", json={"prompt": prompt, "n": n, "seed": seed})
            assert response.status_code == 200, response.text
    return time.time()


def test_lists_own_images_newest_first_with_their_parameters(server, library_key, made):
    with client(server, library_key) as http:
        body = http.get("/v1/images").json()
    assert body["object"] == "list" and body["has_more"] is False
    prompts = [item["prompt"] for item in body["data"]]
    assert prompts == ["an owl at night", "a Red Fox in snow", "a Red Fox in snow"]
    fox = [item for item in body["data"] if item["prompt"].endswith("snow")]
    assert sorted(item["seed"] for item in fox) == [100, 101]
    assert {item["model"] for item in body["data"]} == {"gesso-base"}
    assert all(item["steps"] == 4 for item in body["data"])
    png = Image.open(io.BytesIO(httpx.get(body["data"][0]["url"]).content))
    assert png.format == "PNG" and body["data"][0]["size"] == f"{png.width}x{png.height}"


def test_search_is_case_insensitive_and_filters_combine(server, library_key, made):
    with client(server, library_key) as http:
        assert len(http.get("/v1/images", params={"q": "red fox"}).json()["data"]) == 2
        assert http.get("/v1/images", params={"q": "fox", "model": "other"}).json()["data"] == []
        assert http.get("/v1/images", params={"until": 1000}).json()["data"] == []
        assert len(http.get("/v1/images", params={"since": made - 600, "until": made + 1}).json()["data"]) == 3


def test_pages_follow_the_after_cursor(server, library_key, made):
    with client(server, library_key) as http:
        first = http.get("/v1/images", params={"limit": 2}).json()
        second = http.get("/v1/images", params={"limit": 2, "after": first["last_id"]}).json()
    assert first["has_more"] is True and second["has_more"] is False
    ids = [item["id"] for item in first["data"] + second["data"]]
    assert len(ids) == len(set(ids)) == 3


@pytest.mark.parametrize(
    ("params", "param"),
    [({"limit": 0}, "limit"), ({"limit": 101}, "limit"), ({"after": "img_nope"}, "after"),
     ({"since": 20, "until": 10}, "since"), ({"since": "yesterday"}, "since")],
)
def test_bad_filters_are_refused_naming_the_parameter(server, library_key, params, param):
    with client(server, library_key) as http:
        response = http.get("/v1/images", params=params)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == param


def test_other_tenants_and_roles(server, library_key, made, make_key):
    with client(server, make_key("weblibrary-other", "developer")) as http:
        assert http.get("/v1/images").json()["data"] == []
        first = client(server, library_key).get("/v1/images").json()["first_id"]
        # another tenant's image id is not a usable cursor either
        assert http.get("/v1/images", params={"after": first}).status_code == 400
    with client(server, make_key("weblibrary", "viewer")) as http:
        assert len(http.get("/v1/images").json()["data"]) == 3
    with client(server, make_key("weblibrary", "auditor")) as http:
        assert http.get("/v1/images").status_code == 403
    assert httpx.get(f"{server.url}/v1/images").status_code == 401


def test_me_names_tenant_role_prefix_and_permissions(server, make_key):
    key = make_key("weblibrary", "viewer")
    with client(server, key) as http:
        me = http.get("/v1/me").json()
    assert me["tenant"]["name"] == "weblibrary"
    assert me["role"] == "viewer"
    assert key.startswith(me["key"]["prefix"]) and len(me["key"]["prefix"]) < len(key) // 2
    assert "images:read" in me["permissions"] and "images:create" not in me["permissions"]
    assert httpx.get(f"{server.url}/v1/me", headers={"Authorization": "Bearer gesso-sk-wrong"}).status_code == 401
