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


def painted_over_under_kept_manifest(image: bytes) -> bytes:
    """The delivered PNG with some pixels painted over and its signed manifest chunk put back."""
    from tests.governance.test_provenance import png_chunks

    edited = Image.open(io.BytesIO(image)).convert("RGB")
    edited.paste((255, 0, 0), (100, 100, 140, 140))
    buffer = io.BytesIO()
    edited.save(buffer, "PNG")
    manifest = [chunk for kind, chunk in png_chunks(image) if kind == b"caBX"]
    chunks = png_chunks(buffer.getvalue())
    return buffer.getvalue()[:8] + chunks[0][1] + manifest[0] + b"".join(chunk for _, chunk in chunks[1:])


def test_another_tenants_image_is_confirmed_without_its_tenant_or_model(server, delivered, make_key):
    key, image, tenant_id = delivered
    other = make_key("prov-b", "developer")
    for data, name, verdict in ((image, "a.png", "intact"), (reencode(image, "JPEG", quality=85), "a.jpg", "re-encoded")):
        response = verify(server, other, data, name)
        assert response.status_code == 200, response.text
        report = response.json()
        assert report["made_by_gesso"] and report["credentials"] == verdict and report["created"]
        assert report["tenant"] is None and report["model"] is None and report["origin_withheld"]
        assert tenant_id not in response.text and "gesso-base" not in response.text
        own = verify(server, key, data, name).json()
        assert own["tenant"] == tenant_id and own["model"] == "gesso-base" and not own["origin_withheld"]


def test_cli_verify_exit_code_says_whether_the_image_was_made_here(server, delivered, cli_on_server, tmp_path):  # noqa: F811
    from tests.hostile_images import huge_png

    _, image, tenant_id = delivered
    cases = {
        "own.png": (image, 0),
        "foreign.png": (png_bytes((256, 256), "teal"), 1),
        "tampered.png": (painted_over_under_kept_manifest(image), 1),
        "garbage.png": (b"\x89PNG\r\n\x1a\n garbage", 2),
        "bomb.png": (huge_png(14000, 14000), 2),
    }
    for name, (data, code) in cases.items():
        (tmp_path / name).write_bytes(data)
        result = cli_on_server.invoke(app, ["provenance", "verify", str(tmp_path / name)])
        assert result.exit_code == code, (name, result.output)
        if code == 2:
            assert result.stdout == "" and len(result.stderr.strip().splitlines()) == 1, result.output
        else:
            report = json.loads(result.stdout)
            assert report["credentials"] == {"own.png": "intact", "foreign.png": "foreign"}.get(name, "tampered")
    assert cli_on_server.invoke(app, ["provenance", "verify", str(tmp_path)]).exit_code == 2  # a folder
