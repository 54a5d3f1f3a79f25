"""A fine-tune's checkpoints in the blob store: only safetensors and JSON travel; a machine that
resumes takes the last stored checkpoint (its own copy if it wrote it, a download otherwise, a
newer local one that never reached the store dropped); an altered or missing one means starting
over; old ones are pruned to `keep_checkpoints`."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from gesso.store.blob_store import LocalBlobStore
from gesso.store.database import database_url, open_database
from gesso.store.finetune_checkpoint_blobs import (
    checkpoint_prefix,
    download_checkpoint,
    fetch_resume_point,
    upload_checkpoint,
)
from gesso.store.finetune_records import forget_stored_checkpoints, save_checkpoint_row
from gesso.store.key_provider import provider_from_file
from gesso.store.sealed_blob_store import SealedBlobStore
from gesso.store.tables import FineTuneCheckpoint, FineTuneEvent
from gesso.store.tenant_keys import TenantKeyring
from tests.store.finetune_jobs import add_job, job_row, tenant_id


@pytest.fixture()
def sessions(tmp_path):
    return open_database(database_url(tmp_path))


@pytest.fixture()
def disk(tmp_path):
    return LocalBlobStore(tmp_path / "blobs")


@pytest.fixture()
def blobs(sessions, disk, tmp_path):
    return SealedBlobStore(disk, TenantKeyring(sessions.kw["bind"], provider_from_file(tmp_path / "mk", create=True)))


def checkpoint_folder(root, step: int):
    folder = root / f"step-{step:07d}"
    folder.mkdir(parents=True)
    (folder / "adapter.safetensors").write_bytes(b"weights %d" % step)
    (folder / "trainer_state.json").write_text("{}")
    (folder / "meta.json").write_text(json.dumps({"step": step}))
    (folder / "samples.png").write_bytes(b"png")  # stored on its own, not with the checkpoint
    (folder / "trainer_state.pt").write_bytes(b"pickle")  # an older format's file never travels
    return folder


def store(sessions, blobs, tenant: str, job_id: str, folder, step: int) -> str:
    prefix = checkpoint_prefix(tenant, job_id, folder.name)
    upload_checkpoint(blobs, folder, prefix)
    with sessions.begin() as session:
        save_checkpoint_row(session, job_row(sessions, job_id), step, folder, 0.1, None, None, prefix)
    return prefix


def test_only_safetensors_and_json_travel_and_a_download_refuses_anything_else(blobs, tmp_path):
    prefix = checkpoint_prefix("t1", "job1", "step-0000004")
    upload_checkpoint(blobs, checkpoint_folder(tmp_path / "made", 4), prefix)
    assert sorted(key.rsplit("/", 1)[1] for key in blobs.keys(prefix)) == [
        "adapter.safetensors", "meta.json", "trainer_state.json"]
    fetched = download_checkpoint(blobs, prefix, tmp_path / "elsewhere")
    assert fetched == tmp_path / "elsewhere" / "step-0000004"
    assert (fetched / "adapter.safetensors").read_bytes() == b"weights 4"
    blobs.put(f"{prefix}/trainer_state.pt", b"pickle")
    with pytest.raises(ValueError, match="not safetensors or JSON"):
        download_checkpoint(blobs, prefix, tmp_path / "third")


def test_a_resume_takes_the_last_stored_checkpoint_wherever_it_runs(sessions, blobs, disk, tmp_path):
    acme = tenant_id(sessions, "acme")
    job_id = add_job(sessions, acme, "file", tmp_path)
    made = tmp_path / "worker-a" / "checkpoints"
    store(sessions, blobs, acme, job_id, checkpoint_folder(made, 4), 4)
    store(sessions, blobs, acme, job_id, checkpoint_folder(made, 8), 8)
    checkpoint_folder(made, 12)  # written on worker A, which died before it reached the store

    elsewhere = tmp_path / "worker-b" / "checkpoints"
    fetch_resume_point(sessions, blobs, job_row(sessions, job_id), elsewhere)
    assert [p.name for p in elsewhere.iterdir()] == ["step-0000008"]
    fetch_resume_point(sessions, blobs, job_row(sessions, job_id), made)
    assert [p.name for p in made.iterdir()] == ["step-0000008"]  # the same point on every machine

    # a stored blob altered in the bucket: refused by its seal, and the job starts over
    key = next(k for k in disk.keys(checkpoint_prefix(acme, job_id, "step-0000008")) if k.endswith("meta.json"))
    (tmp_path / "blobs" / key).write_bytes(b"GSB1" + b"\0" * 40)
    third = tmp_path / "worker-c" / "checkpoints"
    fetch_resume_point(sessions, blobs, job_row(sessions, job_id), third)
    assert not third.exists()
    with sessions() as session:
        assert session.scalars(select(FineTuneCheckpoint.blob_prefix).where(
            FineTuneCheckpoint.blob_prefix.is_not(None))).all() == []
        assert session.scalar(select(FineTuneEvent.message).where(FineTuneEvent.level == "warn")).startswith(
            "The checkpoint at step 8 could not be read")


def test_old_stored_checkpoints_are_pruned_to_the_newest(sessions, blobs, tmp_path):
    acme = tenant_id(sessions, "acme")
    job_id = add_job(sessions, acme, "file", tmp_path)
    prefixes = [store(sessions, blobs, acme, job_id, checkpoint_folder(tmp_path / "c", step), step)
                for step in (4, 8, 12)]
    with sessions.begin() as session:
        dropped = forget_stored_checkpoints(session, job_id, keep=2)
    assert dropped == prefixes[:1]
    with sessions() as session:
        kept = session.scalars(select(FineTuneCheckpoint.step).where(FineTuneCheckpoint.blob_prefix.is_not(None))
                               .order_by(FineTuneCheckpoint.step)).all()
    assert kept == [8, 12]
