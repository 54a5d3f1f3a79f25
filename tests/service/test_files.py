"""`/v1/files` through HTTP: each kind of bad archive and bad row answers 400 with the row report
and stores nothing; good uploads are listed, read and paged per tenant; deleting a file that
trained a model is refused (409) unless `cascade=true`, which deletes the model too."""

from __future__ import annotations

import base64
import tarfile
import zipfile
from pathlib import Path

import httpx
import openai
import pytest

from tests.data.test_upload_archives import good_files, metadata, pixel_bomb_png, png, write_tar, write_zip
from tests.service.finetune_fixtures import (
    SMALL_BODY_LIMIT,
    UPLOAD_LIMIT,
    client,
    dataset_zip,
    make_key,
    start_finetune_server,
    wait_for_job,
)


@pytest.fixture(scope="module")
def ft_server(models_dir, tmp_path_factory):
    server = start_finetune_server(tmp_path_factory.mktemp("files-server"), models_dir)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def key(ft_server):
    return make_key(ft_server, "initech")


def post_file(server, key: str, data: bytes, name: str = "up.zip", **fields: str) -> httpx.Response:
    return httpx.post(f"{server.url}/v1/files", headers={"Authorization": f"Bearer {key}"},
                      files={"file": (name, data, "application/octet-stream")},
                      data={"purpose": "fine-tune", **fields}, timeout=60)


def tenant_blobs(server, key: str) -> list[Path]:
    files = client(server, key).files.list().data
    assert files == [] or all(f.id for f in files)
    return [p for p in (server.data_dir / "blobs").rglob("*") if p.is_file() and "/files/" in str(p)]


def zip_bytes(tmp_path: Path, files: dict[str, bytes]) -> bytes:
    return write_zip(tmp_path / "up.zip", files).read_bytes()


def symlink_tar(tmp_path: Path) -> bytes:
    link = tarfile.TarInfo("link.png")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    return write_tar(tmp_path / "up.tar.gz", good_files(2), extra=[link]).read_bytes()


def symlink_zip(tmp_path: Path) -> bytes:
    upload = write_zip(tmp_path / "up.zip", good_files(2))
    with zipfile.ZipFile(upload, "a") as archive:
        info = zipfile.ZipInfo("link.png")
        info.create_system, info.external_attr = 3, 0o120777 << 16
        archive.writestr(info, "/etc/passwd")
    return upload.read_bytes()


BAD_ARCHIVES = {
    "empty": (lambda tmp: b"", "empty"),
    "not an archive": (lambda tmp: b"\x00\x01\x02 binary junk", "not a zip, tar or JSONL"),
    "corrupt zip": (lambda tmp: b"PK\x03\x04" + b"\xff" * 64, "not a valid zip"),
    "path traversal": (lambda tmp: zip_bytes(tmp, good_files(2) | {"../evil.png": png("black")}), "escapes"),
    "symlink in tar": (symlink_tar, "link"),
    "symlink in zip": (symlink_zip, "link"),
    "zip bomb": (lambda tmp: zip_bytes(tmp, good_files(2) | {"zeros.png": b"\0" * (3 * 1024 * 1024)}), "bomb"),
}


@pytest.mark.parametrize("case", sorted(BAD_ARCHIVES))
def test_bad_archives_are_refused_and_nothing_is_stored(ft_server, key, tmp_path, case):
    make, reason = BAD_ARCHIVES[case]
    response = post_file(ft_server, key, make(tmp_path))
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"] == "file" and error["code"] == "invalid_file" and error["type"] == "invalid_request_error"
    assert reason in error["message"] and any(reason in p["reason"] for p in error["problems"])
    assert tenant_blobs(ft_server, key) == []


def test_every_bad_row_is_reported_with_its_line(ft_server, key, tmp_path):
    files = {"ok.png": png("red"), "dup.png": png("red"), "text.png": b"not an image",
             "tiny.png": png("green", size=8), "bomb.png": pixel_bomb_png(), "nocap.png": png("blue")}
    files["metadata.jsonl"] = metadata([
        {"file_name": "ok.png", "text": "fine"},
        {"file_name": "dup.png", "text": "same bytes"},
        {"file_name": "text.png", "text": "not an image"},
        {"file_name": "tiny.png", "text": "too small"},
        {"file_name": "bomb.png", "text": "pixel bomb"},
        {"file_name": "nocap.png", "text": ""},
        {"file_name": "missing.png", "text": "not in the archive"},
        "{not json",
    ])
    response = post_file(ft_server, key, zip_bytes(tmp_path, files))
    assert response.status_code == 400
    error = response.json()["error"]
    expected = {2: "duplicate", 3: "not a readable image", 4: "smaller than", 5: "pixel limit",
                6: "missing caption", 7: "not found", 8: "not valid JSON"}
    assert {p["line"] for p in error["problems"]} == set(expected)
    for line, reason in expected.items():
        assert any(p["line"] == line and reason in p["reason"] for p in error["problems"])
        assert f"line {line}" in error["message"]
    assert tenant_blobs(ft_server, key) == []


def test_bad_jsonl_lines_are_reported(ft_server, key):
    good = base64.b64encode(png("red")).decode()
    upload = metadata([{"image": good, "text": "ok"}, "not json", {"text": "no image"},
                       {"image": "@@not base64@@", "text": "bad"}])
    response = post_file(ft_server, key, upload, name="rows.jsonl")
    assert response.status_code == 400
    assert {p["line"] for p in response.json()["error"]["problems"]} == {2, 3, 4}


