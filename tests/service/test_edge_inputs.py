"""Client input checked at the edge, against the real server: malformed signed-URL tokens, lone
surrogates and NULs in strings, out-of-range query numbers and settings; each is a 4xx in
OpenAI's error shape, never a 500 or a dropped connection."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.conftest import png_bytes
from tests.service.conftest import assert_openai_error, http

HEX = "0" * 64


@pytest.fixture(scope="module")
def edge_dev(make_key) -> str:
    return make_key("edge-inputs", "developer", rate_limit_per_minute=10_000)


@pytest.fixture(scope="module")
def edge_admin(make_key) -> str:
    return make_key("edge-inputs", "admin", rate_limit_per_minute=10_000)


@pytest.fixture(scope="module")
def edge_auditor(make_key) -> str:
    return make_key("edge-inputs", "auditor", rate_limit_per_minute=10_000)


def _raw_json(client: httpx.Client, method: str, path: str, text: str) -> httpx.Response:
    """Send `text` as the body verbatim (httpx would re-encode a Python string with surrogates)."""
    return client.request(method, path, content=text.encode(), headers={"Content-Type": "application/json"})


@pytest.mark.parametrize(
    "token",
    [
        "\u0661\u0662\u0663\u0664." + HEX,  # Arabic-Indic digits: isdigit() is True, int() works
        "\u00b2\u00b3." + HEX,  # superscripts: isdigit() is True, int() fails
        "9" * 5000 + "." + HEX,  # past int()'s digit limit
        "99999999999999999999." + HEX,  # an expiry past any clock
        "1." + HEX + "0",
        "." + HEX,
        "",
        "abc",
        "1.\u0660" * 3,
    ],
)
def test_malformed_signed_url_token_is_refused_before_any_lookup(server, token):
    response = httpx.get(f"{server.url}/v1/images/img_{'a' * 32}/content", params={"token": token})
    assert_openai_error(response, 401)


@pytest.mark.parametrize("image_id", ["img_%F0%9F%98%80", "a" * 400, "img%00x", "..", "img_%ED%A0%80"])
def test_malformed_image_id_in_the_content_url_is_a_4xx(server, image_id):
    response = httpx.get(f"{server.url}/v1/images/{image_id}/content", params={"token": "1." + HEX})
    assert 400 <= response.status_code < 500, response.text
    assert_openai_error(response, response.status_code)


@pytest.mark.parametrize("field", ["prompt", "negative_prompt", "user", "safety_identifier", "size", "model"])
def test_lone_surrogate_in_a_generation_string_is_400_naming_it(server, edge_dev, field):
    body = {"prompt": "a red circle", field: "x"}
    text = json.dumps(body).replace('"x"', '"a \\ud800 b"')
    with http(server, edge_dev) as client:
        error = assert_openai_error(_raw_json(client, "POST", "/v1/images/generations", text), 400, field)
    assert error["code"] == "invalid_value"


def test_nul_and_huge_strings_in_a_generation_are_400(server, edge_dev):
    with http(server, edge_dev) as client:
        assert_openai_error(client.post("/v1/images/generations", json={"prompt": "a\x00b"}), 400, "prompt")
        assert_openai_error(client.post("/v1/images/generations", json={"prompt": "x" * 40_000}), 400, "prompt")
        assert_openai_error(client.post("/v1/images/generations", json={"prompt": "x", "user": "u" * 300}), 400, "user")


@pytest.mark.parametrize(
    ("field", "value"),
    [("guidance_scale", "1e400"), ("guidance_scale", "NaN"), ("seed", "1" + "0" * 30), ("n", "1e3"),
     ("steps", str(2**70)), ("output_compression", "-Infinity")],
)
def test_non_finite_and_huge_numbers_in_a_generation_are_400(server, edge_dev, field, value):
    text = f'{{"prompt": "a circle", "{field}": {value}}}'
    with http(server, edge_dev) as client:
        assert_openai_error(_raw_json(client, "POST", "/v1/images/generations", text), 400, field)


def test_deeply_nested_json_body_is_400(server, edge_dev):
    text = '{"prompt": "x", "svg": ' + "[" * 100_000 + "]" * 100_000 + "}"
    with http(server, edge_dev) as client:
        response = _raw_json(client, "POST", "/v1/images/generations", text)
    assert_openai_error(response, 400)


@pytest.mark.parametrize(
    ("fields", "param"),
    [({"prompt": "a\x00b"}, "prompt"), ({"prompt": "x", "user": "\x00"}, "user"),
     ({"prompt": "x", "strength": "nan"}, "strength"), ({"prompt": "x", "guidance_scale": "inf"}, "guidance_scale"),
     ({"prompt": "x", "seed": "9" * 40}, "seed"), ({"prompt": "x" * 40_000}, "prompt")],
)
def test_bad_multipart_text_fields_of_an_edit_are_400(server, edge_dev, fields, param):
    with http(server, edge_dev) as client:
        response = client.post("/v1/images/edits", files={"image": ("a.png", png_bytes(), "image/png")}, data=fields)
    assert_openai_error(response, 400, param)


def test_bad_multipart_text_fields_of_a_variation_are_400(server, edge_dev):
    with http(server, edge_dev) as client:
        response = client.post(
            "/v1/images/variations", files={"image": ("a.png", png_bytes(), "image/png")}, data={"user": "\x00"}
        )
    assert_openai_error(response, 400, "user")


@pytest.mark.parametrize("key", ["k" * 201, "caf\u00e9", "a\tb"])
def test_bad_idempotency_key_header_is_400(server, edge_dev, key):
    with http(server, edge_dev) as client:
        response = client.post(
            "/v1/images/generations", json={"prompt": "x", "n": 99}, headers={"Idempotency-Key": key.encode("latin-1")}
        )
    assert_openai_error(response, 400, "Idempotency-Key")


@pytest.mark.parametrize(
    ("params", "param"),
    [({"since": "1e400"}, "since"), ({"until": "-1e20"}, "until"), ({"since": "nan"}, "since"),
     ({"until": "9999-12-31T23:59:59-01:00"}, "until"), ({"since": "x" * 100}, "since"),
     ({"after": "1" * 23}, "after"), ({"after": "-1"}, "after"), ({"limit": "1e3"}, "limit"),
     ({"limit": str(2**64)}, "limit"), ({"action": "a" * 300}, "action")],
)
def test_audit_query_out_of_range_is_400(server, edge_auditor, params, param):
    with http(server, edge_auditor) as client:
        assert_openai_error(client.get("/v1/audit", params=params), 400, param)


@pytest.mark.parametrize(
    ("path", "params", "param"),
    [("/v1/organization/usage", {"since": "1e400"}, "since"), ("/v1/organization/usage", {"until": "inf"}, "until"),
     ("/v1/organization/usage", {"since": "nan"}, "since"), ("/v1/images", {"since": "1e400"}, "since"),
     ("/v1/images", {"until": "NaN"}, "until"), ("/v1/images", {"limit": "9" * 30}, "limit"),
     ("/v1/images", {"after": "img_\u00e9"}, "after"), ("/v1/images", {"q": "a\x00"}, "q")],
)
def test_listing_query_out_of_range_is_400(server, edge_admin, path, params, param):
    with http(server, edge_admin) as client:
        assert_openai_error(client.get(path, params=params), 400, param)


@pytest.mark.parametrize(
    ("text", "param"),
    [('{"image_retention_days": 1e400}', "image_retention_days"),
     ('{"job_retention_days": 1e300}', "job_retention_days"),
     ('{"semantic_threshold": NaN}', "semantic_threshold"),
     ('{"image_retention_days": true}', "image_retention_days"),
     ('{"blocked_terms": ["a \\ud800"]}', "blocked_terms"),
     ('{"blocked_concepts": ["x\\u0000"]}', "blocked_concepts")],
)
def test_out_of_range_organisation_setting_is_400_and_not_stored(server, edge_admin, edge_auditor, text, param):
    with http(server, edge_admin) as client:
        assert_openai_error(_raw_json(client, "PATCH", "/v1/organization/settings", text), 400, param)
        settings = client.get("/v1/organization/settings")
    assert settings.status_code == 200
    assert settings.json()["image_retention_days"] is None
    with http(server, edge_auditor) as client:
        raw = client.get("/v1/audit", params={"limit": 1000}).text
        verified = client.get("/v1/audit/verify").json()
    assert "Infinity" not in raw and "NaN" not in raw
    assert verified["intact"], verified


def test_unknown_setting_named_by_a_lone_surrogate_is_400(server, edge_admin):
    with http(server, edge_admin) as client:
        response = _raw_json(client, "PATCH", "/v1/organization/settings", '{"\\ud800": 1}')
    assert_openai_error(response, 400)


def test_key_creation_strings_are_checked(server, edge_admin):
    with http(server, edge_admin) as client:
        surrogate = _raw_json(client, "POST", "/v1/organization/api_keys", '{"name": "\\udfff", "role": "viewer"}')
        huge = client.post("/v1/organization/api_keys", json={"name": "k", "role": "viewer",
                                                               "rate_limit_per_minute": 10**30})
    assert_openai_error(surrogate, 400, "name")
    assert_openai_error(huge, 400, "rate_limit_per_minute")
