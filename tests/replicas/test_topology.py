"""Two API replicas and two workers on one PostgreSQL database and one S3 prefix serve the
official openai SDK as one embedded server does, whichever replica a request reaches; killed
processes lose and duplicate nothing; quotas and idempotency hold across replicas; the bucket
holds only ciphertext; erasing a tenant leaves none of its objects."""

from __future__ import annotations

import base64
import io
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import openai
from PIL import Image
from sqlalchemy import select, update

from gesso.store.tables import ImageRecord, Job, Tenant
from tests.conftest import png_bytes
from tests.replicas.conftest import Topology, wait_until
from tests.service.conftest import mask_bytes
from tests.service.finetune_fixtures import dataset_zip

MARKER = "ultramarine-quokka-7391"  # in every prompt: never to be found in the bucket in clear
UPLOAD = png_bytes((32, 32), (12, 200, 97))
ELSEWHERE = "another-machine:1:alive"  # the lease owner of a worker this test does not control


def decode(b64: str) -> Image.Image:
    image = Image.open(io.BytesIO(base64.b64decode(b64)))
    image.load()
    return image


def tenant_id_of(topology: Topology, name: str) -> str:
    with topology.sessions() as session:
        return session.scalar(select(Tenant.id).where(Tenant.name == name))


def statuses(topology: Topology, job_ids: list[str]) -> dict[str, str]:
    with topology.sessions() as session:
        return dict(session.execute(select(Job.id, Job.status).where(Job.id.in_(job_ids))).all())


def test_any_replica_answers_any_request(topology: Topology, tmp_path):
    a, b = topology.sdk(0), topology.sdk(1)
    generated = a.images.generate(prompt=f"{MARKER} a red circle", n=2)
    assert [decode(item.b64_json).size for item in generated.data] == [(256, 256), (256, 256)]

    by_url = b.images.generate(prompt=f"{MARKER} a green square", response_format="url")
    url = by_url.data[0].url
    assert url.startswith(topology.replicas[1].url)
    fetched = httpx.get(url.replace(topology.replicas[1].url, topology.replicas[0].url))  # the OTHER replica
    assert fetched.status_code == 200 and fetched.headers["content-type"] == "image/png"

    # a worker in another process runs it: its previews come to this replica through the database
    events = list(a.images.generate(prompt=f"{MARKER} a purple circle", stream=True, partial_images=2, n=2,
                                    extra_body={"steps": 6}))
    partial = [e for e in events if e.type == "image_generation.partial_image"]
    completed = [e for e in events if e.type == "image_generation.completed"]
    assert len(completed) == 2 and len(partial) == 4  # 2 previews of each of 2 images, each once
    assert {(e.image_index, e.partial_image_index) for e in partial} == {(0, 0), (0, 1), (1, 0), (1, 1)}
    assert events.index(completed[0]) > max(events.index(e) for e in partial)
    assert decode(partial[0].b64_json).size == (32, 32)

    edited = b.images.edit(image=("photo.png", UPLOAD, "image/png"), mask=("mask.png", mask_bytes(), "image/png"),
                           prompt=f"{MARKER} a yellow circle")
    assert decode(edited.data[0].b64_json).size == (256, 256)

    with topology.http(0) as replica_a, topology.http(1) as replica_b:
        queued = replica_a.post("/v1/images/generations", json={"prompt": f"{MARKER} later", "background": True})
        assert queued.status_code == 202
        job = wait_until(lambda: (lambda body: body if body["status"] == "succeeded" else None)(
            replica_b.get(f"/v1/images/jobs/{queued.json()['id']}").json()), what="the background job")
        assert job["result"]["data"][0]["b64_json"]

        dataset = dataset_zip(tmp_path / "dataset")
        upload = a.files.create(file=("shapes.zip", dataset, "application/zip"), purpose="fine-tune")
        assert b.files.retrieve(upload.id).id == upload.id
        assert upload.id in [item.id for item in b.files.list().data]
        assert replica_b.get(f"/v1/files/{upload.id}/content").content == dataset
        b.files.delete(upload.id)
        assert replica_a.get(f"/v1/files/{upload.id}").status_code == 404

        for replica, client in zip(topology.replicas, (replica_a, replica_b), strict=True):  # the console, signed in anywhere
            assert "<title>Gesso console</title>" in httpx.get(f"{replica.url}/").text
            assert client.get("/v1/me").json()["tenant"]["name"] == "default"
            # an API-only replica is ready without a model of its own
            assert httpx.get(f"{replica.url}/readyz").json() == {"status": "ready", "checks": {"database": True}}


