"""The fine-tuning API against a real server with the official `openai` SDK: upload, train,
events, checkpoints, cancel, pause/resume, then generate with the new model; tenant isolation."""

from __future__ import annotations

import base64
import hashlib
import io
import time

import httpx
import numpy as np
import openai
import pytest
from PIL import Image

from tests.conftest import png_bytes
from tests.service.finetune_fixtures import client, dataset_zip, make_key, start_finetune_server, wait_for_job


@pytest.fixture(scope="module")
def ft_server(models_dir, tmp_path_factory):
    server = start_finetune_server(tmp_path_factory.mktemp("ft-server"), models_dir)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def acme(ft_server):
    return make_key(ft_server, "acme")


@pytest.fixture(scope="module")
def globex(ft_server):
    return make_key(ft_server, "globex")


@pytest.fixture(scope="module")
def trained(ft_server, acme, tmp_path_factory):
    """One file and one succeeded job of tenant acme, made through the SDK."""
    api = client(ft_server, acme)
    upload = api.files.create(file=("shapes.zip", dataset_zip(tmp_path_factory.mktemp("data")), "application/zip"),
                              purpose="fine-tune")
    job = api.fine_tuning.jobs.create(
        model="gesso-base", training_file=upload.id, suffix="shapes", seed=3,
        hyperparameters={"n_epochs": 2, "batch_size": 4, "learning_rate_multiplier": 10},
    )
    return upload, job


def generate(api: openai.OpenAI, model: str) -> bytes:
    result = api.images.generate(model=model, prompt="red circle, flat style", size="32x32",
                                 extra_body={"seed": 11, "steps": 3})
    return base64.b64decode(result.data[0].b64_json)


def test_sdk_whole_flow(ft_server, acme, trained):
    api = client(ft_server, acme)
    upload, created = trained
    assert upload.purpose == "fine-tune" and upload.status == "processed" and upload.bytes > 0
    extras = upload.model_extra
    assert extras["image_count"] == 16 and len(extras["sha256"]) == 64
    preview = httpx.get(extras["preview_url"], headers={"Authorization": f"Bearer {acme}"})
    assert preview.status_code == 200 and preview.content[:8] == b"\x89PNG\r\n\x1a\n"
    assert hashlib.sha256(api.files.content(upload.id).content).hexdigest() == extras["sha256"]  # as sent
    assert created.status == "validating_files" and created.fine_tuned_model is None
    assert created.hyperparameters.n_epochs == 2 and created.seed == 3

    base_before = generate(api, "gesso-base")
    second = api.fine_tuning.jobs.create(model="gesso-base", training_file=upload.id,
                                         hyperparameters={"n_epochs": 200})
    cancelled = api.fine_tuning.jobs.cancel(second.id)
    assert cancelled.id == second.id
    assert wait_for_job(api, second.id).status == "cancelled"

    job = wait_for_job(api, created.id)
    assert job.status == "succeeded", job.error
    assert job.fine_tuned_model == f"ft:gesso-base:acme:shapes:{job.id}"
    assert job.finished_at and job.model_extra["progress"] == {"step": 8, "total_steps": 8}
    lineage = job.model_extra["lineage"]
    assert lineage["dataset_sha256"] == extras["sha256"] and lineage["base_model"] == "gesso-base"
    assert lineage["training_file"] == upload.id and lineage["created_by"].startswith("key")

    events = api.fine_tuning.jobs.list_events(job.id, limit=100).data
    assert events[0].message == "The job has successfully completed"  # newest first
    metrics = [e for e in events if e.type == "metrics"]
    assert sorted(e.data["step"] for e in metrics) == list(range(1, 9))
    assert all(e.data["train_loss"] > 0 for e in metrics)
    sample_urls = [e.data["sample_images"] for e in events if e.data and "sample_images" in e.data]
    assert len(sample_urls) == 2  # a checkpoint after each epoch
    grid = httpx.get(sample_urls[0], headers={"Authorization": f"Bearer {acme}"})
    assert grid.status_code == 200 and grid.content[:4] == b"\x89PNG"

    checkpoints = api.fine_tuning.jobs.checkpoints.list(job.id).data
    assert [c.step_number for c in checkpoints] == [8, 4]
    assert checkpoints[0].fine_tuned_model_checkpoint == f"{job.fine_tuned_model}:ckpt-step-8"
    assert checkpoints[0].metrics.train_loss > 0

    assert job.fine_tuned_model in [m.id for m in api.models.list()]
    assert api.models.retrieve(job.fine_tuned_model).id == job.fine_tuned_model
    tuned = generate(api, job.fine_tuned_model)
    base_after = generate(api, "gesso-base")
    # delivered images carry an invisible watermark, so compare pixels, not bytes
    noise, change = pixel_difference(base_after, base_before), pixel_difference(tuned, base_before)
    assert noise < 3.0, (noise, change)  # the adapter is off again for the base model (watermark noise only)
    assert change > 5 * max(noise, 0.5), (change, noise)  # and really used for the fine-tuned one
    edited = api.images.edit(model=job.fine_tuned_model, image=("a.png", png_bytes(colour="blue"), "image/png"), prompt="a circle")
    varied = api.images.create_variation(model=job.fine_tuned_model, image=("a.png", png_bytes(colour="blue"), "image/png"))
    assert edited.data[0].b64_json and varied.data[0].b64_json

    listed = api.fine_tuning.jobs.list(limit=1)
    assert [j.id for j in listed.data] == [second.id] and listed.has_more
    assert [j.id for j in api.fine_tuning.jobs.list(after=second.id).data] == [job.id]


