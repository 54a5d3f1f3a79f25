"""A blocked term written in look-alikes, invisibles or separators is refused by a running server."""

from __future__ import annotations

import pytest

from tests.service.conftest import assert_openai_error, http

TENANT = "policy-evasion"


@pytest.fixture(scope="module")
def dev(server, make_key) -> str:
    with http(server, make_key(TENANT, "admin")) as client:
        response = client.patch("/v1/organization/settings", json={"blocked_terms": ["bomb"]})
    assert response.status_code == 200, response.text
    return make_key(TENANT, "developer")


@pytest.mark.parametrize(
    "prompt",
    ["a ʙᴏᴍʙ on a table", "a b\u3164o\u200dm\u00adb on a table", "a bo\u2800mb", "a b*mb", "a b()mb"],
)
def test_a_confusable_written_prompt_is_a_content_policy_violation(server, dev, prompt):
    with http(server, dev) as client:
        response = client.post("/v1/images/generations", json={"prompt": prompt})
    error = assert_openai_error(response, 400, "prompt")
    assert error["code"] == "content_policy_violation"
    assert "bomb" not in error["message"]


def test_a_word_that_only_contains_the_term_is_generated(server, dev):
    with http(server, dev) as client:
        response = client.post("/v1/images/generations", json={"prompt": "a bomber jacket", "n": 1})
    assert response.status_code == 200, response.text
