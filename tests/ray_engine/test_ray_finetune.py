"""Fine-tunes on Ray Train, on the session's real cluster: the database row stays the truth and
the same fine-tune worker runs the job, but its training runs as two DDP ranks (gloo) on the
cluster. A paused fine-tune resumes from its stored checkpoint; its adapter then generates
through the normal adapter path; a cancel stops it; every checkpoint object Ray Train persisted
and every one the blob store holds is ciphertext."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import torch
from sqlalchemy import select

from gesso.engine.adapter_cache import AdapterCache
from gesso.engine.finetune_worker import FineTuneWorker
from gesso.model.pipeline_gesso import GessoPipeline
from gesso.service.fine_tuning.ray_training import ray_finetune_training
from gesso.settings import Settings
from gesso.store.blob_store import LocalBlobStore
from gesso.store.database import database_url, open_database
from gesso.store.fine_tuned_adapters import adapter_location
from gesso.store.finetune_checkpoint_blobs import checkpoints_prefix
from gesso.store.finetune_records import set_status
from gesso.store.sealed_blob_store import SealedBlobStore
from gesso.store.tables import FineTuneCheckpoint, FineTuneEvent, FineTuningJobRecord
from gesso.store.tenant_keys import TenantKeyring, open_key_provider
from tests.service.server_process import install_test_model
from tests.store.finetune_jobs import add_job, add_training_file, job_row, make_queue, tenant_id

SEALED_MAGIC_LEN = 4
PLAIN_MARKERS = (b"lora_A", b"lora_B", b"exp_avg", b'"step"', b"\x89PNG")


class RayFineTunes:
    """One SQLite database, sealed local blobs and a fine-tune worker whose training is Ray's."""

    def __init__(self, root: Path, address: str, tiny_pipeline_dir: Path, workers: int = 2, drivers: int = 1):
        self.root = root
        self.settings = Settings(data_dir=root, models_dir=root / "models", ray_address=address,
                                 ray_train_workers=workers, ray_train_storage_path=str(root / "ray-train"))
        self.sessions = open_database(database_url(root))
        provider = open_key_provider(root / "keys")
        self.blobs = SealedBlobStore(LocalBlobStore(root / "blobs"), TenantKeyring(self.sessions.kw["bind"], provider))
        install_test_model(tiny_pipeline_dir, self.settings.models_dir)
        # each driver is one fine-tune worker (a process of its own in production): its own lease
        # owner and disk, the same database and blobs, one fine-tune at a time on the cluster
        self.workers = [
            FineTuneWorker(make_queue(self.sessions, self.blobs, self.settings.models_dir, f"ray-driver-{i}",
                                      root / f"disk-{i}"),
                           poll_seconds=0.1, heartbeat_s=5.0, training=ray_finetune_training(self.settings))
            for i in range(drivers)
        ]
        self.worker = self.workers[0]

    def add(self, tenant: str, epochs: int, checkpoint_every: int, created_at: float | None = None) -> str:
        tenant_key = tenant_id(self.sessions, tenant)
        file_id = add_training_file(self.sessions, self.blobs, tenant_key, self.root / f"data-{tenant}-{time.monotonic_ns()}")
        job_id = add_job(self.sessions, tenant_key, file_id, self.root, n_epochs=epochs, created_at=created_at)
        with self.sessions.begin() as session:
            job = session.get(FineTuningJobRecord, job_id)
            config = json.loads(job.config_json)
            job.config_json = json.dumps({**config, "checkpoint_every": checkpoint_every, "keep_checkpoints": 2})
            job.total_steps = epochs * 4
        return job_id

    def wait(self, job_id: str, until, what: str, timeout: float = 150.0):  # noqa: ANN001
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job = job_row(self.sessions, job_id)
            if until(job):
                return job
            time.sleep(0.1)
        raise AssertionError(f"{job_id} never {what}: {job.status} at step {job.step}; {messages(self, job_id)}")

    def stored_step(self, job_id: str) -> int | None:
        with self.sessions() as session:
            return session.scalar(select(FineTuneCheckpoint.step).where(FineTuneCheckpoint.job_id == job_id)
                                  .order_by(FineTuneCheckpoint.step.desc()))

    def ask(self, job_id: str, action: str) -> None:
        with self.sessions.begin() as session:
            assert set_status(session, job_id, ("running",), requested_action=action)
        self.worker.wake()


def messages(env: RayFineTunes, job_id: str) -> list[str]:
    with env.sessions() as session:
        return list(session.scalars(select(FineTuneEvent.message).where(FineTuneEvent.job_id == job_id)
                                    .order_by(FineTuneEvent.seq)))


def assert_ciphertext(files: list[Path]) -> None:
    assert files
    for path in files:
        raw = path.read_bytes()
        assert not any(marker in raw for marker in PLAIN_MARKERS), path
        assert not raw.startswith(b"{") and len(raw) > SEALED_MAGIC_LEN, path


def stop(env: RayFineTunes) -> None:
    for worker in env.workers:
        worker.stop(timeout=120)
    import ray

    if ray.is_initialized():
        ray.shutdown()  # the cluster's CPUs go back to the other tests


