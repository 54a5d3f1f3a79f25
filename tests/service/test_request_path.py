"""One generation followed from the HTTP route to the pipeline call, in-process: the request the
worker hands to the pipeline is the very request the route checked (same type, same values),
carried through the sealed job row unchanged."""

from __future__ import annotations

import base64
import io

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import select

import gesso.engine.job_execution as job_execution
import gesso.service.images.image_requests as image_requests
from gesso.governance.api_keys import create_api_key
from gesso.governance.tenants import create_tenant
from gesso.jobs.generation_request import GenerationRequest
from gesso.service.app import create_app
from gesso.settings import Settings
from gesso.store.database import database_url, open_database
from gesso.store.sealed_job_specs import SEALED_PREFIX
from gesso.store.tables import Job


class RecordingPipeline:
    """The pipeline the worker calls, with every call's keyword arguments kept."""

    def __init__(self, inner, calls: list[dict]):  # noqa: ANN001 - a pipeline
        self.inner, self.calls = inner, calls

    def __call__(self, prompts, **kwargs):  # noqa: ANN001, ANN204
        self.calls.append({"prompt": list(prompts), **kwargs})
        return self.inner(prompts, **kwargs)

    def __getattr__(self, name: str):  # noqa: ANN204
        return getattr(self.inner, name)


@pytest.fixture()
def recorded(monkeypatch):
    """What the route checked, what the worker handed to `run_batch`, what the pipeline got."""
    seen = {"checked": [], "worker": [], "pipeline": []}
    check_request = image_requests.check_request
    run_batch = job_execution.run_batch

    def checking(request, *args, **kwargs):  # noqa: ANN001, ANN202
        checked = check_request(request, *args, **kwargs)
        seen["checked"].append(checked)
        return checked

    def running(pipe, requests, slots, **kwargs):  # noqa: ANN001, ANN202
        seen["worker"].extend(requests[slot.request] for slot in slots)
        return run_batch(RecordingPipeline(pipe, seen["pipeline"]), requests, slots, **kwargs)

    monkeypatch.setattr(image_requests, "check_request", checking)
    monkeypatch.setattr(job_execution, "run_batch", running)
    return seen


def test_the_worker_hands_the_pipeline_the_request_the_route_checked(models_dir, tmp_path, recorded):
    settings = Settings(data_dir=tmp_path / "data", models_dir=models_dir, device="cpu", default_steps=2,
                        retention_sweep_every_s=0)
    body = {"prompt": "a red circle", "negative_prompt": "blurry", "n": 2, "seed": 7, "steps": 2,
            "guidance_scale": 3.5, "output_format": "jpeg", "output_compression": 70}
    with TestClient(create_app(settings), base_url="http://127.0.0.1") as client:
        sessions = open_database(database_url(settings.data_dir))
        with sessions.begin() as session:
            tenant = create_tenant(session, "acme")
            _, secret = create_api_key(session, tenant.id, "developer")
        response = client.post("/v1/images/generations", json=body, headers={"Authorization": f"Bearer {secret}"})
    assert response.status_code == 200, response.text

    [checked] = recorded["checked"]
    assert type(checked) is GenerationRequest
    assert (checked.prompt, checked.negative, checked.n, checked.seed, checked.output_format) == (
        "a red circle", "blurry", 2, 7, "jpeg")
    assert len(recorded["worker"]) == 2  # one slot per image, both of the one job
    for handed in recorded["worker"]:
        assert type(handed) is GenerationRequest and handed == checked

    [call] = recorded["pipeline"]
    assert call["prompt"] == [checked.prompt] * 2 and call["negative_prompt"] == [checked.negative] * 2
    assert (call["num_inference_steps"], call["guidance_scale"], call["seed"]) == (2, 3.5, [7, 8])
    assert (call["width"], call["height"]) == checked.size

    with sessions() as session:  # a session without the keyring reads the row as stored
        stored = session.scalar(select(Job.spec_json))
    assert stored.startswith(SEALED_PREFIX) and "a red circle" not in stored
    images = [Image.open(io.BytesIO(base64.b64decode(item["b64_json"]))) for item in response.json()["data"]]
    assert [image.format for image in images] == ["JPEG", "JPEG"]


def test_the_route_reads_what_a_model_makes_from_disk_and_never_loads_a_pipeline(models_dir):
    from types import SimpleNamespace

    from gesso.service.images.routes import _traits

    def no_pipelines(name: str):  # noqa: ANN202
        raise AssertionError(f"a pipeline was loaded for {name}")

    traits = _traits(SimpleNamespace(settings=Settings(models_dir=models_dir), pipelines=no_pipelines))
    assert traits("gesso-base") == traits("ft:gesso-base:acme:brand:ftjob_1")
    assert traits("gesso-base").sizes == [(32, 32)] and not traits("gesso-base").has_alpha
