"""Roles, keys, rate limits, quotas and signed URLs: the pure rules behind the service's answers."""

from __future__ import annotations

import time

import pytest

from gesso.governance.access_errors import PermissionDenied, QuotaExceeded, RateLimited, Unauthenticated
from gesso.governance.api_keys import bootstrap_first_tenant, create_api_key, find_active_key
from gesso.governance.authorisation import authorise, bearer_secret
from gesso.governance.quotas import WINDOW_SECONDS, check_image_quota
from gesso.governance.rate_limits import KeyRateLimiter, take_token
from gesso.governance.roles import Action, Role, parse_role, role_allows
from gesso.governance.signed_urls import (
    image_token_valid,
    load_or_create_url_signing_key,
    sign_image_token,
)
from gesso.governance.tenants import create_tenant
from gesso.store.database import database_url, open_database
from gesso.store.tables import Job


@pytest.fixture()
def sessions(tmp_path):
    return open_database(database_url(tmp_path))


def test_role_matrix():
    assert role_allows(Role.DEVELOPER, Action.IMAGES_CREATE)
    assert not role_allows(Role.VIEWER, Action.IMAGES_CREATE)
    assert role_allows(Role.VIEWER, Action.IMAGES_READ)
    assert not role_allows(Role.AUDITOR, Action.IMAGES_READ) and role_allows(Role.AUDITOR, Action.AUDIT_READ)
    assert all(role_allows(Role.ADMIN, action) for action in Action)
    with pytest.raises(ValueError, match="roles: admin"):
        parse_role("root")


def test_first_start_creates_one_admin_key_once(sessions):
    secret = bootstrap_first_tenant(sessions, "default")
    assert secret and bootstrap_first_tenant(sessions, "default") is None
    with sessions() as session:
        key = find_active_key(session, secret)
        assert key.role == "admin" and key.secret_sha256 != secret


def test_authorise_decides_401_429_403(sessions):
    limiter = KeyRateLimiter()
    with sessions.begin() as session:
        tenant = create_tenant(session, "acme")
        _, viewer = create_api_key(session, tenant.id, "viewer", rate_limit_per_minute=2)
    with sessions() as session:
        for header in (None, "Token abc", "Bearer wrong"):
            with pytest.raises(Unauthenticated):
                authorise(session, header, Action.MODELS_READ, limiter, 100)
        principal = authorise(session, f"Bearer {viewer}", Action.MODELS_READ, limiter, 100)
        assert principal.tenant_id == tenant.id and principal.role is Role.VIEWER
        with pytest.raises(PermissionDenied):
            authorise(session, f"Bearer {viewer}", Action.IMAGES_CREATE, limiter, 100)
        with pytest.raises(RateLimited) as limited:
            authorise(session, f"Bearer {viewer}", Action.MODELS_READ, limiter, 100)
    assert limited.value.retry_after >= 1
    assert bearer_secret("bearer  abc ") == "abc"


def test_token_bucket_refills_over_time():
    bucket, wait = take_token(None, 0.0, per_minute=2)
    bucket, wait = take_token(bucket, 0.0, per_minute=2)
    assert wait == 0
    bucket, wait = take_token(bucket, 0.0, per_minute=2)
    assert wait == pytest.approx(30.0)
    _, wait = take_token(bucket, 30.0, per_minute=2)
    assert wait == 0


def test_quota_counts_the_window_and_says_when_to_retry(sessions):
    now = time.time()
    with sessions.begin() as session:
        tenant = create_tenant(session, "acme", images_per_day=4)
        for i, (age, n, status) in enumerate([(3600, 2, "succeeded"), (60, 2, "queued"), (30, 5, "failed")]):
            session.add(Job(id=f"job_{i}", tenant_id=tenant.id, api_key_id="k", kind="generate", status=status,
                            model="m", batch_key="b", spec_json="{}", n=n, response_format="b64_json",
                            request_sha256="x", attempts=0, created_at=now - age))
    with sessions() as session:
        check_image_quota(session, tenant, 0, 100, now)
        with pytest.raises(QuotaExceeded) as refused:
            check_image_quota(session, tenant, 1, 100, now)
    assert refused.value.retry_after == pytest.approx(WINDOW_SECONDS - 3600, abs=2)  # the oldest job leaves


def test_signed_url_tokens(tmp_path):
    key = load_or_create_url_signing_key(tmp_path / "keys" / "url.key")
    assert load_or_create_url_signing_key(tmp_path / "keys" / "url.key") == key
    assert (tmp_path / "keys" / "url.key").stat().st_mode & 0o077 == 0
    token = sign_image_token(key, "img_1", 2000)
    assert image_token_valid(key, "img_1", token, now=1999)
    assert not image_token_valid(key, "img_1", token, now=2001)  # expired
    assert not image_token_valid(key, "img_2", token, now=1999)  # another image
    assert not image_token_valid(b"other key" * 4, "img_1", token, now=1999)
    assert not image_token_valid(key, "img_1", "garbage", now=1999)
