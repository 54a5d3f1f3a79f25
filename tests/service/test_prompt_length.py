"""Over HTTP: a prompt or negative prompt longer than the model reads is refused with 400
(param, the limit in tokens), for generations and edits alike, and leaves no job behind."""

from __future__ import annotations

import openai
import pytest
from sqlalchemy import func, select

from gesso.jobs.prompt_length import prompt_token_limit
from gesso.store.tables import Job, Tenant
from tests.conftest import png_bytes
from tests.service.conftest import assert_openai_error, http, sdk


@pytest.fixture(scope="module")
def long_prompt_key(make_key):
    return make_key("long-prompts", "developer")


def too_long() -> str:
    return " ".join(["red"] * (prompt_token_limit() + 1))


def jobs_of(sessions) -> int:
    with sessions() as session:
        tenant_id = session.scalar(select(Tenant.id).where(Tenant.name == "long-prompts"))
        return session.scalar(select(func.count()).select_from(Job).where(Job.tenant_id == tenant_id))


def test_the_sdk_gets_400_naming_the_prompt_and_the_limit(server, long_prompt_key, sessions):
    with pytest.raises(openai.BadRequestError) as refused:
        sdk(server, long_prompt_key).images.generate(prompt=too_long(), size="32x32")
    error = refused.value.body
    assert refused.value.status_code == 400 and error["param"] == "prompt"
    assert f"at most {prompt_token_limit()} tokens" in error["message"]
    assert jobs_of(sessions) == 0


def test_a_long_negative_prompt_is_refused_too(server, long_prompt_key, sessions):
    with http(server, long_prompt_key) as client:
        response = client.post("/v1/images/generations", json={"prompt": "a red circle", "negative_prompt": too_long()})
    assert f"{prompt_token_limit() + 1} tokens long" in assert_openai_error(response, 400, "negative_prompt")["message"]
    assert jobs_of(sessions) == 0


def test_an_edit_with_a_long_prompt_is_refused(server, long_prompt_key, sessions):
    with http(server, long_prompt_key) as client:
        response = client.post("/v1/images/edits", data={"prompt": too_long()},
                               files={"image": ("a.png", png_bytes(), "image/png")})
    assert_openai_error(response, 400, "prompt")
    assert jobs_of(sessions) == 0


def test_a_prompt_at_the_limit_is_served(server, long_prompt_key):
    at_limit = " ".join(["red"] * prompt_token_limit())
    result = sdk(server, long_prompt_key).images.generate(prompt=at_limit, extra_body={"steps": 1})
    assert len(result.data) == 1