def test_quota_and_idempotency_hold_across_replicas(topology: Topology):
    limited = topology.make_key("quota-tenant", images_per_day=4)

    def submit(i: int) -> httpx.Response:
        with topology.http(i % 2, limited) as client:
            return client.post("/v1/images/generations", json={"prompt": f"{MARKER} q{i}", "background": True})

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(submit, range(8)))
    assert sorted(r.status_code for r in answers) == [202] * 4 + [429] * 4, [r.text for r in answers]
    assert {r.json()["error"]["code"] for r in answers if r.status_code == 429} == {"insufficient_quota"}

    key = topology.make_key("idempotent-tenant")

    def repeat(i: int) -> httpx.Response:
        with topology.http(i % 2, key) as client:
            return client.post("/v1/images/generations", json={"prompt": f"{MARKER} once", "background": True},
                               headers={"Idempotency-Key": "the-same-request"})

    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(repeat, range(6)))
    assert {r.status_code for r in answers} == {202}, [r.text for r in answers]
    assert len({r.json()["id"] for r in answers}) == 1  # every replica answers the first job


def test_killed_worker_and_replica_lose_and_duplicate_nothing(topology: Topology):
    key = topology.make_key("crash-tenant")
    tenant_id = tenant_id_of(topology, "crash-tenant")
    with topology.http(1, key) as client:
        held = client.post("/v1/images/generations", json={"prompt": f"{MARKER} held"}).headers["x-gesso-job-id"]
    with topology.sessions.begin() as session:  # as if a live worker elsewhere ran it: no start or claim takes it
        session.execute(update(Job).where(Job.id == held).values(
            status="running", lease_owner=ELSEWHERE, lease_expires_at=time.time() + 3600))

    accepted = []
    for i in range(8):
        with topology.http(i % 2, key) as client:
            answer = client.post("/v1/images/generations",
                                 json={"prompt": f"{MARKER} slow {i}", "n": 2, "steps": 60, "background": True})
            assert answer.status_code == 202, answer.text
            accepted.append(answer.json()["id"])

    def running_owner() -> str | None:
        with topology.sessions() as session:
            return session.scalar(select(Job.lease_owner).where(
                Job.tenant_id == tenant_id, Job.status == "running", Job.lease_owner != ELSEWHERE))

    owner = wait_until(running_owner, what="a worker running a job")
    victim = next(worker for worker in topology.workers if worker.pid == int(owner.split(":")[1]))
    victim.kill()  # mid-batch
    with topology.sessions() as session:
        cut_short = set(session.scalars(select(Job.id).where(Job.lease_owner == owner, Job.status == "running")))

    cut: dict[str, Exception] = {}

    def wait_on_replica_a() -> None:
        try:
            topology.sdk(0, key).images.generate(prompt=f"{MARKER} cut", extra_body={"steps": 60},
                                                 extra_headers={"Idempotency-Key": "cut-request"})
        except openai.APIConnectionError as error:
            cut["error"] = error

    waiting = threading.Thread(target=wait_on_replica_a)
    waiting.start()

    def cut_job() -> str | None:
        with topology.sessions() as session:
            return session.scalar(select(Job.id).where(Job.tenant_id == tenant_id, Job.idempotency_key == "cut-request"))

    sync_job = wait_until(cut_job, what="the synchronous request's job")
    topology.replicas[0].kill()  # mid-request: its client waits on an accepted job
    waiting.join(30)
    assert "error" in cut
    topology.replicas[0].start()
    victim.launch()
    victim.wait_ready()

    retried = topology.sdk(1, key).images.with_raw_response.generate(
        prompt=f"{MARKER} cut", extra_body={"steps": 60}, extra_headers={"Idempotency-Key": "cut-request"})
    assert retried.headers["x-gesso-job-id"] == sync_job and len(retried.parse().data) == 1

    everything = [*accepted, sync_job]
    wait_until(lambda: set(statuses(topology, everything).values()) == {"succeeded"}, timeout=180,
               what="every accepted job finishing")
    with topology.sessions() as session:
        jobs = {job.id: job for job in session.scalars(select(Job).where(Job.id.in_(everything)))}
        images = list(session.scalars(select(ImageRecord).where(ImageRecord.job_id.in_(everything))))
        still_held = session.get(Job, held)
    stored = set(topology.blobs().keys(f"{tenant_id}/images"))
    for job_id, job in jobs.items():
        own = [image for image in images if image.job_id == job_id]
        assert sorted(image.index for image in own) == list(range(job.n)), job_id  # one set, no doubles
        assert {key for key in stored if key.split("/")[2] == job_id} == {image.blob_key for image in own}, job_id
    for job_id in cut_short:
        assert jobs[job_id].attempts == 2, (job_id, jobs[job_id].attempts)  # re-run once, by the other worker
    assert (still_held.status, still_held.lease_owner) == ("running", ELSEWHERE)  # untouched: its lease holds
    with topology.sessions.begin() as session:
        session.execute(update(Job).where(Job.id == held).values(status="succeeded", lease_owner=None,
                                                                  lease_expires_at=None))


