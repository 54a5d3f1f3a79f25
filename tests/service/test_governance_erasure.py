"""Erasure of a tenant on a running server: its data key is destroyed, rows and blobs are gone, a
search of the data directory and every table finds nothing of it, and one audit record remains."""

from __future__ import annotations

import base64
import json
import time

from sqlalchemy import select, text

from gesso.cli import app
from gesso.governance.tenants import find_tenant
from gesso.store.tables import AuditRecordRow, Base
from tests.service.conftest import assert_openai_error, http
from tests.service.test_governance_encryption import cli_on_server, files_containing, noise_png  # noqa: F401


def rows_mentioning(sessions, needle: str) -> list[str]:
    """Every (table, row) whose text columns mention `needle`, the audit records aside."""
    found = []
    with sessions() as session:
        for table in Base.metadata.sorted_tables:
            for row in session.execute(select(table)).mappings():
                if needle in json.dumps(dict(row), default=str):
                    found.append(f"{table.name}: {dict(row)}"[:200])
    return found


def fill_tenant(server, make_key, name: str, prompt: str) -> tuple[str, list[bytes], bytes]:
    admin, dev = make_key(name, "admin"), make_key(name, "developer")
    upload = noise_png(7)
    with http(server, admin) as client:
        assert client.patch("/v1/organization/settings", json={"prompt_mode": "store"}).status_code == 200
    with http(server, dev) as client:
        made = client.post("/v1/images/generations", json={"prompt": prompt, "n": 2}).json()["data"]
        edited = client.post("/v1/images/edits", files={"image": ("a.png", upload, "image/png")},
                             data={"prompt": prompt}).json()["data"]
    return admin, [base64.b64decode(d["b64_json"]) for d in made + edited], upload


def test_erased_tenant_leaves_nothing_but_its_erasure_record(server, sessions, make_key):
    name, prompt = "erase-me-q7x", "a violet umbrella for erasure 5521"
    admin, images, upload = fill_tenant(server, make_key, name, prompt)
    with sessions() as session:
        tenant_id = find_tenant(session, name).id
    assert (server.data_dir / "blobs" / tenant_id).is_dir()
    with http(server, admin) as client:
        assert_openai_error(client.post("/v1/organization/erase", json={"confirm": "wrong"}), 400, "confirm")
        response = client.post("/v1/organization/erase", json={"confirm": name})
    assert response.status_code == 200, response.text
    assert response.json()["data_key_destroyed"] is True
    assert response.json()["rows"]["jobs"] == 2 and response.json()["rows"]["api_keys"] == 2

    with http(server, admin) as client:  # its keys are gone with it
        assert_openai_error(client.get("/v1/organization/settings"), 401)
    assert not (server.data_dir / "blobs" / tenant_id).exists()
    time.sleep(0.5)  # the refusal record above is written after the answer
    leftovers = rows_mentioning(sessions, tenant_id)
    assert all(row.startswith("audit_records:") for row in leftovers), leftovers
    with sessions() as session:
        records = session.scalars(select(AuditRecordRow).where(AuditRecordRow.target == tenant_id)).all()
        assert [(r.chain, r.action) for r in records] == [("deployment", "tenant.erased")]
        assert session.scalar(select(AuditRecordRow.id).where(AuditRecordRow.chain == tenant_id)) is None
        details = json.loads(records[0].details_json)
        assert details["rows"]["images"] == 3 and details["tenant_audit_chain"]["records"] >= 3
        assert session.execute(text("select count(*) from tenant_data_keys where tenant_id = :t"),
                               {"t": tenant_id}).scalar() == 0
    needles = {"prompt": prompt.encode(), "name": name.encode(), "upload": upload,
               **{f"image {i}": image for i, image in enumerate(images)}}
    assert files_containing(server.data_dir, needles) == []
    assert name not in json.dumps(rows_mentioning(sessions, name))


def test_cli_erase(server, sessions, make_key, cli_on_server):  # noqa: F811
    make_key("erase-cli-t", "developer")
    assert cli_on_server.invoke(app, ["tenants", "erase", "erase-cli-t"]).exit_code == 2  # needs --yes
    assert cli_on_server.invoke(app, ["tenants", "erase", "nobody-here", "--yes"]).exit_code == 2
    result = cli_on_server.invoke(app, ["tenants", "erase", "erase-cli-t", "--yes"])
    assert result.exit_code == 0, result.output
    assert "data key destroyed=" in result.output
    with sessions() as session:
        assert find_tenant(session, "erase-cli-t") is None
