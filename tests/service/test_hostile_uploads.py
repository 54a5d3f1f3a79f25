"""Hostile fine-tuning input against a real server: archive bombs of many small members (zip and
tar.gz), members metadata.jsonl does not name, a tenant's storage budget, hyperparameters without
bounds, captions and triggers the tenant's content policy refuses, and file names that are not
Latin-1. Every refusal is a 4xx that leaves no staging folder, no row and no blob behind."""

from __future__ import annotations

import base64
import io
import json
import os
import tarfile
import zipfile
from urllib.parse import unquote

import httpx
import openai
import pytest
from sqlalchemy import func, select

from gesso.governance.tenants import find_tenant
from gesso.store.database import database_url, open_database
from gesso.store.tables import FileRecord, FineTuningJobRecord
from tests.data.test_upload_archives import png
from tests.service.finetune_fixtures import FINETUNE_YAML, client, dataset_zip, make_key
from tests.service.server_process import ServerProcess, running_server
from tests.service.test_governance_audit import wait_for

BUDGET = 400_000  # bytes of stored uploads per tenant on this server
MAX_STEPS = 100  # 16 images at batch size 4: 25 epochs fit, 26 do not
ZERO_MEMBER = 16 * 1024


@pytest.fixture(scope="module")
def hostile_server(models_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile-server")
    (root / "finetune.yaml").write_text(FINETUNE_YAML)
    (root / "staging").mkdir()
    # TMPDIR: where uploads are staged, which must stay empty
    with running_server(root, models_dir, {"TMPDIR": str(root / "staging")}, default_steps=3,
                        finetune_config=root / "finetune.yaml", finetune_upload_max_bytes=2 * 1024 * 1024,
                        tenant_storage_budget_bytes=BUDGET, finetune_max_steps=MAX_STEPS) as server:
        yield server


@pytest.fixture(scope="module")
def sessions(hostile_server):
    return open_database(database_url(hostile_server.data_dir))


def post_file(server: ServerProcess, key: str, data: bytes, name: str = "up.zip", **fields: str) -> httpx.Response:
    return httpx.post(f"{server.url}/v1/files", headers={"Authorization": f"Bearer {key}"},
                      files={"file": (name, data, "application/octet-stream")},
                      data={"purpose": "fine-tune", **fields}, timeout=60)


def assert_nothing_stored(server: ServerProcess, sessions, tenant: str) -> None:
    staging = server.root / "staging"
    assert list(staging.iterdir()) == [], "a refused upload left staging files"
    with sessions() as session:
        tenant_id = find_tenant(session, tenant).id
        rows = session.scalar(select(func.count()).select_from(FileRecord).where(FileRecord.tenant_id == tenant_id))
    assert rows == 0
    assert not [p for p in (server.data_dir / "blobs" / tenant_id).rglob("*") if p.is_file()]


def refused(response: httpx.Response, status: int, code: str, param: str = "file") -> dict:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code and error["param"] == param, error
    return error


def zeros_zip(count: int, listed: bool) -> bytes:
    """`count` members of ZERO_MEMBER zero bytes (a few dozen bytes each once deflated)."""
    buffer = io.BytesIO()
    zeros = bytes(ZERO_MEMBER)
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("red.png", png("red"))
        names = [f"z/{i:04d}.png" for i in range(count)]
        rows = [{"file_name": "red.png", "text": "red circle"}] + (
            [{"file_name": n, "text": "zeros"} for n in names] if listed else [])
        archive.writestr("metadata.jsonl", "\n".join(json.dumps(r) for r in rows) + "\n")
        for name in names:
            archive.writestr(name, zeros)
    return buffer.getvalue()


def zeros_tar_gz(count: int) -> bytes:
    buffer = io.BytesIO()
    zeros = bytes(ZERO_MEMBER)
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for i in range(count):
            info = tarfile.TarInfo(f"z/{i:04d}.png")
            info.size = len(zeros)
            archive.addfile(info, io.BytesIO(zeros))
    return buffer.getvalue()


# -- archive bombs, unlisted members, storage budget ----------------------------------------------

@pytest.mark.parametrize("listed", [False, True], ids=["unlisted", "listed"])
def test_archive_of_many_small_members_is_refused_before_staging(hostile_server, sessions, listed):
    tenant = f"bomb-zip-{str(listed).lower()}"
    key = make_key(hostile_server, tenant)
    bomb = zeros_zip(1000, listed)  # 16 MiB of zeros in about 150 kB, no member over 1 MiB
    assert len(bomb) < 300_000
    error = refused(post_file(hostile_server, key, bomb), 400, "invalid_file")
    assert "archive bomb" in error["message"] and "20:1" in error["message"]
    assert_nothing_stored(hostile_server, sessions, tenant)


def test_tar_gz_bomb_of_many_small_members_is_refused(hostile_server, sessions):
    key = make_key(hostile_server, "bomb-tar")
    error = refused(post_file(hostile_server, key, zeros_tar_gz(1000), name="up.tar.gz"), 400, "invalid_file")
    assert "archive bomb" in error["message"]
    assert_nothing_stored(hostile_server, sessions, "bomb-tar")


def test_many_members_not_named_in_the_metadata_are_refused(hostile_server, sessions, tmp_path):
    key = make_key(hostile_server, "unlisted")
    junk = {f"junk/{i}.txt": b"x" for i in range(100)}
    error = refused(post_file(hostile_server, key, dataset_zip(tmp_path, extra=junk)), 400, "invalid_file")
    assert "100 archive members are not named in metadata.jsonl" in error["message"]
    assert_nothing_stored(hostile_server, sessions, "unlisted")


def test_a_few_unlisted_members_are_accepted_but_never_trained_on(hostile_server, tmp_path):
    key = make_key(hostile_server, "readme")
    response = post_file(hostile_server, key, dataset_zip(tmp_path, extra={"README.txt": b"about", "x/y.png": png()}))
    assert response.status_code == 200, response.text
    assert response.json()["image_count"] == 16
    assert list((hostile_server.root / "staging").iterdir()) == []


def test_uploads_past_the_tenant_storage_budget_are_refused(hostile_server, sessions, tmp_path):
    key = make_key(hostile_server, "budget")
    padding = {"padding.bin": os.urandom(BUDGET // 2)}  # unlisted, stored with the upload, never extracted
    buffer = io.BytesIO(dataset_zip(tmp_path, extra=padding))
    first = post_file(hostile_server, key, buffer.getvalue())
    assert first.status_code == 200, first.text
    error = refused(post_file(hostile_server, key, buffer.getvalue()), 413, "storage_budget_exceeded")
    assert str(BUDGET) in error["message"]
    with sessions() as session:
        tenant_id = find_tenant(session, "budget").id
        assert session.scalar(select(func.count()).select_from(FileRecord).where(
            FileRecord.tenant_id == tenant_id)) == 1
    assert list((hostile_server.root / "staging").iterdir()) == []
    assert client(hostile_server, key).files.delete(first.json()["id"]).deleted  # room again
    assert post_file(hostile_server, key, buffer.getvalue()).status_code == 200


# -- hyperparameters --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def trainer(hostile_server, tmp_path_factory):
    key = make_key(hostile_server, "trainer")
    upload = post_file(hostile_server, key, dataset_zip(tmp_path_factory.mktemp("trainer")))
    assert upload.status_code == 200, upload.text
    return key, upload.json()["id"]


def job_rows(sessions, tenant: str) -> int:
    with sessions() as session:
        tenant_id = find_tenant(session, tenant).id
        return session.scalar(select(func.count()).select_from(FineTuningJobRecord).where(
            FineTuningJobRecord.tenant_id == tenant_id))


@pytest.mark.parametrize(("hyperparameters", "param"), [
    ({"n_epochs": 10**9}, "hyperparameters.n_epochs"),
    ({"n_epochs": 26}, "hyperparameters.n_epochs"),  # in range, but 104 steps: over the server's cap
    ({"n_epochs": 1.5}, "hyperparameters.n_epochs"),
    ({"n_epochs": True}, "hyperparameters.n_epochs"),
    ({"batch_size": 10**6}, "hyperparameters.batch_size"),
    ({"batch_size": 0}, "hyperparameters.batch_size"),
    ({"learning_rate_multiplier": 1e300}, "hyperparameters.learning_rate_multiplier"),
    ({"learning_rate_multiplier": 0}, "hyperparameters.learning_rate_multiplier"),
    ({"rank": 10**9}, "hyperparameters.rank"),
    ({"trigger": "x" * 65}, "hyperparameters.trigger"),
    ({"trigger": "two\nlines"}, "hyperparameters.trigger"),
])
def test_out_of_range_hyperparameters_are_400_and_write_no_job(hostile_server, sessions, trainer,
                                                                 hyperparameters, param):
    key, file_id = trainer
    before = job_rows(sessions, "trainer")
    body = {"model": "gesso-base", "training_file": file_id, "hyperparameters": hyperparameters}
    response = httpx.post(f"{hostile_server.url}/v1/fine_tuning/jobs", json=body,
                          headers={"Authorization": f"Bearer {key}"})
    refused(response, 400, "invalid_value", param)
    nested = {"model": "gesso-base", "training_file": file_id,
              "method": {"type": "supervised", "supervised": {"hyperparameters": hyperparameters}}}
    response = httpx.post(f"{hostile_server.url}/v1/fine_tuning/jobs", json=nested,
                          headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_value"
    assert job_rows(sessions, "trainer") == before


@pytest.mark.parametrize(("field", "value"), [("seed", -1), ("seed", 2**40), ("suffix", "a" * 41)])
def test_out_of_range_job_fields_are_400(hostile_server, trainer, field, value):
    key, file_id = trainer
    body = {"model": "gesso-base", "training_file": file_id, field: value}
    response = httpx.post(f"{hostile_server.url}/v1/fine_tuning/jobs", json=body,
                          headers={"Authorization": f"Bearer {key}"})
    refused(response, 400, "invalid_value", field)


def test_the_schema_documents_every_hyperparameter_range(hostile_server):
    schema = httpx.get(f"{hostile_server.url}/openapi.json").json()["components"]["schemas"]["Hyperparameters"]
    bounds = {name: next(b for b in spec["anyOf"] if b.get("type") in ("integer", "number"))
              for name, spec in schema["properties"].items() if name != "trigger"}
    assert bounds["n_epochs"]["maximum"] == 1000 and bounds["n_epochs"]["minimum"] == 1
    assert bounds["batch_size"]["maximum"] == 256 and bounds["rank"]["maximum"] == 128
    assert bounds["learning_rate_multiplier"]["exclusiveMinimum"] == 0
    assert schema["properties"]["trigger"]["anyOf"][0]["maxLength"] == 64


def test_jobs_within_the_bounds_are_created(hostile_server, trainer):
    key, file_id = trainer
    api = client(hostile_server, key)
    job = api.fine_tuning.jobs.create(model="gesso-base", training_file=file_id,
                                      hyperparameters={"n_epochs": 25, "batch_size": 4, "rank": 128})
    assert job.hyperparameters.n_epochs == 25  # 100 steps: exactly the cap
    api.fine_tuning.jobs.cancel(job.id)


# -- content policy on captions and triggers ---------------------------------------------------------

@pytest.fixture(scope="module")
def policy_keys(hostile_server):
    admin = make_key(hostile_server, "policy", "admin")
    response = httpx.patch(f"{hostile_server.url}/v1/organization/settings", json={"blocked_terms": ["bomb"]},
                           headers={"Authorization": f"Bearer {admin}"})
    assert response.status_code == 200, response.text
    return {"dev": make_key(hostile_server, "policy"), "auditor": make_key(hostile_server, "policy", "auditor")}


def captioned_zip(tmp_path, caption: str) -> bytes:
    rows = [json.loads(line) for line in dataset_zip_metadata(tmp_path)]
    rows[3]["text"] = caption
    return dataset_zip(tmp_path, rows=rows)


def dataset_zip_metadata(tmp_path) -> list[str]:
    with zipfile.ZipFile(io.BytesIO(dataset_zip(tmp_path))) as archive:
        return archive.read("metadata.jsonl").decode().splitlines()


def test_a_blocked_term_in_a_caption_refuses_the_upload(hostile_server, sessions, policy_keys, tmp_path):
    response = post_file(hostile_server, policy_keys["dev"], captioned_zip(tmp_path, "a red B0MB, flat style"))
    error = refused(response, 400, "content_policy_violation")
    assert "bomb" not in error["message"].lower() and "line 4" in error["message"]
    assert_nothing_stored(hostile_server, sessions, "policy")
    record = wait_for(hostile_server, policy_keys["auditor"], "content_policy.violation",
                      lambda r: r["target"] == "caption on line 4")
    assert record["details"]["rule"] == "blocked_term"


def test_a_blocked_term_in_a_jsonl_caption_refuses_the_upload(hostile_server, sessions, policy_keys):
    good = base64.b64encode(png("red")).decode()
    lines = [{"image": good, "text": "a red circle"},
             {"image": base64.b64encode(png("blue")).decode(), "text": "b o m b s"}]
    upload = ("\n".join(json.dumps(line) for line in lines) + "\n").encode()
    error = refused(post_file(hostile_server, policy_keys["dev"], upload, name="rows.jsonl"), 400,
                    "content_policy_violation")
    assert "line 2" in error["message"]
    assert_nothing_stored(hostile_server, sessions, "policy")


@pytest.mark.parametrize(("extra", "param"), [
    ({"hyperparameters": {"trigger": "bombs"}}, "hyperparameters.trigger"),
    ({"method": {"type": "supervised", "supervised": {"hyperparameters": {"trigger": "Bomb"}}}},
     "hyperparameters.trigger"),
    ({"suffix": "bomb"}, "suffix"),
])
def test_a_blocked_term_in_a_trigger_or_suffix_refuses_the_job(hostile_server, sessions, policy_keys, tmp_path,
                                                                extra, param):
    api = client(hostile_server, policy_keys["dev"])
    upload = api.files.create(file=("ok.zip", dataset_zip(tmp_path), "application/zip"), purpose="fine-tune")
    try:
        before = job_rows(sessions, "policy")
        response = httpx.post(f"{hostile_server.url}/v1/fine_tuning/jobs",
                              json={"model": "gesso-base", "training_file": upload.id, **extra},
                              headers={"Authorization": f"Bearer {policy_keys['dev']}"})
        refused(response, 400, "content_policy_violation", param)
        assert job_rows(sessions, "policy") == before
        wait_for(hostile_server, policy_keys["auditor"], "content_policy.violation", lambda r: r["target"] == param)
    finally:
        api.files.delete(upload.id)


# -- file names ---------------------------------------------------------------------------------------

NAMES = ["数据集.zip", "brand 😀 set.zip", 'quo"te\'s.zip', "cr\r\nlf: x.zip", "tab\there.zip", "é" * 400 + ".zip"]


@pytest.mark.parametrize("name", NAMES, ids=["cjk", "emoji", "quotes", "crlf", "tab", "long"])
def test_any_file_name_downloads_with_an_rfc_6266_disposition(hostile_server, tmp_path, name):
    key = make_key(hostile_server, "names")
    api = client(hostile_server, key)
    uploaded = api.files.create(file=(name, dataset_zip(tmp_path), "application/zip"), purpose="fine-tune")
    try:
        content = httpx.get(f"{hostile_server.url}/v1/files/{uploaded.id}/content",
                            headers={"Authorization": f"Bearer {key}"})
        assert content.status_code == 200
        header = content.headers["content-disposition"]
        assert "\r" not in header and "\n" not in header
        assert header.startswith('attachment; filename="') and "; filename*=UTF-8''" in header
        fallback = header.split('filename="', 1)[1].split('"', 1)[0]
        assert fallback.isascii() and '"' not in fallback
        exact = unquote(header.split("filename*=UTF-8''", 1)[1], errors="strict")
        assert exact == uploaded.filename and len(exact) <= 255
        assert api.files.content(uploaded.id).content == content.content
    finally:
        api.files.delete(uploaded.id)


def test_raw_non_utf8_and_quoted_names_never_answer_500(hostile_server, tmp_path):
    key = make_key(hostile_server, "raw-names")
    body = (b"--b\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nfine-tune\r\n"
            b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"\xff\xfe\xed\xa0\x80\\\".zip\"\r\n"
            b"Content-Type: application/zip\r\n\r\n" + dataset_zip(tmp_path) + b"\r\n--b--\r\n")
    response = httpx.post(f"{hostile_server.url}/v1/files", content=body,
                          headers={"Authorization": f"Bearer {key}", "Content-Type": "multipart/form-data; boundary=b"})
    assert response.status_code == 200, response.text
    assert response.json()["filename"].isprintable()
    content = httpx.get(f"{hostile_server.url}/v1/files/{response.json()['id']}/content",
                        headers={"Authorization": f"Bearer {key}"})
    assert content.status_code == 200 and "filename*=UTF-8''" in content.headers["content-disposition"]


def test_sdk_lists_files_with_hostile_names(hostile_server, tmp_path):
    key = make_key(hostile_server, "names-list")
    api = client(hostile_server, key)
    for i, name in enumerate(NAMES[:3]):
        api.files.create(file=(name, dataset_zip(tmp_path / str(i)), "application/zip"), purpose="fine-tune")
    sent = [n.replace('"', "%22") for n in NAMES[:3]]  # httpx percent-encodes quotes in a form's file name
    assert sorted(f.filename for f in api.files.list()) == sorted(sent)
    with pytest.raises(openai.NotFoundError):
        api.files.content("file-missing")
