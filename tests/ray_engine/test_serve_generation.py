"""Generation on Ray Serve, end to end: a real `gesso serve --engine ray` on the session's Ray
cluster, driven by the official openai SDK. Concurrent requests are batched by the replica, two
fine-tuned models alternate without their adapters being loaded again, and a replica killed
mid-request still delivers its job exactly once. One Serve application serves the module and is
shut down at its end, so the cluster is left clean for the other tests."""

from __future__ import annotations

import base64
import io
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import ray
from PIL import Image
from ray import serve

from gesso.engine.ray_serve_deployment import DEPLOYMENT_NAME
from gesso.governance.api_keys import create_api_key, find_active_key
from gesso.governance.deployment import open_governance
from gesso.governance.tenants import create_tenant
from gesso.settings import Settings
from gesso.store.blob_store import open_blob_store
from gesso.store.database import database_url, open_database
from gesso.store.tables import FineTunedModel, ImageRecord, Job
from tests.engine.random_adapters import make_adapter
from tests.service.conftest import sdk
from tests.service.server_process import ServerProcess, install_test_model

APP = "gesso-test-generation"


@pytest.fixture(scope="module")
def ray_server(ray_cluster, tiny_pipeline_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    models = tmp_path_factory.mktemp("ray-models")
    install_test_model(tiny_pipeline_dir, models)
    root = tmp_path_factory.mktemp("ray-server")
    server = ServerProcess(
        root, models, ray_cluster.environment(), arguments=("--engine", "ray"), default_steps=3,
        max_batch_images=8, ray_serve_app=APP, ray_serve_batch_wait_s=1.0, ray_serve_max_adapters=2,
        ray_serve_replica_cpus=1, ray_serve_batches_in_flight=2,
    )  # fmt: skip
    ray.init(address=ray_cluster.address, ignore_reinit_error=True, log_to_driver=False)
    try:
        server.start(timeout=300)
        yield server
    finally:
        server.stop()
        serve.shutdown()
        ray.shutdown()


@pytest.fixture(scope="module")
def sessions(ray_server):
    return open_database(database_url(ray_server.data_dir))


@pytest.fixture(scope="module")
def developer(sessions) -> str:
    with sessions.begin() as session:
        tenant = create_tenant(session, "painters")
        _, secret = create_api_key(session, tenant.id, "developer")
    return secret


def replica_stats() -> dict:
    return serve.get_deployment_handle(DEPLOYMENT_NAME, app_name=APP).stats.remote().result(timeout_s=60)


def images_of_job(sessions, job_id: str) -> int:
    with sessions() as session:
        return session.query(ImageRecord).filter(ImageRecord.job_id == job_id).count()


def test_concurrent_requests_are_batched_by_the_replica(ray_server, developer):
    before = len(replica_stats()["batch_sizes"])
    client = sdk(ray_server, developer)

    def generate(prompt: str):
        return client.images.generate(model="gesso-base", prompt=prompt, n=2, size="32x32")

    prompts = ["a red circle", "a blue square", "a green star", "a yellow heart"]
    with ThreadPoolExecutor(len(prompts)) as pool:
        results = list(pool.map(generate, prompts))
    assert [len(result.data) for result in results] == [2, 2, 2, 2]
    image = Image.open(io.BytesIO(base64.b64decode(results[0].data[0].b64_json)))
    assert image.size == (256, 256) and image.format == "PNG"  # stamped and encoded as embedded
    sizes = replica_stats()["batch_sizes"][before:]
    assert sum(sizes) == 8
    assert max(sizes) > 2, f"no pipeline call held more than one job's images: {sizes}"


def add_fine_tuned_model(ray_server, sessions, secret: str, suffix: str, adapter_dir: Path) -> str:
    """A fine-tuned model row whose adapter lives only in the blob store, sealed (as a fine-tune
    on another machine leaves it)."""
    settings = Settings(data_dir=ray_server.data_dir)
    blobs = open_governance(settings, sessions).seal(open_blob_store(ray_server.data_dir, None))
    with sessions.begin() as session:
        key = find_active_key(session, secret)
        prefix = f"{key.tenant_id}/adapters/{suffix}"
        model_id = f"ft:gesso-base:painters:{suffix}:ftjob_{suffix}"
        session.add(FineTunedModel(
            id=model_id, tenant_id=key.tenant_id, job_id=f"ftjob_{suffix}", base_model="gesso-base",
            training_file="file_x", dataset_sha256="0" * 64, hyperparameters_json="{}", created_by=key.id,
            adapter_blob_prefix=prefix, adapter_dir="", created_at=time.time(),
        ))  # fmt: skip
    for path in adapter_dir.iterdir():
        blobs.put(f"{prefix}/{path.name}", path.read_bytes())
    return model_id


def test_two_fine_tuned_models_alternate_without_reloading(ray_server, sessions, developer, tiny_pipeline_dir,
                                                           tmp_path):
    first, second = (
        add_fine_tuned_model(ray_server, sessions, developer, name,
                             make_adapter(tiny_pipeline_dir, tmp_path / name, seed))
        for seed, name in ((1, "ink"), (2, "chalk"))
    )  # fmt: skip
    client = sdk(ray_server, developer)
    loads_before = replica_stats()["adapter_loads"]
    pixels = {}
    for model in (first, second, first, second, first, second):
        result = client.images.generate(model=model, prompt="a red circle", n=1, size="32x32",
                                        extra_body={"seed": 5})
        pixels.setdefault(model, Image.open(io.BytesIO(base64.b64decode(result.data[0].b64_json))).convert("RGB"))
    stats = replica_stats()
    assert stats["adapter_loads"] - loads_before == 2  # each adapter once, then switched, not reloaded
    assert pixels[first].tobytes() != pixels[second].tobytes()


def test_a_replica_killed_mid_request_still_delivers_its_job_once(ray_server, sessions, developer):
    client = sdk(ray_server, developer)
    victim = replica_stats()
    with ThreadPoolExecutor(1) as pool:
        answer = pool.submit(client.images.generate, model="gesso-base", prompt="a long purple spiral", n=2,
                             size="32x32", extra_body={"steps": 100, "seed": 3})
        deadline = time.monotonic() + 60
        while replica_stats()["running_jobs"] == 0:  # the job is on the replica now
            assert time.monotonic() < deadline and not answer.done(), "the job never reached the replica"
            time.sleep(0.05)
        ray.kill(ray.get_actor(victim["actor_name"], namespace="serve"), no_restart=True)
        result = answer.result(timeout=240)
    assert len(result.data) == 2
    assert replica_stats()["pid"] != victim["pid"]  # a new replica ran it
    with sessions() as session:
        tenant_id = find_active_key(session, developer).tenant_id
        jobs = session.query(Job).filter(Job.tenant_id == tenant_id, Job.batch_key.contains(", 100, ")).all()
        assert [job.status for job in jobs] == ["succeeded"]
        job = jobs[0]
    assert images_of_job(sessions, job.id) == 2  # one completion: no second set of images
    assert "sending it again" in ray_server.log()
