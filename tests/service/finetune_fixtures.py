"""A Gesso server for the fine-tuning tests: tiny model, a fine-tune config that trains in
seconds (2-step samples, no bf16), datasets as zip bytes, and helpers to wait for jobs."""

from __future__ import annotations

import io
import json
import time
import zipfile
from pathlib import Path

import openai

from gesso.governance.api_keys import create_api_key
from gesso.governance.tenants import create_tenant, find_tenant
from gesso.store.database import database_url, open_database
from tests.conftest import write_shape_dataset
from tests.service.server_process import ServerProcess

FINETUNE_YAML = """
n_epochs: 2
batch_size: 4
learning_rate: 0.005
learning_rate_multiplier: 1.0
rank: 4
alpha: 0
trigger: ""
seed: 0
caption_dropout: 0.1
checkpoint_every: 100
keep_checkpoints: 3
log_every: 1
sample_steps: 2
sample_guidance: 4.0
mixed_precision: "no"
validation_prompts: []
"""
FINISHED = ("succeeded", "failed", "cancelled")
SMALL_BODY_LIMIT = 4096
UPLOAD_LIMIT = 1024 * 1024


def start_finetune_server(root: Path, models_dir: Path) -> ServerProcess:
    root.mkdir(parents=True, exist_ok=True)
    config = root / "finetune.yaml"
    config.write_text(FINETUNE_YAML)
    # a body limit below a dataset's size: uploads pass only through their own, larger limit
    server = ServerProcess(root, models_dir, default_steps=3, finetune_config=config, max_batch_images=4,
                           max_body_bytes=SMALL_BODY_LIMIT, finetune_upload_max_bytes=UPLOAD_LIMIT)
    server.start()
    return server


def make_key(server: ServerProcess, tenant: str, role: str = "developer") -> str:
    sessions = open_database(database_url(server.data_dir))
    with sessions.begin() as session:
        found = find_tenant(session, tenant) or create_tenant(session, tenant)
        _, secret = create_api_key(session, found.id, role)
    return secret


def client(server: ServerProcess, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key=key, max_retries=0, timeout=60)


def dataset_zip(root: Path, rows: list[dict] | None = None, extra: dict[str, bytes] | None = None) -> bytes:
    """The 16-image shape dataset as a zip; `rows` replaces metadata.jsonl, `extra` adds members."""
    folder = write_shape_dataset(root)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(folder.iterdir()):
            if path.name != "metadata.jsonl":
                archive.write(path, path.name)
        metadata = (folder / "metadata.jsonl").read_text() if rows is None else "\n".join(
            json.dumps(row) for row in rows) + "\n"
        archive.writestr("metadata.jsonl", metadata)
        for name, data in (extra or {}).items():
            archive.writestr(name, data)
    return buffer.getvalue()


def wait_for_job(api: openai.OpenAI, job_id: str, statuses=FINISHED, timeout: float = 120.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = api.fine_tuning.jobs.retrieve(job_id)
        if job.status in statuses:
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} still {job.status} after {timeout}s")
