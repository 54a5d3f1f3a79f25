"""The many-machines topology, started by the tests: one PostgreSQL database and one S3 prefix
(the session's servers), one shared keys folder, two API replicas (`gesso serve --no-worker`)
and two workers that run images and fine-tunes (`gesso worker --kind all`), each process with a
data folder of its own as if on a machine of its own. Started once for every module here."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import httpx
import openai
import pytest
from sqlalchemy.orm import Session, sessionmaker

from gesso.governance.api_keys import create_api_key
from gesso.governance.tenants import create_tenant, find_tenant
from gesso.store.database import open_database
from gesso.store.s3_blob_store import S3BlobStore, parse_blob_url
from tests.service.finetune_fixtures import FINETUNE_YAML
from tests.service.server_process import ServerProcess, WorkerProcess, install_test_model

LEASE_S = 5  # a killed worker's jobs are taken again this long after its last renewal


@dataclass
class Topology:
    replicas: list[ServerProcess]
    workers: list[WorkerProcess]
    database_url: str
    blob_url: str
    environment: dict[str, str]  # what every process of the deployment is given
    sessions: sessionmaker[Session]
    admin_key: str
    s3_client: object

    def sdk(self, replica: int, key: str | None = None) -> openai.OpenAI:
        return openai.OpenAI(base_url=f"{self.replicas[replica].url}/v1", api_key=key or self.admin_key,
                             max_retries=0, timeout=120)

    def http(self, replica: int, key: str | None = None) -> httpx.Client:
        return httpx.Client(base_url=self.replicas[replica].url, timeout=120,
                            headers={"Authorization": f"Bearer {key or self.admin_key}"})

    def make_key(self, tenant: str, role: str = "developer", images_per_day: int | None = None) -> str:
        with self.sessions.begin() as session:
            found = find_tenant(session, tenant) or create_tenant(session, tenant, images_per_day)
            _, secret = create_api_key(session, found.id, role)
        return secret

    def blobs(self) -> S3BlobStore:
        """The deployment's object store as it is (no decryption): what the bucket holds."""
        bucket, prefix = parse_blob_url(self.blob_url)
        return S3BlobStore(bucket, prefix, client=self.s3_client)

    def objects(self) -> dict[str, bytes]:
        """Every object under the deployment's prefix, read raw from the bucket."""
        bucket, prefix = parse_blob_url(self.blob_url)
        found = {}
        for page in self.s3_client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix + "/"):
            for item in page.get("Contents", []):
                found[item["Key"]] = self.s3_client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
        return found

    def cli(self, *arguments: str, root: Path) -> subprocess.CompletedProcess:
        """A `gesso` command run by an operator against the deployment."""
        env = {**os.environ, **self.environment, "GESSO_DATA_DIR": str(root / "cli-data")}
        return subprocess.run([sys.executable, "-m", "gesso.cli", *arguments], env=env, capture_output=True,
                              text=True, timeout=120)


@pytest.fixture(scope="package")
def topology(tiny_pipeline_dir, tmp_path_factory, postgres_server, seaweed_server) -> Iterator[Topology]:
    root = tmp_path_factory.mktemp("topology")
    models = root / "models"
    install_test_model(tiny_pipeline_dir, models)
    finetune_config = root / "finetune.yaml"  # trains in seconds (2-step samples, no bf16)
    finetune_config.write_text(FINETUNE_YAML)
    database_url, blob_url = postgres_server.create_database(), seaweed_server.blob_url()
    environment = {
        **seaweed_server.environment(),
        "GESSO_DATABASE_URL": database_url,
        "GESSO_BLOB_URL": blob_url,
        "GESSO_KEYS_DIR": str(root / "shared-keys"),  # as a volume every machine mounts
        "GESSO_DEFAULT_STEPS": "4",
        "GESSO_MAX_BATCH_IMAGES": "4",
        "GESSO_JOB_LEASE_S": str(LEASE_S),
        "GESSO_PREVIEW_EVERY_S": "0",
        "GESSO_SHUTDOWN_GRACE_S": "10",
        "GESSO_FINETUNE_CONFIG": str(finetune_config),
    }
    replicas, workers = [], []
    for name in ("replica-a", "replica-b"):
        (root / name).mkdir()
        replicas.append(ServerProcess(root / name, models, environment, arguments=("--no-worker",)))
    for name in ("worker-1", "worker-2"):
        (root / name).mkdir()
        workers.append(WorkerProcess(root / name, models, "all", environment))
    try:
        for process in [*replicas, *workers]:  # all at once: one migrates, one makes the keys
            process.launch()
        for process in [*replicas, *workers]:
            process.wait_ready()
        admin_keys = []
        for replica in replicas:
            lines = replica.printed_lines()
            admin_keys += [lines[i + 1] for i, line in enumerate(lines) if "admin API key" in line]
        assert len(admin_keys) == 1, "exactly one replica creates the first tenant"
        yield Topology(replicas, workers, database_url, blob_url, environment, open_database(database_url),
                       admin_keys[0], seaweed_server.client())
    finally:
        for process in [*replicas, *workers]:
            process.stop()


def wait_until(condition, timeout: float = 120.0, every: float = 0.1, what: str = "the condition"):  # noqa: ANN001, ANN201
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"{what} did not happen within {timeout:.0f} s")
