"""Every route that decodes a client's image refuses, from the header, files that are tiny on the
wire but huge once decoded, and answers truncated, random and many-frame files with a 4xx: never a
5xx, never hundreds of MiB of server memory, and the server keeps answering."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import png_bytes
from tests.hostile_images import huge_png, many_frame_gif, random_bytes, truncated_png
from tests.service.conftest import assert_openai_error, http, mask_bytes

HOSTILE = {
    "declares-4200x4200": huge_png(4200, 4200),  # over the server's limit, under Pillow's ceiling
    "declares-14000x14000": huge_png(14000, 14000),  # over Pillow's own bomb ceiling too
    "truncated": truncated_png(),
    "random-bytes": random_bytes(),
}


@pytest.fixture(scope="module")
def key(make_key) -> str:
    return make_key("hostile-images", "developer")


def _post(client, route: str, upload: bytes, field: str):  # noqa: ANN001, ANN202
    if route == "provenance":
        return client.post("/v1/provenance/verify", files={"file": ("x.png", upload, "image/png")})
    if route == "variations":
        return client.post("/v1/images/variations", files={"image": ("x.png", upload, "image/png")})
    files = {"image": ("x.png", upload, "image/png")} if field == "image" else {
        "image": ("x.png", png_bytes(), "image/png"), "mask": ("m.png", upload, "image/png")}
    return client.post("/v1/images/edits", files=files, data={"prompt": "a circle"})


@pytest.mark.parametrize("name", list(HOSTILE))
@pytest.mark.parametrize(
    ("route", "field"),
    [("provenance", "file"), ("edits", "image"), ("edits", "mask"), ("variations", "image")],
)
def test_hostile_image_bytes_are_400_naming_the_field_on_every_decoding_route(server, key, route, field, name):
    with http(server, key) as client:
        error = assert_openai_error(_post(client, route, HOSTILE[name], field), 400, field)
    if name.startswith("declares"):
        assert "pixel limit" in error["message"], error


def _peak_rss_bytes(pid: int) -> int:
    status = Path(f"/proc/{pid}/status")
    for line in status.read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM line")


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads the server's peak memory from /proc")
def test_huge_dimension_uploads_cost_the_server_no_decoding_memory(server, key):
    with http(server, key) as client:
        warm = client.post("/v1/provenance/verify", files={"file": ("x.png", png_bytes((256, 256)), "image/png")})
        assert warm.status_code == 200, warm.text
        before = _peak_rss_bytes(server.process.pid)
        for route, field in (("provenance", "file"), ("edits", "image"), ("edits", "mask"), ("variations", "image")):
            assert _post(client, route, HOSTILE["declares-4200x4200"], field).status_code == 400
        grown = _peak_rss_bytes(server.process.pid) - before
    assert grown < 200 * 1024 * 1024, f"peak memory grew by {grown / 2**20:.0f} MiB"  # decoding it: ~840 MiB


def test_many_frame_gif_is_read_as_its_first_frame(server, key):
    gif = many_frame_gif(500, (32, 32))
    with http(server, key) as client:
        report = client.post("/v1/provenance/verify", files={"file": ("x.gif", gif, "image/gif")})
        assert report.status_code == 200 and report.json()["credentials"] == "foreign", report.text
        # The GIF decodes (frame 0, 32x32); the refusal is the 16x16 mask's size, not the image.
        edit = client.post("/v1/images/edits", data={"prompt": "a circle"}, files={
            "image": ("x.gif", gif, "image/gif"), "mask": ("m.png", mask_bytes((16, 16)), "image/png")})
        assert "32x32" in assert_openai_error(edit, 400, "mask")["message"]


def test_server_keeps_answering_after_hostile_images(server, key):
    with http(server, key) as client:
        for upload in HOSTILE.values():
            assert client.post("/v1/provenance/verify", files={"file": ("x.png", upload, "image/png")}).status_code == 400
        assert client.get("/healthz").status_code == 200
        ok = client.post("/v1/provenance/verify", files={"file": ("x.png", png_bytes((256, 256)), "image/png")})
    assert ok.status_code == 200 and ok.json()["made_by_gesso"] is False
