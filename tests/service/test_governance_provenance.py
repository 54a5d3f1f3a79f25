"""Every delivered image carries its origin: `POST /v1/provenance/verify` and
`gesso provenance verify` on an untouched, a JPEG q85 re-encoded, a stripped and a foreign image."""

from __future__ import annotations

import base64
import io
import json

import pytest
from PIL import Image

from gesso.cli import app
from gesso.store.database import database_url, open_database
from gesso.governance.tenants import find_tenant
from tests.conftest import png_bytes
from tests.service.conftest import assert_openai_error, http
from tests.service.test_governance_encryption import cli_on_server  # noqa: F401 - fixture


@pytest.fixture(scope="module")
def delivered(server, make_key) -> tuple[str, bytes, str]:
    dev = make_key("prov-a", "developer")
    with http(server, dev) as client:
        response = client.post("/v1/images/generations", json={"prompt": "a lemon", "model": "gesso-base"})
    assert response.status_code == 200, response.text
    with open_database(database_url(server.data_dir))() as session:
        tenant_id = find_tenant(session, "prov-a").id
    return dev, base64.b64decode(response.json()["data"][0]["b64_json"]), tenant_id


def verify(server, key, data: bytes, name: str = "image.png"):
    with http(server, key) as client:
        return client.post("/v1/provenance/verify", files={"file": (name, data, "application/octet-stream")})


def reencode(data: bytes, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    Image.open(io.BytesIO(data)).convert("RGB").save(buffer, fmt, **options)
    return buffer.getvalue()


def test_untouched_image_has_intact_credentials(server, delivered):
    key, image, tenant_id = delivered
    assert Image.open(io.BytesIO(image)).size == (256, 256)
    report = verify(server, key, image).json()
    assert report["made_by_gesso"] and report["credentials"] == "intact"
    assert report["model"] == "gesso-base" and report["tenant"] == tenant_id and report["created"]
    assert report["watermark_found"]


def test_jpeg_q85_reencoded_image_is_traced_by_its_watermark(server, delivered):
    key, image, tenant_id = delivered
    report = verify(server, key, reencode(image, "JPEG", quality=85), "image.jpg").json()
    assert report["made_by_gesso"] and report["credentials"] == "re-encoded"
    assert report["tenant"] == tenant_id and report["model"] == "gesso-base"


def test_stripped_image_is_told_apart_from_a_reencoded_one(server, delivered):
    key, image, tenant_id = delivered
    report = verify(server, key, reencode(image, "PNG")).json()  # same pixels, manifest gone
    assert report["made_by_gesso"] and report["credentials"] == "stripped"
    assert report["tenant"] == tenant_id


def test_foreign_image_is_not_claimed(server, delivered):
    key, _, _ = delivered
    report = verify(server, key, png_bytes((256, 256), "teal")).json()
    assert not report["made_by_gesso"] and report["credentials"] == "foreign"


def test_bad_uploads_are_400(server, delivered):
    key, _, _ = delivered
    assert_openai_error(verify(server, key, b"not an image"), 400, "file")
    with http(server, key) as client:
        assert_openai_error(client.post("/v1/provenance/verify", data={"x": "1"}), 400, "file")
        assert_openai_error(client.post("/v1/provenance/verify", json={"file": "x"}), 400, "file")


def test_jpeg_and_webp_outputs_are_stamped_too(server, delivered):
    key, _, _ = delivered
    with http(server, key) as client:
        for fmt in ("jpeg", "webp"):
            response = client.post("/v1/images/generations", json={"prompt": "a lime", "output_format": fmt})
            data = base64.b64decode(response.json()["data"][0]["b64_json"])
            report = verify(server, key, data, f"image.{fmt}").json()
            assert report["credentials"] == "intact" and report["made_by_gesso"], (fmt, report)


def test_cli_verify(server, delivered, cli_on_server, tmp_path):  # noqa: F811
    _, image, tenant_id = delivered
    (tmp_path / "a.png").write_bytes(image)
    result = cli_on_server.invoke(app, ["provenance", "verify", str(tmp_path / "a.png")])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["credentials"] == "intact" and report["tenant"] == tenant_id
    (tmp_path / "b.jpg").write_bytes(reencode(image, "JPEG", quality=85))
    assert json.loads(cli_on_server.invoke(app, ["provenance", "verify", str(tmp_path / "b.jpg")]).output)[
        "credentials"] == "re-encoded"
    assert cli_on_server.invoke(app, ["provenance", "verify", str(tmp_path / "missing.png")]).exit_code == 2
    (tmp_path / "c.png").write_bytes(b"junk")
    assert cli_on_server.invoke(app, ["provenance", "verify", str(tmp_path / "c.png")]).exit_code == 2
