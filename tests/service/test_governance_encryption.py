"""Encryption at rest on a running server: nothing readable in the data directory (database, WAL
and blobs included), and master key rotation re-wraps data keys without touching a blob."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from gesso.cli import app
from gesso.settings import get_settings
from tests.service.conftest import http


def noise_png(seed: int) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    return buffer.getvalue()


def files_containing(root, needles: dict[str, bytes]) -> list[tuple[str, str]]:
    hits = []
    for path in root.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            hits += [(name, str(path)) for name, needle in needles.items() if needle in data]
    return hits


@pytest.fixture()
def cli_on_server(server, monkeypatch):
    monkeypatch.setenv("GESSO_DATA_DIR", str(server.data_dir))
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def test_no_upload_image_or_prompt_lies_readable_in_the_data_directory(server, make_key):
    dev = make_key("crypto-a", "developer")
    upload = noise_png(1)
    pixels = Image.open(io.BytesIO(upload)).convert("RGB").tobytes()
    prompt = "a quixotic zebra-striped teapot 4711"
    with http(server, dev) as client:
        edited = client.post(
            "/v1/images/edits",
            files={"image": ("photo.png", upload, "image/png")},
            data={"prompt": prompt, "negative_prompt": "blurry mauve fog 0815"},
        )
        generated = client.post("/v1/images/generations", json={"prompt": prompt, "n": 2})
    assert edited.status_code == 200 and generated.status_code == 200, edited.text + generated.text
    delivered = [base64.b64decode(d["b64_json"]) for d in edited.json()["data"] + generated.json()["data"]]
    needles = {
        "upload": upload,
        "upload pixels": pixels[:3 * 32 * 4],  # four rows of the uploaded pixels
        "prompt": prompt.encode(),
        "negative prompt": b"blurry mauve fog 0815",
        **{f"image {i}": image for i, image in enumerate(delivered)},
        **{f"image {i} middle": image[len(image) // 2:len(image) // 2 + 64] for i, image in enumerate(delivered)},
    }
    assert files_containing(server.data_dir, needles) == []
    blobs = [p for p in (server.data_dir / "blobs").rglob("*") if p.is_file()]
    assert blobs and all(p.read_bytes().startswith(b"GSB1") for p in blobs)  # every blob is sealed


def test_rotate_master_rewraps_data_keys_and_old_images_still_open(server, make_key, cli_on_server):
    dev = make_key("crypto-b", "developer")
    with http(server, dev) as client:
        before = client.post("/v1/images/generations", json={"prompt": "a pear", "response_format": "url"})
    url = before.json()["data"][0]["url"]
    key_file = server.data_dir / "keys" / "master.key"
    old_key = key_file.read_text()
    blobs_before = {p: p.read_bytes() for p in (server.data_dir / "blobs").rglob("*") if p.is_file()}

    result = cli_on_server.invoke(app, ["keys", "rotate-master"])
    assert result.exit_code == 0, result.output
    assert "re-wrapped" in result.output
    assert key_file.read_text() != old_key and len(key_file.read_text().split()) == 1  # old key dropped
    assert all(p.read_bytes() == data for p, data in blobs_before.items())  # no blob re-encrypted

    with http(server, dev) as client:
        assert client.get(url).status_code == 200  # the running server picks up the new key
        assert client.post("/v1/images/generations", json={"prompt": "a plum"}).status_code == 200
