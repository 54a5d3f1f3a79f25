"""A dataset of some 45 MiB through a real server, on local disk and on a real SeaweedFS: the
upload is stored streamed (segmented, GSB2) and `GET /v1/files/{id}/content` streams the same
bytes back, with their length; the store holds no plaintext of it."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile

import httpx
import numpy as np
import pytest
from PIL import Image

from gesso.store.s3_blob_store import parse_blob_url
from tests.service.finetune_fixtures import make_key
from tests.service.server_process import ServerProcess

IMAGES = 15
SIDE = 1024
CAPTION = "a noisy field of colour"


def large_dataset() -> bytes:
    """Random-noise PNGs (incompressible, about 3 MiB each) in a stored zip, one caption each."""
    rng = np.random.default_rng(7)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        rows = []
        for index in range(IMAGES):
            image = io.BytesIO()
            Image.fromarray(rng.integers(0, 256, (SIDE, SIDE, 3), dtype=np.uint8)).save(image, format="PNG")
            archive.writestr(f"noise-{index}.png", image.getvalue())
            rows.append({"file_name": f"noise-{index}.png", "text": f"{CAPTION} {index}"})
        archive.writestr("metadata.jsonl", "\n".join(json.dumps(row) for row in rows) + "\n")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def dataset() -> bytes:
    return large_dataset()


@pytest.fixture(params=["local", "s3"])
def large_server(request, models_dir, tmp_path):
    settings: dict[str, object] = {"finetune_upload_max_bytes": 128 * 1024 * 1024}
    environment = None
    if request.param == "s3":
        seaweed = request.getfixturevalue("seaweed_server")
        settings["blob_url"] = seaweed.blob_url()
        environment = seaweed.environment()
    server = ServerProcess(tmp_path, models_dir, environment=environment, **settings)
    server.start()
    yield server
    server.stop()


def stored_objects(server: ServerProcess, request) -> list[bytes]:  # noqa: ANN001
    url = server.env.get("GESSO_BLOB_URL")
    if not url:
        return [p.read_bytes() for p in (server.data_dir / "blobs").rglob("*") if p.is_file()]
    client = request.getfixturevalue("seaweed_server").client()
    bucket, prefix = parse_blob_url(url)
    names = [item["Key"] for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
             for item in page.get("Contents", [])]
    return [client.get_object(Bucket=bucket, Key=name)["Body"].read() for name in names]


def test_a_large_upload_streams_in_and_out(large_server, dataset, request) -> None:
    assert len(dataset) > 40 * 1024 * 1024
    key = make_key(large_server, "initech")
    headers = {"Authorization": f"Bearer {key}"}
    answer = httpx.post(f"{large_server.url}/v1/files", headers=headers, timeout=300,
                        files={"file": ("noise.zip", dataset, "application/zip")}, data={"purpose": "fine-tune"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["bytes"], body["image_count"]) == (len(dataset), IMAGES)
    assert body["sha256"] == hashlib.sha256(dataset).hexdigest()

    digest, chunks = hashlib.sha256(), 0
    with httpx.stream("GET", f"{large_server.url}/v1/files/{body['id']}/content", headers=headers,
                      timeout=300) as content:
        assert content.status_code == 200
        assert content.headers["content-length"] == str(len(dataset))
        assert content.headers["content-type"] == "application/octet-stream"
        for chunk in content.iter_raw():
            digest.update(chunk)
            chunks += 1
    assert digest.hexdigest() == body["sha256"] and chunks > 1

    objects = stored_objects(large_server, request)
    uploads = [raw for raw in objects if len(raw) > len(dataset)]
    assert len(uploads) == 1 and uploads[0].startswith(b"GSB2")  # the upload, sealed in segments
    for raw in objects:
        assert b"\x89PNG" not in raw and CAPTION.encode() not in raw and dataset[:4096] not in raw

    other = make_key(large_server, "globex")
    assert httpx.get(f"{large_server.url}/v1/files/{body['id']}/content",
                     headers={"Authorization": f"Bearer {other}"}).status_code == 404
