"""The console's Admin page over the key-management and usage endpoints, and its Audit page's
chain status from `GET /v1/audit/verify`."""

from __future__ import annotations

import json
import re

import httpx
from playwright.sync_api import expect
from sqlalchemy import select

from gesso.store.tables import AuditRecordRow, Tenant
from tests.web.console_steps import shoot, sign_in


SECRET_PREFIX_CHARS = 13  # "gesso-sk-" and four characters, as `api_keys.prefix`


def me(server, key: str) -> httpx.Response:
    return httpx.get(f"{server.url}/v1/me", headers={"Authorization": f"Bearer {key}"})


def test_create_a_key_see_it_once_then_revoke_it(page, server, make_key, screenshots):
    sign_in(page, server.url, make_key("webkeys", "admin"))
    page.get_by_role("link", name="Admin").click()
    page.get_by_label("Name").fill("ci bot")
    page.get_by_label("Role").select_option("developer")
    page.get_by_role("button", name="Create key").click()
    secret_shown = page.locator(".secret-value")
    expect(secret_shown).to_have_text(re.compile(r"^gesso-sk-\S+$"))
    secret = secret_shown.text_content()
    assert me(server, secret).json()["role"] == "developer"
    keys_table = page.get_by_role("table", name="Keys", exact=True)
    expect(keys_table.locator("tr").filter(has_text="ci bot")).to_contain_text(secret[:SECRET_PREFIX_CHARS])
    made = httpx.post(f"{server.url}/v1/images/generations", headers={"Authorization": f"Bearer {secret}"},
                      json={"prompt": "a small test", "n": 2}, timeout=60)
    assert made.status_code == 200, made.text

    page.get_by_role("link", name="Audit").click()
    page.get_by_role("link", name="Admin").click()
    expect(keys_table.locator("tr").filter(has_text="ci bot")).to_be_visible()
    usage_row = page.get_by_role("table", name="Usage per key").locator("tr").filter(has_text="ci bot")
    expect(usage_row.locator("td").nth(3)).to_have_text("2")  # images
    shoot(page, screenshots, "admin-keys")
    expect(page.locator(".secret-value")).to_have_count(0)  # shown once
    assert secret not in page.content()

    page.get_by_role("button", name="Revoke ci bot").click()
    page.get_by_role("button", name="Revoke key").click()
    expect(page.get_by_role("button", name="Revoke ci bot")).to_have_count(0)
    assert me(server, secret).status_code == 401


def test_audit_page_shows_the_chain_intact_then_the_edited_record(page, server, make_key, sessions):
    admin = make_key("webverify", "admin")
    headers = {"Authorization": f"Bearer {admin}"}
    created = httpx.post(f"{server.url}/v1/organization/api_keys", headers=headers, json={"name": "n", "role": "viewer"})
    assert created.status_code == 200, created.text
    sign_in(page, server.url, admin)
    page.get_by_role("link", name="Audit").click()
    expect(page.locator(".chain")).to_have_text("Chain: verified intact")

    with sessions() as session:
        tenant_id = session.scalar(select(Tenant.id).where(Tenant.name == "webverify"))
    with sessions.begin() as session:
        row = session.scalars(select(AuditRecordRow).where(AuditRecordRow.chain == tenant_id).limit(1)).one()
        seq, original = row.seq, row.details_json
        row.details_json = json.dumps({"role": "admin"})
    try:
        page.get_by_role("button", name="Filter").click()
        expect(page.locator(".chain")).to_have_text(f"Chain: problems found (altered at seq {seq})")
    finally:
        with sessions.begin() as session:
            session.scalars(
                select(AuditRecordRow).where(AuditRecordRow.chain == tenant_id, AuditRecordRow.seq == seq)
            ).one().details_json = original
