"""Fine-tunes on the many-machines topology: a fine-tune started through one replica is seen and
used through the other, and its `ft:` model serves through either; fine-tunes run at once, one
per fine-tune worker, and tenants take turns at the claims rather than one tenant's queue being
drained first."""

from __future__ import annotations

import base64

from sqlalchemy import select

from gesso.store.advisory_locks import transaction_lock
from gesso.store.finetune_leases import CLAIM_LOCK
from gesso.store.tables import FineTuningJobRecord
from tests.replicas.conftest import Topology
from tests.service.finetune_fixtures import dataset_zip, wait_for_job

TINY = {"n_epochs": 1, "batch_size": 4}  # 4 steps on the 16-image shape dataset


def test_a_fine_tune_started_on_one_replica_is_followed_and_used_on_the_other(topology: Topology, tmp_path):
    key = topology.make_key("ft-crossing")
    a, b = topology.sdk(0, key), topology.sdk(1, key)
    upload = a.files.create(file=("shapes.zip", dataset_zip(tmp_path / "data"), "application/zip"),
                            purpose="fine-tune")
    created = b.fine_tuning.jobs.create(model="gesso-base", training_file=upload.id, suffix="crossing",
                                        hyperparameters=TINY)
    assert a.fine_tuning.jobs.retrieve(created.id).training_file == upload.id
    job = wait_for_job(a, created.id, timeout=180)
    assert job.status == "succeeded", job.error
    assert job.fine_tuned_model == f"ft:gesso-base:ft-crossing:crossing:{job.id}"
    messages = [event.message for event in a.fine_tuning.jobs.list_events(job.id, limit=100).data]
    assert messages[0] == "The job has successfully completed" and any("Files validated" in m for m in messages)
    assert job.fine_tuned_model in [model.id for model in b.models.list().data]
    generated = b.images.generate(model=job.fine_tuned_model, prompt="a red circle")  # its adapter, from the bucket
    assert base64.b64decode(generated.data[0].b64_json).startswith(b"\x89PNG")


def test_fine_tunes_run_at_once_and_tenants_take_turns_at_the_claims(topology: Topology, tmp_path):
    data = dataset_zip(tmp_path / "data")
    clients = {name: topology.sdk(i, topology.make_key(name)) for i, name in enumerate(("ft-acme", "ft-globex"))}
    uploads = {name: api.files.create(file=("d.zip", data, "application/zip"), purpose="fine-tune").id
               for name, api in clients.items()}
    with topology.sessions.begin() as session:
        # every claim waits on this lock until all three jobs are in: then the claim order shows
        # the fair share (first come, first served would run both of acme's before globex's)
        transaction_lock(session, CLAIM_LOCK)
        order = ("ft-acme", "ft-acme", "ft-globex")
        ids = [clients[name].fine_tuning.jobs.create(model="gesso-base", training_file=uploads[name],
                                                     hyperparameters=TINY).id for name in order]
    for name, job_id in zip(order, ids, strict=True):
        finished = wait_for_job(clients[name], job_id, timeout=240)
        assert finished.status == "succeeded", finished.error
    with topology.sessions() as session:
        rows = sorted(session.scalars(select(FineTuningJobRecord).where(FineTuningJobRecord.id.in_(ids))),
                      key=lambda row: row.started_at)
    tenant_of = dict(zip(ids, order, strict=True))
    assert [tenant_of[row.id] for row in rows] == ["ft-acme", "ft-globex", "ft-acme"]
    first, second = rows[0], rows[1]
    assert second.started_at < first.finished_at  # both trained at the same time, on the two workers
    assert all(row.attempts == 0 for row in rows)