@pytest.fixture()
def ray_fine_tunes(ray_cluster, tmp_path, tiny_pipeline_dir):
    env = RayFineTunes(tmp_path, ray_cluster.address, tiny_pipeline_dir)
    env.worker.start()
    yield env
    stop(env)


def test_two_fine_tunes_train_at_once_on_the_cluster_and_tenants_take_turns(ray_cluster, tmp_path, tiny_pipeline_dir):
    # two drivers, one rank of 1 CPU each: the session's 2-CPU cluster holds both fine-tunes at once
    env = RayFineTunes(tmp_path, ray_cluster.address, tiny_pipeline_dir, workers=1, drivers=2)
    now = time.time()
    order = ("acme", "acme", "globex")  # first come, first served would run both of acme's first
    ids = [env.add(name, epochs=3, checkpoint_every=100, created_at=now + i) for i, name in enumerate(order)]
    try:
        for worker in env.workers:
            worker.start()
        finished = [env.wait(job_id, lambda job: job.status in ("succeeded", "failed", "cancelled"), "ended",
                             timeout=300) for job_id in ids]
    finally:
        stop(env)
    assert [job.status for job in finished] == ["succeeded"] * 3, [job.error_message for job in finished]
    by_start = sorted(finished, key=lambda job: job.started_at)
    tenant_of = dict(zip(ids, order, strict=True))
    assert [tenant_of[job.id] for job in by_start] == ["acme", "globex", "acme"]
    first, second = by_start[0], by_start[1]
    assert second.started_at < first.finished_at  # both trained at the same time, one per driver
    assert all(job.attempts == 0 for job in finished)
    assert all(adapter_location(env.sessions, env.blobs, job.fine_tuned_model, tmp_path / f"fetched-{job.id}")[0]
               == "gesso-base" for job in finished)


def test_two_ranks_pause_resume_from_the_checkpoint_and_the_adapter_generates(ray_fine_tunes):
    env = ray_fine_tunes
    job_id = env.add("acme", epochs=20, checkpoint_every=4)  # 80 steps: the pause lands mid-run
    env.wait(job_id, lambda job: (env.stored_step(job_id) or 0) >= 4, "stored a checkpoint")
    env.ask(job_id, "pause")
    paused = env.wait(job_id, lambda job: job.status == "paused", "paused")
    assert 4 <= paused.step < 80 and env.stored_step(job_id) == paused.step  # a checkpoint at the pause

    # what Ray Train persisted, and what the blob store holds, is ciphertext only
    ray_files = [p for p in (env.root / "ray-train" / job_id).rglob("*")
                 if p.is_file() and any(folder.name.startswith("checkpoint_") for folder in p.parents)]
    assert_ciphertext(ray_files)
    tenant = job_row(env.sessions, job_id).tenant_id
    assert_ciphertext([env.root / "blobs" / key for key in env.blobs.keys(checkpoints_prefix(tenant, job_id))])

    with env.sessions.begin() as session:
        assert set_status(session, job_id, ("paused",), status="queued", requested_action=None)
    env.worker.wake()
    done = env.wait(job_id, lambda job: job.status in ("succeeded", "failed", "cancelled"), "ended", timeout=240)
    assert done.status == "succeeded", done.error_message
    said = messages(env, job_id)
    assert f"Resumed fine-tuning at step {paused.step} of 80" in said
    assert not any("Started fine-tuning" in m for m in said[said.index(f"Fine-tuning paused at step {paused.step}"):])
    assert not (env.root / "ray-train" / job_id).exists()  # Ray's copies go once the job ended

    base, folder = adapter_location(env.sessions, env.blobs, done.fine_tuned_model, env.root / "fetched")
    assert base == "gesso-base"
    pipe, adapters = GessoPipeline.load(env.settings.models_dir / base), AdapterCache()
    pipe.set_progress_bar_config(disable=True)
    plain = pipe(["a red circle"], seed=0, num_inference_steps=2, output_type="pt")
    with adapters.use(pipe, folder):
        tuned = pipe(["a red circle"], seed=0, num_inference_steps=2, output_type="pt")
    assert tuned.shape == plain.shape and not torch.equal(tuned, plain)


def test_cancel_stops_a_ray_fine_tune(ray_fine_tunes):
    env = ray_fine_tunes
    job_id = env.add("globex", epochs=200, checkpoint_every=400)
    env.wait(job_id, lambda job: job.status == "running" and job.step >= 2, "trained")
    env.ask(job_id, "cancel")
    cancelled = env.wait(job_id, lambda job: job.status != "running", "stopped")
    assert cancelled.status == "cancelled" and cancelled.step < 800
    deadline = time.monotonic() + 60  # the row says cancelled a moment before the driver lets go
    while env.worker.current is not None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert env.worker.current is None
    with env.sessions() as session:
        assert session.scalar(select(FineTuningJobRecord.fine_tuned_model).where(FineTuningJobRecord.id == job_id)) is None