def wait_for_step(api: openai.OpenAI, job_id: str, step: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while api.fine_tuning.jobs.retrieve(job_id).model_extra["progress"]["step"] < step:
        assert time.monotonic() < deadline, f"job {job_id} did not reach step {step}"
        time.sleep(0.05)


def pixel_difference(a: bytes, b: bytes) -> float:
    """Mean absolute difference of two images' pixels (0-255)."""
    first, second = (np.asarray(Image.open(io.BytesIO(x)).convert("RGB"), dtype=np.float64) for x in (a, b))
    return float(np.abs(first - second).mean())


def test_other_tenant_sees_nothing(ft_server, acme, globex, trained):
    upload, created = trained
    job = wait_for_job(client(ft_server, acme), created.id)
    other = client(ft_server, globex)
    for call in (
        lambda: other.files.retrieve(upload.id),
        lambda: other.files.content(upload.id),
        lambda: other.files.delete(upload.id),
        lambda: other.fine_tuning.jobs.retrieve(job.id),
        lambda: other.fine_tuning.jobs.list_events(job.id),
        lambda: other.fine_tuning.jobs.checkpoints.list(job.id),
        lambda: other.fine_tuning.jobs.cancel(job.id),
        lambda: other.models.retrieve(job.fine_tuned_model),
    ):
        with pytest.raises(openai.NotFoundError):
            call()
    assert other.files.list().data == [] and other.fine_tuning.jobs.list().data == []
    assert [m.id for m in other.models.list()] == ["gesso-base"]
    with pytest.raises(openai.BadRequestError) as foreign:
        other.images.generate(model=job.fine_tuned_model, prompt="a circle")
    with pytest.raises(openai.BadRequestError) as unknown:
        other.images.generate(model=job.fine_tuned_model.replace("ftjob", "ftjoc"), prompt="a circle")
    assert foreign.value.body["param"] == unknown.value.body["param"] == "model"
    assert foreign.value.body["message"].replace(job.fine_tuned_model, "X") == unknown.value.body["message"].replace(
        job.fine_tuned_model.replace("ftjob", "ftjoc"), "X")
    with pytest.raises(openai.BadRequestError) as stolen:
        other.fine_tuning.jobs.create(model="gesso-base", training_file=upload.id)
    assert stolen.value.body["param"] == "training_file"
    samples = httpx.get(f"{ft_server.url}/v1/fine_tuning/jobs/{job.id}/checkpoints/x/samples",
                        headers={"Authorization": f"Bearer {globex}"})
    assert samples.status_code == 404


def test_pause_and_resume_a_running_job(ft_server, acme, trained):
    api = client(ft_server, acme)
    upload, first = trained
    wait_for_job(api, first.id)  # one job at a time: let the shared one finish first
    job = api.fine_tuning.jobs.create(model="gesso-base", training_file=upload.id, hyperparameters={"n_epochs": 40})
    wait_for_step(api, job.id, 2)
    paused = api.fine_tuning.jobs.pause(job.id)
    assert paused.status == "paused"
    step = paused.model_extra["progress"]["step"]
    assert step < 160 and api.fine_tuning.jobs.checkpoints.list(job.id).data[0].step_number == step
    with pytest.raises(openai.ConflictError):
        api.fine_tuning.jobs.pause(job.id)
    assert api.fine_tuning.jobs.resume(job.id).status in ("queued", "running")  # the worker may be quick
    wait_for_job(api, job.id, statuses=("running",))
    cancelled = api.fine_tuning.jobs.cancel(job.id)
    assert cancelled.status == "cancelled" and cancelled.fine_tuned_model is None
    messages = [e.message for e in api.fine_tuning.jobs.list_events(job.id, limit=50)]  # pages through all
    assert any(m.startswith(f"Resumed fine-tuning at step {step}") for m in messages)
    with pytest.raises(openai.ConflictError):
        api.fine_tuning.jobs.resume(job.id)


@pytest.mark.parametrize(("field", "value", "param"), [
    ("model", "no-such-model", "model"),
    ("training_file", "file_missing", "training_file"),
    ("suffix", "Bad Suffix!", "suffix"),
    ("hyperparameters", {"n_epochs": 0}, "hyperparameters.n_epochs"),
    ("hyperparameters", {"rank": 1000}, "hyperparameters.rank"),
    ("hyperparameters", {"learning_rate_multiplier": -1}, "hyperparameters.learning_rate_multiplier"),
    ("method", {"type": "dpo"}, "method.type"),
    ("integrations", [{"type": "wandb", "wandb": {"project": "x"}}], "integrations"),
])
def test_bad_job_requests_name_the_field(ft_server, acme, trained, field, value, param):
    upload, _ = trained
    body = {"model": "gesso-base", "training_file": upload.id, field: value}
    response = httpx.post(f"{ft_server.url}/v1/fine_tuning/jobs", json=body,
                          headers={"Authorization": f"Bearer {acme}"})
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == param


def test_method_form_and_auto_hyperparameters(ft_server, acme, trained):
    api = client(ft_server, acme)
    upload, _ = trained
    job = api.fine_tuning.jobs.create(
        model="gesso-base", training_file=upload.id,
        method={"type": "supervised", "supervised": {"hyperparameters": {
            "n_epochs": 1, "batch_size": "auto", "learning_rate_multiplier": "auto"}}},
        extra_body={"metadata": {"team": "brand"}},
    )
    assert job.hyperparameters.n_epochs == 1 and job.hyperparameters.batch_size == 4
    assert job.method.type == "supervised" and job.metadata == {"team": "brand"}
    api.fine_tuning.jobs.cancel(job.id)
