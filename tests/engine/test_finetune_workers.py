"""Fine-tune workers at scale, on PostgreSQL and SeaweedFS (S3) with sealed blobs: two workers
train two tenants' fine-tunes at once, each adapter loads from the bucket on any machine; a
worker killed mid-run leaves its fine-tune to another worker, which resumes it from the
checkpoint in the bucket (its own disk holds nothing of it) and finishes it exactly once, bit for
bit as an uninterrupted run. And a worker that lost its job stops it and writes nothing more."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from sqlalchemy import select, update

from gesso.engine.adapter_cache import AdapterCache
from gesso.engine.finetune_worker import FineTuneWorker
from gesso.model.adapters import ADAPTER_WEIGHTS
from gesso.model.pipeline_gesso import GessoPipeline
from gesso.store.blob_store import LocalBlobStore, open_blob_store
from gesso.store.database import database_url, open_database
from gesso.store.fine_tuned_adapters import adapter_location
from gesso.store.finetune_checkpoint_blobs import checkpoints_prefix
from gesso.store.key_provider import provider_from_file
from gesso.store.s3_blob_store import parse_blob_url
from gesso.store.sealed_blob_store import SealedBlobStore
from gesso.store.tables import FineTuneCheckpoint, FineTunedModel, FineTuneEvent, FineTuningJobRecord
from gesso.store.tenant_keys import TenantKeyring
from gesso.train.lora_loop import train_lora
from tests.service.server_process import install_test_model
from tests.store.finetune_jobs import add_job, add_training_file, job_row, make_queue, tenant_id

REPO = Path(__file__).resolve().parents[2]
LEASE_S = 3.0


class Cluster:
    """One PostgreSQL database and one bucket prefix shared by every worker of a test."""

    def __init__(self, database: str, blob_url: str, root: Path, tiny_pipeline_dir: Path):
        self.database_url, self.blob_url, self.root = database, blob_url, root
        self.sessions = open_database(database)
        self.master_key = root / "master.key"
        keyring = TenantKeyring(self.sessions.kw["bind"], provider_from_file(self.master_key, create=True))
        self.blobs = SealedBlobStore(open_blob_store(root, blob_url), keyring)
        self.models_dir = root / "models"
        install_test_model(tiny_pipeline_dir, self.models_dir)

    def worker(self, owner: str, **kw) -> FineTuneWorker:
        queue = make_queue(self.sessions, self.blobs, self.models_dir, owner, self.root / f"disk-{owner}",
                           lease_s=LEASE_S)
        return FineTuneWorker(queue, poll_seconds=0.1, heartbeat_s=LEASE_S / 4, **kw)

    def wait_for(self, job_id: str, statuses=("succeeded", "failed", "cancelled"), timeout: float = 240):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job = job_row(self.sessions, job_id)
            if job.status in statuses:
                return job
            time.sleep(0.1)
        raise AssertionError(f"{job_id} still {job.status} after {timeout}s")


@pytest.fixture()
def cluster(postgres_url, seaweed_server, s3_env, tmp_path, tiny_pipeline_dir) -> Cluster:
    return Cluster(postgres_url, seaweed_server.blob_url(), tmp_path, tiny_pipeline_dir)


def raw_objects(seaweed_server, blob_url: str, below: str) -> dict[str, bytes]:
    """What the bucket itself holds below a key prefix (as the object store sees it)."""
    bucket, prefix = parse_blob_url(blob_url)
    client = seaweed_server.client()
    listed = client.list_objects_v2(Bucket=bucket, Prefix=f"{prefix}/{below}").get("Contents", [])
    return {item["Key"]: client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read() for item in listed}


def messages(sessions, job_id: str) -> list[str]:
    with sessions() as session:
        return list(session.scalars(select(FineTuneEvent.message).where(FineTuneEvent.job_id == job_id)
                                    .order_by(FineTuneEvent.seq)))


def test_two_workers_train_two_tenants_at_once_and_adapters_load_anywhere(cluster, seaweed_server):
    together = threading.Barrier(2, timeout=120)  # passed only while both fine-tunes are training

    def train_alongside(config, on_event, **kw):  # noqa: ANN001, ANN202
        seen = []

        def event(item) -> None:  # noqa: ANN001
            on_event(item)
            if not seen:  # the first event: this fine-tune is training now
                seen.append(item)
                together.wait()

        return train_lora(config, on_event=event, **kw)

    jobs = {}
    for name in ("acme", "globex"):
        tenant = tenant_id(cluster.sessions, name)
        jobs[name] = add_job(cluster.sessions, tenant, add_training_file(cluster.sessions, cluster.blobs, tenant,
                                                                         cluster.root / f"data-{name}"), cluster.root)
    workers = [cluster.worker(owner, train=train_alongside) for owner in ("w1", "w2")]
    for worker in workers:
        worker.start()
    try:
        finished = {name: cluster.wait_for(job_id) for name, job_id in jobs.items()}
    finally:
        for worker in workers:
            worker.stop()
    assert {job.status for job in finished.values()} == {"succeeded"}, [j.error_message for j in finished.values()]
    with cluster.sessions() as session:
        models = list(session.scalars(select(FineTunedModel)))
    assert {Path(m.adapter_dir).parts[-4] for m in models} == {"disk-w1", "disk-w2"}  # one each, side by side

    fetched_root = cluster.root / "replica-adapters"  # a machine that trained neither
    adapters, serving = AdapterCache(), GessoPipeline.load(cluster.models_dir / "gesso-base")
    for model in models:
        stored = raw_objects(seaweed_server, cluster.blob_url, model.adapter_blob_prefix)
        assert len(stored) == 2 and all(b"gesso-lora" not in raw and b"lora_A" not in raw for raw in stored.values())
        Path(model.adapter_dir, ADAPTER_WEIGHTS).unlink()  # as on a machine other than the worker's
        base, folder = adapter_location(cluster.sessions, cluster.blobs, model.id, fetched_root)
        assert base == "gesso-base" and folder.is_relative_to(fetched_root)
        with adapters.use(serving, folder):
            pass
    assert adapters.loads == 2


def start_worker_process(cluster: Cluster, owner: str) -> subprocess.Popen:
    settings = {"database_url": cluster.database_url, "blob_url": cluster.blob_url,
                "master_key": str(cluster.master_key), "models_dir": str(cluster.models_dir), "owner": owner,
                "work_root": str(cluster.root / f"disk-{owner}"), "lease_s": LEASE_S}
    log = open(cluster.root / f"worker-{owner}.log", "w")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO)])}
    process = subprocess.Popen([sys.executable, "-m", "tests.engine.finetune_worker_process", json.dumps(settings)],
                               cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=log, text=True)
    assert process.stdout.readline().strip() == "ready", (cluster.root / f"worker-{owner}.log").read_text()
    return process


def wait_for_stored_checkpoint(cluster: Cluster, job_id: str, step: int) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        with cluster.sessions() as session:
            stored = session.scalar(select(FineTuneCheckpoint.step).where(
                FineTuneCheckpoint.job_id == job_id, FineTuneCheckpoint.blob_prefix.is_not(None),
                FineTuneCheckpoint.step >= step))
        if stored is not None and job_row(cluster.sessions, job_id).status == "running":
            return
        time.sleep(0.02)
    raise AssertionError(f"{job_id} stored no checkpoint at step {step}")


def test_a_killed_workers_fine_tune_resumes_on_another_from_the_bucket(cluster, seaweed_server, tmp_path):
    acme = tenant_id(cluster.sessions, "acme")
    data = add_training_file(cluster.sessions, cluster.blobs, acme, tmp_path / "data")
    killed = add_job(cluster.sessions, acme, data, tmp_path, n_epochs=8, seed=5)  # 32 steps, a checkpoint every 4
    process = start_worker_process(cluster, "doomed")
    try:
        wait_for_stored_checkpoint(cluster, killed, 8)
    finally:
        process.kill()
        process.wait(30)
    at_kill = job_row(cluster.sessions, killed)
    assert (at_kill.status, at_kill.lease_owner) == ("running", "doomed") and at_kill.step < 32
    stored = raw_objects(seaweed_server, cluster.blob_url, checkpoints_prefix(acme, killed))
    names = {key.rsplit("/", 1)[-1] for key in stored}
    assert names == {"adapter.safetensors", "adapter.json", "meta.json", "trainer_state.safetensors",
                     "trainer_state.json"}  # safetensors and JSON only: nothing to unpickle
    assert all(raw.startswith(b"GSB2") and b'"step"' not in raw for raw in stored.values())  # sealed, streamed

    survivor = cluster.worker("survivor")  # its own, empty disk: the checkpoint can only come from the bucket
    survivor.start()
    try:
        assert cluster.wait_for(killed).status == "succeeded"
        straight = add_job(cluster.sessions, acme, data, tmp_path, n_epochs=8, seed=5)
        assert cluster.wait_for(straight).status == "succeeded"
    finally:
        survivor.stop()

    events = messages(cluster.sessions, killed)
    assert sum(m.startswith("The worker running the job stopped") for m in events) == 1
    resumed = [m for m in events if m.startswith("Resumed fine-tuning at step")]
    assert len(resumed) == 1 and int(resumed[0].split()[4]) >= 8
    assert job_row(cluster.sessions, killed).attempts == 1
    with cluster.sessions() as session:
        steps = list(session.scalars(select(FineTuneCheckpoint.step).where(FineTuneCheckpoint.job_id == killed)
                                     .order_by(FineTuneCheckpoint.step)))
        models = {m.job_id: Path(m.adapter_dir) for m in session.scalars(select(FineTunedModel))}
    assert steps == list(range(4, 33, 4))  # one row per checkpoint, none twice
    assert set(models) == {killed, straight} and models[killed].is_relative_to(tmp_path / "disk-survivor")
    assert list(cluster.blobs.keys(checkpoints_prefix(acme, killed))) == []  # no resume point once finished
    resumed_weights, straight_weights = (load_file(models[j] / ADAPTER_WEIGHTS) for j in (killed, straight))
    assert resumed_weights.keys() == straight_weights.keys()
    for name, tensor in straight_weights.items():
        assert torch.equal(resumed_weights[name], tensor), name  # bit for bit


def test_a_worker_that_lost_its_job_stops_it_and_writes_nothing_more(tmp_path, tiny_pipeline_dir):
    sessions = open_database(database_url(tmp_path))
    blobs = LocalBlobStore(tmp_path / "blobs")
    models_dir = tmp_path / "models"
    install_test_model(tiny_pipeline_dir, models_dir)
    acme = tenant_id(sessions, "acme")
    job_id = add_job(sessions, acme, add_training_file(sessions, blobs, acme, tmp_path / "data"), tmp_path, n_epochs=8)
    taken = threading.Event()

    def taken_at_first_checkpoint(config, on_event, **kw):  # noqa: ANN001, ANN202
        def event(item) -> None:  # noqa: ANN001
            on_event(item)
            if item.kind == "checkpoint" and not taken.is_set():  # another worker has it now
                with sessions.begin() as session:
                    session.execute(update(FineTuningJobRecord).where(FineTuningJobRecord.id == job_id)
                                    .values(lease_owner="elsewhere", lease_expires_at=time.time() + 600))
                taken.set()

        return train_lora(config, on_event=event, **kw)

    queue = make_queue(sessions, blobs, models_dir, "w1", tmp_path / "disk")
    worker = FineTuneWorker(queue, poll_seconds=0.05, heartbeat_s=0.05, train=taken_at_first_checkpoint)
    worker.start()
    try:
        assert taken.wait(120)
        deadline = time.monotonic() + 60
        while worker.current is not None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert worker.current is None and worker.alive
    finally:
        worker.stop()
    job = job_row(sessions, job_id)
    assert (job.status, job.lease_owner, job.step, job.error_code) == ("running", "elsewhere", 4, None)
    assert messages(sessions, job_id)[-1].startswith("Checkpoint at step 4")
    with sessions() as session:
        assert session.scalar(select(FineTunedModel)) is None
