"""A fine-tune worker in a process of its own, for the tests that kill one (SIGKILL: no pause,
no hand-back, its lease simply stops being renewed).

`python -m tests.engine.finetune_worker_process '<json>'` with database_url, blob_url (S3; boto3
reads the AWS_* variables), master_key, models_dir, owner, work_root and lease_s; it prints
`ready` once its worker runs, then runs until killed.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from gesso.engine.finetune_worker import FineTuneWorker
from gesso.store.blob_store import open_blob_store
from gesso.store.database import open_database
from gesso.store.key_provider import provider_from_file
from gesso.store.sealed_blob_store import SealedBlobStore
from gesso.store.tenant_keys import TenantKeyring
from tests.store.finetune_jobs import make_queue


def main(settings: dict) -> None:
    sessions = open_database(settings["database_url"])
    keyring = TenantKeyring(sessions.kw["bind"], provider_from_file(Path(settings["master_key"])))
    work_root = Path(settings["work_root"])
    blobs = SealedBlobStore(open_blob_store(work_root, settings["blob_url"]), keyring)
    queue = make_queue(sessions, blobs, Path(settings["models_dir"]), settings["owner"], work_root,
                       lease_s=settings["lease_s"])
    worker = FineTuneWorker(queue, poll_seconds=0.1, heartbeat_s=settings["lease_s"] / 4)
    worker.start()
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    while True:
        time.sleep(1)


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