@pytest.mark.parametrize(("fields", "files", "param"), [
    ({"purpose": "assistants"}, True, "purpose"),
    ({}, False, "file"),
    ({"expires_after[anchor]": "created_at"}, True, "expires_after"),
    ({"captions_optional": "maybe"}, True, "captions_optional"),
    ({"colour": "red"}, True, "colour"),
])
def test_bad_upload_requests_name_the_field(ft_server, key, tmp_path, fields, files, param):
    body = {"purpose": "fine-tune", **fields}
    upload = {"file": ("a.zip", dataset_zip(tmp_path), "application/zip")} if files else None
    response = httpx.post(f"{ft_server.url}/v1/files", headers={"Authorization": f"Bearer {key}"},
                          data=body, files=upload)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == param


def test_uncaptioned_upload_needs_a_trigger_word(ft_server, key, tmp_path):
    rows = [{"file_name": n, "text": ""} for n in good_files(4) if n != "metadata.jsonl"]
    data = zip_bytes(tmp_path, good_files(4) | {"metadata.jsonl": metadata(rows)})
    assert post_file(ft_server, key, data).status_code == 400  # captions are required by default
    response = post_file(ft_server, key, data, captions_optional="true")
    assert response.status_code == 200 and response.json()["uncaptioned_count"] == 4
    api = client(ft_server, key)
    with pytest.raises(openai.BadRequestError) as missing:
        api.fine_tuning.jobs.create(model="gesso-base", training_file=response.json()["id"])
    assert missing.value.body["param"] == "hyperparameters.trigger"
    job = api.fine_tuning.jobs.create(model="gesso-base", training_file=response.json()["id"],
                                      hyperparameters={"trigger": "acme", "n_epochs": 1})
    assert job.hyperparameters.model_extra["trigger"] == "acme"
    assert wait_for_job(api, job.id).status == "succeeded"


def test_listing_pages_and_other_tenants(ft_server, tmp_path):
    own = make_key(ft_server, "paging")
    ids = [post_file(ft_server, own, dataset_zip(tmp_path / str(i))).json()["id"] for i in range(3)]
    api = client(ft_server, own)
    assert [f.id for f in api.files.list(limit=2, order="asc")] == ids  # the SDK pages on
    first = api.files.list(limit=2)
    assert [f.id for f in first.data] == ids[::-1][:2] and first.has_more
    assert api.files.retrieve(ids[0]).model_extra["image_count"] == 16
    stranger = client(ft_server, make_key(ft_server, "stranger"))
    assert stranger.files.list().data == []
    with pytest.raises(openai.NotFoundError):
        stranger.files.retrieve(ids[0])


def test_delete_refuses_a_file_that_trained_a_model_unless_cascade(ft_server, tmp_path):
    key = make_key(ft_server, "cascade")
    api = client(ft_server, key)
    upload = api.files.create(file=("d.zip", dataset_zip(tmp_path), "application/zip"), purpose="fine-tune")
    job = api.fine_tuning.jobs.create(model="gesso-base", training_file=upload.id, suffix="c",
                                      hyperparameters={"n_epochs": 1})
    with pytest.raises(openai.ConflictError):  # a job in progress uses it
        api.files.delete(upload.id)
    model = wait_for_job(api, job.id).fine_tuned_model
    assert model is not None
    with pytest.raises(openai.ConflictError) as refused:
        api.files.delete(upload.id)
    assert refused.value.body["code"] == "file_in_use" and model in refused.value.body["message"]
    assert model in [m.id for m in api.models.list()]
    assert api.images.generate(model=model, prompt="a circle").data[0].b64_json
    adapter_blobs = list((ft_server.data_dir / "blobs").rglob(f"*{job.id}*/adapter/*"))
    assert adapter_blobs

    deleted = httpx.delete(f"{ft_server.url}/v1/files/{upload.id}", params={"cascade": "true"},
                           headers={"Authorization": f"Bearer {key}"})
    assert deleted.status_code == 200
    assert deleted.json() == {"id": upload.id, "object": "file", "deleted": True, "deleted_models": [model]}
    assert model not in [m.id for m in api.models.list()]
    with pytest.raises(openai.BadRequestError):
        api.images.generate(model=model, prompt="a circle")
    with pytest.raises(openai.NotFoundError):
        api.files.retrieve(upload.id)
    assert not any(p.exists() for p in adapter_blobs)
    assert api.fine_tuning.jobs.retrieve(job.id).status == "succeeded"  # the job's history stays
    plain = api.files.create(file=("e.zip", dataset_zip(tmp_path / "e"), "application/zip"), purpose="fine-tune")
    assert api.files.delete(plain.id).deleted


def test_uploads_have_their_own_body_limit(ft_server, key, tmp_path):
    data = dataset_zip(tmp_path)
    assert len(data) > SMALL_BODY_LIMIT  # over the server-wide limit, yet accepted
    assert post_file(ft_server, key, data).status_code == 200
    too_big = post_file(ft_server, key, b"PK\x03\x04" + b"\0" * UPLOAD_LIMIT)
    assert too_big.status_code == 413 and too_big.json()["error"]["code"] == "request_too_large"
    image_request = httpx.post(f"{ft_server.url}/v1/images/generations", headers={"Authorization": f"Bearer {key}"},
                               json={"prompt": "x" * SMALL_BODY_LIMIT})
    assert image_request.status_code == 413  # every other route keeps the server-wide limit
