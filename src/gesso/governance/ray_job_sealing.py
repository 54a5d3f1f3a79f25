"""A fine-tune's files sealed under its tenant's data key in any process of a Ray cluster.

The object travels to Ray workers by pickling and carries only the settings and the job's names;
each process that uses it opens the tenant's data key itself (the database's wrapped key and the
master key the deployment mounts on every node, as for any worker), so no key material ever
enters Ray's object store, its logs or the checkpoints' bucket. Each file is sealed with the
blob envelope (AES-256-GCM) and bound to `<tenant>/fine_tunes/<job>/ray/<name>`.
"""

from __future__ import annotations

from gesso.settings import Settings
from gesso.store.blob_store import blob_key
from gesso.store.crypto_envelope import BlobUnreadable, decrypt_blob, encrypt_blob


class TenantFileSealing:
    """`FileSealing` (jobs/fine_tunes.py) for one job of one tenant."""

    def __init__(self, settings: Settings, tenant_id: str, job_id: str):
        self.settings = settings
        self.tenant_id = tenant_id
        self.job_id = job_id
        self._keyring = None  # opened in the process that uses it

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_keyring": None}

    def _blob_id(self, name: str) -> str:
        return blob_key(self.tenant_id, "fine_tunes", self.job_id, "ray", *name.split("/"))

    def _key(self) -> bytes:
        """Looked up at each use, like the keyring does, so a shredded key stops a running job too."""
        if self._keyring is None:
            from gesso.governance.deployment import keys_dir
            from gesso.store.database import database_url, make_engine
            from gesso.store.tenant_keys import TenantKeyring, open_key_provider

            engine = make_engine(database_url(self.settings.data_dir, self.settings.database_url))
            provider = open_key_provider(keys_dir(self.settings), self.settings.master_key_file)
            self._keyring = TenantKeyring(engine, provider)
        return self._keyring.data_key(self.tenant_id)

    def seal(self, name: str, data: bytes) -> bytes:
        return encrypt_blob(self._key(), data, tenant_id=self.tenant_id, blob_id=self._blob_id(name))

    def open(self, name: str, sealed: bytes) -> bytes:
        try:
            return decrypt_blob(self._key(), sealed, tenant_id=self.tenant_id, blob_id=self._blob_id(name))
        except BlobUnreadable as error:
            raise ValueError(str(error)) from None
