"""Malformed input: 400 with `param` naming the field (413 for oversized bodies), and nothing
left behind — no job row, no blob, no stuck worker."""

from __future__ import annotations

import io

import pytest
from PIL import Image
from sqlalchemy import func, select

from gesso.store.tables import Job, Tenant
from tests.conftest import png_bytes
from tests.service.conftest import MAX_BODY_BYTES, assert_openai_error, http, mask_bytes


@pytest.fixture(scope="module")
def clean_key(make_key):
    """A tenant that only ever sends bad requests."""
    return make_key("bad-inputs", "developer")


def _tenant_leftovers(server, sessions) -> tuple[int, list]:
    with sessions() as session:
        tenant_id = session.scalar(select(Tenant.id).where(Tenant.name == "bad-inputs"))
        jobs = session.scalar(select(func.count()).select_from(Job).where(Job.tenant_id == tenant_id))
    blob_dir = server.data_dir / "blobs" / tenant_id
    return jobs, sorted(p for p in blob_dir.rglob("*") if p.is_file()) if blob_dir.exists() else []


def bomb_png(side: int) -> bytes:
    """A PNG that is tiny on disk but `side`x`side` pixels once decoded."""
    buffer = io.BytesIO()
    Image.new("1", (side, side)).save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"prompt": "x", "size": "1024x1024"}, "size"),
        ({"prompt": "x", "size": "big"}, "size"),
        ({"prompt": "x", "n": 0}, "n"),
        ({"prompt": "x", "n": 11}, "n"),
        ({"prompt": "x", "n": "2"}, "n"),
        ({"prompt": "x" * 1001}, "prompt"),
        ({"prompt": "   "}, "prompt"),
        ({"n": 1}, "prompt"),
        ({"prompt": "x", "model": "gpt-image-1"}, "model"),
        ({"prompt": "x", "quality": "ultra"}, "quality"),
        ({"prompt": "x", "steps": 0}, "steps"),
        ({"prompt": "x", "guidance_scale": 99}, "guidance_scale"),
        ({"prompt": "x", "seed": -1}, "seed"),
        ({"prompt": "x", "style": "vivid"}, "style"),
        ({"prompt": "x", "background": "transparent"}, "background"),
        ({"prompt": "x", "output_format": "gif"}, "output_format"),
        ({"prompt": "x", "output_compression": 50}, "output_compression"),
        ({"prompt": "x", "partial_images": 2}, "partial_images"),
        ({"prompt": "x", "stream": True, "partial_images": 4}, "partial_images"),
        ({"prompt": "x", "stream": True, "response_format": "url"}, "response_format"),
        ({"prompt": "x", "response_format": "jpeg"}, "response_format"),
        ({"prompt": "x", "moderation": "none"}, "moderation"),  # "low" is honoured
        ({"prompt": "x", "svg": {"model": "m"}}, "svg"),
        ({"prompt": "x", "frame_count": 4}, "frame_count"),
        ({"prompt": "x", "temperature": 1}, "temperature"),
    ],
)
def test_bad_generation_fields_name_the_param(server, clean_key, body, param):
    with http(server, clean_key) as client:
        assert_openai_error(client.post("/v1/images/generations", json=body), 400, param)


@pytest.mark.parametrize("raw", [b'{"prompt": "a red', b"[1, 2]", b"", b"\xff\xfe"])
def test_bad_json_is_400(server, clean_key, raw):
    with http(server, clean_key) as client:
        response = client.post("/v1/images/generations", content=raw, headers={"Content-Type": "application/json"})
    assert_openai_error(response, 400, "body")


def _edit(client, image: bytes | None, mask: bytes | None = None, **fields):
    files = {}
    if image is not None:
        files["image"] = ("a.png", image, "image/png")
    if mask is not None:
        files["mask"] = ("m.png", mask, "image/png")
    return client.post("/v1/images/edits", files=files or None, data={"prompt": "a circle", **fields})


@pytest.mark.parametrize(
    ("image", "mask", "fields", "param"),
    [
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 200, None, {}, "image"),  # corrupt
        (b"hello, not an image", None, {}, "image"),
        (png_bytes((8, 8)), None, {}, "image"),  # smaller than the minimum side
        (bomb_png(1024), None, {}, "image"),  # over the server's pixel limit
        (bomb_png(12000), None, {}, "image"),  # a decompression bomb by PIL's own measure
        (None, None, {}, "image"),
        (png_bytes(), mask_bytes((16, 16)), {}, "mask"),  # mask of the wrong size
        (png_bytes(), png_bytes(), {}, "mask"),  # mask without alpha
        (png_bytes(), b"garbage", {}, "mask"),
        (png_bytes(), None, {"n": "many"}, "n"),
        (png_bytes(), None, {"strength": "1.5"}, "strength"),
        (png_bytes(), None, {"size": "64x48"}, "size"),
        (png_bytes(), None, {"input_fidelity": "high"}, "input_fidelity"),
        (png_bytes(), None, {"colour": "red"}, "colour"),
    ],
)
def test_bad_edit_uploads_name_the_param(server, clean_key, image, mask, fields, param):
    with http(server, clean_key) as client:
        assert_openai_error(_edit(client, image, mask, **fields), 400, param)


def test_edit_needs_multipart(server, clean_key):
    with http(server, clean_key) as client:
        assert_openai_error(client.post("/v1/images/edits", json={"prompt": "x"}), 400, "body")


@pytest.mark.parametrize(
    ("files", "param"),
    [
        ({"image": ("a.png", b"\x00\x01", "image/png")}, "image"),
        ({"image": ("a.png", bomb_png(2048), "image/png")}, "image"),
        ({"image": ("a.png", png_bytes(), "image/png"), "mask": ("m.png", mask_bytes(), "image/png")}, "mask"),
    ],
)
def test_bad_variation_uploads_name_the_param(server, clean_key, files, param):
    with http(server, clean_key) as client:
        assert_openai_error(client.post("/v1/images/variations", files=files), 400, param)


def test_oversized_bodies_are_413(server, clean_key):
    big = b"\x00" * (MAX_BODY_BYTES + 1024)
    with http(server, clean_key) as client:
        declared = client.post("/v1/images/edits", files={"image": ("a.png", big, "image/png")}, data={"prompt": "x"})
        assert_openai_error(declared, 413)
        chunked = client.post(
            "/v1/images/generations",
            content=(big[i : i + 65536] for i in range(0, len(big), 65536)),  # no Content-Length
            headers={"Content-Type": "application/json"},
        )
        assert_openai_error(chunked, 413)


def test_refused_requests_leave_nothing_behind(server, sessions, clean_key):
    with http(server, clean_key) as client:
        _edit(client, png_bytes(), mask_bytes((16, 16)))
        client.post("/v1/images/generations", json={"prompt": "x", "n": 99})
        ok = client.post("/v1/images/generations", json={"prompt": "x"})  # the worker still works
    assert ok.status_code == 200
    jobs, blobs = _tenant_leftovers(server, sessions)
    assert jobs == 1
    assert [p.parent.parent.name for p in blobs] == ["images"]  # only the good job's image, no uploads
