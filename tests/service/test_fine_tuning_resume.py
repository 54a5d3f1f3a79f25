"""SIGKILL the server in the middle of a fine-tune: after a restart the job resumes from its last
checkpoint, finishes exactly once, and its adapter equals that of an uninterrupted run. A graceful
stop puts the running job back in the queue without counting it as an interruption."""

from __future__ import annotations

import time
from pathlib import Path

import torch
from safetensors.torch import load_file
from sqlalchemy import func, select

from gesso.model.adapters import ADAPTER_WEIGHTS
from gesso.store.database import database_url, open_database
from gesso.store.tables import FineTuneCheckpoint, FineTunedModel, FineTuningJobRecord
from tests.service.finetune_fixtures import client, dataset_zip, make_key, start_finetune_server, wait_for_job

EPOCHS = 8  # 4 steps an epoch: 32 steps, a checkpoint every 4


def wait_for_checkpoint(sessions, job_id: str, step: int) -> None:
    """Until the running job has saved a checkpoint at `step` or later."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with sessions() as session:
            job = session.get(FineTuningJobRecord, job_id)
            saved = session.scalar(select(func.max(FineTuneCheckpoint.step))
                                   .where(FineTuneCheckpoint.job_id == job_id)) or 0
        if job.status == "running" and saved >= step:
            return
        time.sleep(0.01)
    raise AssertionError(f"job {job_id} saved no checkpoint at step {step}")


def test_killed_fine_tune_resumes_exactly(models_dir, tmp_path):
    server = start_finetune_server(tmp_path / "server", models_dir)
    try:
        key = make_key(server, "acme")
        api = client(server, key)
        upload = api.files.create(file=("d.zip", dataset_zip(tmp_path / "data"), "application/zip"),
                                  purpose="fine-tune")
        settings = dict(model="gesso-base", training_file=upload.id, seed=5, hyperparameters={"n_epochs": EPOCHS})
        killed = api.fine_tuning.jobs.create(**settings, suffix="killed")
        sessions = open_database(database_url(server.data_dir))

        wait_for_checkpoint(sessions, killed.id, 8)
        server.kill()
        with sessions() as session:
            at_kill = session.get(FineTuningJobRecord, killed.id)
        assert at_kill.status == "running" and at_kill.step < 4 * EPOCHS, (at_kill.status, at_kill.step)

        server.start()
        api = client(server, key)
        finished = wait_for_job(api, killed.id)
        assert finished.status == "succeeded", finished.error
        messages = [e.message for e in api.fine_tuning.jobs.list_events(killed.id, limit=100)]
        assert any(m.startswith("Server restarted") for m in messages)
        resumed = [m for m in messages if m.startswith("Resumed fine-tuning at step")]
        assert len(resumed) == 1 and int(resumed[0].split()[4]) >= 8

        straight = wait_for_job(api, api.fine_tuning.jobs.create(**settings, suffix="straight").id)
        assert straight.status == "succeeded"
        with sessions() as session:
            steps = session.scalars(select(FineTuneCheckpoint.step).where(FineTuneCheckpoint.job_id == killed.id)
                                    .order_by(FineTuneCheckpoint.step)).all()
            models = {m.job_id: Path(m.adapter_dir) for m in session.scalars(select(FineTunedModel))}
        assert steps == list(range(4, 4 * EPOCHS + 1, 4))  # one row per checkpoint, none twice
        assert set(models) == {killed.id, straight.id}  # each job made its model exactly once
        interrupted = load_file(models[killed.id] / ADAPTER_WEIGHTS)
        uninterrupted = load_file(models[straight.id] / ADAPTER_WEIGHTS)
        assert interrupted.keys() == uninterrupted.keys()
        for name, tensor in uninterrupted.items():
            assert torch.equal(interrupted[name], tensor), name  # bit for bit

        stopped = api.fine_tuning.jobs.create(**settings, suffix="stopped")
        wait_for_checkpoint(sessions, stopped.id, 4)
        server.stop()  # a graceful stop: paused at a checkpoint, first in the queue, not an interruption
        with sessions() as session:
            at_stop = session.get(FineTuningJobRecord, stopped.id)
        assert (at_stop.status, at_stop.attempts) == ("queued", 0)
        server.start()
        assert wait_for_job(client(server, key), stopped.id).status == "succeeded"
    finally:
        server.stop()
