"""The official `openai` SDK against a real Gesso server: the compatibility promise."""

from __future__ import annotations

import base64
import io

import httpx
import numpy as np
from PIL import Image

from tests.conftest import png_bytes
from tests.service.conftest import http, mask_bytes, sdk


def decode(b64: str) -> Image.Image:
    image = Image.open(io.BytesIO(base64.b64decode(b64)))
    image.load()
    return image


def test_generate_b64_with_several_images(server, dev_key):
    result = sdk(server, dev_key).images.generate(model="gesso-base", prompt="a red circle", n=3, size="32x32")
    assert len(result.data) == 3
    images = [decode(item.b64_json) for item in result.data]
    # delivered at 256 px (room for the provenance watermark); `size` names the model's size
    assert all(image.size == (256, 256) and image.format == "PNG" for image in images)
    assert len({image.tobytes() for image in images}) == 3  # image k has seed + k: all differ
    assert result.size == "32x32" and result.created > 0


def test_generate_is_reproducible_with_a_seed(server, dev_key):
    client = sdk(server, dev_key)
    first = client.images.generate(prompt="a blue square", extra_body={"seed": 7, "steps": 3})
    again = client.images.generate(prompt="a blue square", extra_body={"seed": 7, "steps": 3})
    # the same pixels up to each image's own invisible watermark
    diff = np.abs(np.asarray(decode(first.data[0].b64_json), dtype=np.int16)
                  - np.asarray(decode(again.data[0].b64_json), dtype=np.int16))
    assert diff.mean() < 2.0 and diff.max() <= 16


def test_generate_url_points_at_signed_content(server, dev_key):
    result = sdk(server, dev_key).images.generate(prompt="a green circle", response_format="url", n=2)
    urls = [item.url for item in result.data]
    assert all(url.startswith(server.url + "/v1/images/img_") for url in urls)
    fetched = httpx.get(urls[0])  # no API key: the token is the credential
    assert fetched.status_code == 200 and fetched.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(fetched.content)).size == (256, 256)
    image_id = urls[0].split("/")[-2]
    other_id = urls[1].split("/")[-2]
    stolen = httpx.get(urls[0].replace(image_id, other_id))  # token of one image, id of another
    assert stolen.status_code == 401
    tampered = httpx.get(urls[0][:-4] + "0000")
    assert tampered.status_code == 401
    expired = httpx.get(f"{server.url}/v1/images/{image_id}/content", params={"token": "1000." + "0" * 64})
    assert expired.status_code == 401


def test_generate_jpeg_output(server, dev_key):
    result = sdk(server, dev_key).images.generate(prompt="a circle", output_format="jpeg", output_compression=80)
    assert decode(result.data[0].b64_json).format == "JPEG"
    assert result.output_format == "jpeg"


def test_streaming_sends_partial_images_then_completed(server, dev_key):
    stream = sdk(server, dev_key).images.generate(
        prompt="a purple circle", stream=True, partial_images=2, n=2, extra_body={"steps": 6}
    )
    events = list(stream)
    partial = [e for e in events if e.type == "image_generation.partial_image"]
    completed = [e for e in events if e.type == "image_generation.completed"]
    assert len(completed) == 2
    assert len(partial) == 4  # 2 previews for each of 2 images
    assert {e.partial_image_index for e in partial} == {0, 1}
    assert events.index(completed[0]) > max(events.index(e) for e in partial)
    assert decode(partial[0].b64_json).size == (32, 32)
    assert decode(completed[0].b64_json).size == (256, 256)  # partials are native, not stamped


def test_edit_with_mask_inpaints(server, dev_key):
    result = sdk(server, dev_key).images.edit(
        image=("photo.png", png_bytes(), "image/png"),
        mask=("mask.png", mask_bytes(), "image/png"),
        prompt="a yellow circle",
        n=2,
    )
    assert [decode(item.b64_json).size for item in result.data] == [(256, 256), (256, 256)]


def test_edit_without_mask_is_image_to_image(server, dev_key):
    client = sdk(server, dev_key)
    red = client.images.edit(
        image=("a.png", png_bytes(colour="red"), "image/png"), prompt="a circle", extra_body={"seed": 3, "strength": 0.3}
    )
    blue = client.images.edit(
        image=("b.png", png_bytes(colour="blue"), "image/png"), prompt="a circle", extra_body={"seed": 3, "strength": 0.3}
    )
    red_img = decode(red.data[0].b64_json).convert("RGB")
    blue_img = decode(blue.data[0].b64_json).convert("RGB")
    # same seed and prompt: only the input image differs, and at low strength it shows through
    assert red_img.tobytes() != blue_img.tobytes()


def test_create_variation(server, dev_key):
    result = sdk(server, dev_key).images.create_variation(image=("a.png", png_bytes(colour="blue"), "image/png"), n=2)
    assert len(result.data) == 2
    assert decode(result.data[0].b64_json).size == (256, 256)


def test_models_list_and_retrieve(server, dev_key):
    client = sdk(server, dev_key)
    assert [model.id for model in client.models.list()] == ["gesso-base"]
    assert client.models.retrieve("gesso-base").owned_by == "gesso"


def test_image_content_with_key_and_tenant_scope(server, dev_key, other_key):
    result = sdk(server, dev_key).images.generate(prompt="a circle", response_format="url")
    image_id = result.data[0].url.split("/")[-2]
    with http(server, dev_key) as own:
        assert own.get(f"/v1/images/{image_id}/content").status_code == 200
    with http(server, other_key) as foreign:
        assert foreign.get(f"/v1/images/{image_id}/content").status_code == 404
