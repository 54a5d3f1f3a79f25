"""`background: "transparent"` through the API: a model with an alpha channel delivers RGBA PNG or
WebP, signed like any image; `opaque` and `auto` stay RGB on white; a model
without alpha, or JPEG output, is refused with OpenAI's error object."""

from __future__ import annotations

import base64
import io

import openai
import pytest
from PIL import Image

from gesso.governance.api_keys import create_api_key
from gesso.governance.tenants import create_tenant
from gesso.model.assembly import assemble_pipeline
from gesso.store.database import database_url, open_database
from tests.service.conftest import http, sdk
from tests.service.server_process import running_server


@pytest.fixture(scope="module")
def rgba_server(tmp_path_factory):
    models = tmp_path_factory.mktemp("rgba-models")
    assemble_pipeline("tiny-rgba", "tiny-rgba").save_pretrained(models / "gesso-base")
    with running_server(tmp_path_factory.mktemp("rgba-server"), models, default_steps=2) as proc:
        with open_database(database_url(proc.data_dir)).begin() as session:
            tenant = create_tenant(session, "alpha-co")
            _, secret = create_api_key(session, tenant.id, "developer")
        yield proc, secret


def decoded(b64: str) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(b64)))


@pytest.mark.parametrize("output_format", ["png", "webp"])
def test_a_transparent_background_gives_an_rgba_image_with_its_provenance(rgba_server, output_format):
    proc, key = rgba_server
    result = sdk(proc, key).images.generate(
        model="gesso-base", prompt="a lemon", background="transparent", output_format=output_format
    )
    assert result.background == "transparent" and result.output_format == output_format
    image = decoded(result.data[0].b64_json)
    assert image.format == output_format.upper() and image.mode == "RGBA" and image.size == (256, 256)
    with http(proc, key) as client:
        report = client.post(
            "/v1/provenance/verify", files={"file": (f"x.{output_format}", base64.b64decode(result.data[0].b64_json))}
        ).json()
    # the watermark of a transparent image is tested on real emoji (tests/governance); this
    # random model's noise is no host for it, so only the signed credentials are checked here
    assert report["made_by_gesso"] and report["credentials"] == "intact" and report["model"] == "gesso-base"


@pytest.mark.parametrize("background", [None, "opaque", "auto"])
def test_opaque_and_auto_stay_rgb_on_the_same_model(rgba_server, background):
    proc, key = rgba_server
    extra = {} if background is None else {"background": background}
    result = sdk(proc, key).images.generate(model="gesso-base", prompt="a lemon", **extra)
    assert result.background == "opaque"
    assert decoded(result.data[0].b64_json).mode == "RGB"


def test_transparent_jpeg_is_refused(rgba_server):
    proc, key = rgba_server
    with pytest.raises(openai.BadRequestError) as caught:
        sdk(proc, key).images.generate(model="gesso-base", prompt="a lemon", background="transparent",
                                       output_format="jpeg")
    assert caught.value.body["param"] == "output_format"


def test_a_model_without_alpha_refuses_transparent(server, dev_key):
    with pytest.raises(openai.BadRequestError) as caught:
        sdk(server, dev_key).images.generate(model="gesso-base", prompt="a lemon", background="transparent")
    assert caught.value.body["param"] == "background" and "alpha" in caught.value.body["message"]