def test_a_worker_stops_gracefully_on_sigterm(topology: Topology):
    key = topology.make_key("graceful-tenant")
    tenant_id = tenant_id_of(topology, "graceful-tenant")
    accepted = []
    with topology.http(0, key) as client:
        for i in range(3):
            answer = client.post("/v1/images/generations",
                                 json={"prompt": f"{MARKER} g{i}", "n": 2, "steps": 60, "background": True})
            accepted.append(answer.json()["id"])

    def running_owner() -> str | None:
        with topology.sessions() as session:
            return session.scalar(select(Job.lease_owner).where(Job.tenant_id == tenant_id, Job.status == "running"))

    owner = wait_until(running_owner, what="a worker running a job")
    worker = next(w for w in topology.workers if w.pid == int(owner.split(":")[1]))
    assert worker.terminate() == 0
    assert '"worker stopped"' in worker.log()
    worker.launch()
    worker.wait_ready()
    wait_until(lambda: set(statuses(topology, accepted).values()) == {"succeeded"}, what="the jobs finishing")
    with topology.sessions() as session:
        attempts = list(session.scalars(select(Job.attempts).where(Job.id.in_(accepted))))
    assert attempts == [1, 1, 1]  # finished in the grace period, or handed back uncounted


def test_tenant_erasure_leaves_no_object_of_the_tenant(topology: Topology, tmp_path):
    key = topology.make_key("erasable-tenant")
    tenant_id = tenant_id_of(topology, "erasable-tenant")
    list(topology.sdk(1, key).images.generate(prompt=f"{MARKER} to erase", stream=True, partial_images=1))
    topology.sdk(0, key).images.edit(image=("in.png", UPLOAD, "image/png"), prompt=f"{MARKER} to erase too")
    topology.sdk(1, key).files.create(file=("d.zip", dataset_zip(tmp_path / "d"), "application/zip"),
                                      purpose="fine-tune")
    kinds = {name.split("/")[1] for name in topology.blobs().keys(tenant_id)}
    assert {"images", "previews", "uploads"} <= kinds, kinds
    erased = topology.cli("tenants", "erase", "erasable-tenant", "--yes", root=tmp_path)
    assert erased.returncode == 0, erased.stderr[-2000:]
    assert list(topology.blobs().keys(tenant_id)) == []


def test_audit_chains_written_by_every_process_verify_clean(topology: Topology, tmp_path):
    verified = topology.cli("audit", "verify", root=tmp_path)
    assert verified.returncode == 0, verified.stdout[-3000:] + verified.stderr[-2000:]
    assert "TAMPERED" not in verified.stdout


def test_the_bucket_holds_only_ciphertext(topology: Topology, tmp_path):
    objects = topology.objects()
    assert len(objects) > 10
    captions = b"flat style"  # in the metadata of every uploaded dataset
    for name, data in objects.items():
        assert MARKER not in name
        assert b"\x89PNG" not in data, name  # no image: generated, preview, upload or dataset member
        assert MARKER.encode() not in data and captions not in data, name
        assert UPLOAD not in data, name
