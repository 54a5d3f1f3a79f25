"""Job specs (which hold the prompt) sealed in the database with the tenant's data key.

ORM events on `Job` seal `spec_json` as it is written and open it as it is loaded, for sessions
whose factory carries a keyring (`enable_spec_sealing`); every caller keeps reading and writing
plain JSON. A prompt is then never on disk in clear (not in the row, the WAL or a free page), and
erasing the tenant's data key makes any leftover copy unreadable.
"""

from __future__ import annotations

import base64

from sqlalchemy import event, inspect
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.attributes import set_committed_value

from gesso.store.crypto_envelope import decrypt_blob, encrypt_blob
from gesso.store.tables import Job
from gesso.store.tenant_keys import TenantKeyring

SEALED_PREFIX = "gsb1:"
KEYRING_INFO = "gesso_keyring"


def enable_spec_sealing(sessions: sessionmaker[Session], keyring: TenantKeyring) -> None:
    """Sessions made by `sessions` from now on seal and open job specs with `keyring`."""
    sessions.kw.setdefault("info", {})[KEYRING_INFO] = keyring


def spec_blob_id(job_id: str) -> str:
    return f"jobs/{job_id}/spec"


def seal_spec(keyring: TenantKeyring, tenant_id: str, job_id: str, spec_json: str, connection=None) -> str:  # noqa: ANN001
    key = keyring.data_key(tenant_id, connection)
    sealed = encrypt_blob(key, spec_json.encode(), tenant_id=tenant_id, blob_id=spec_blob_id(job_id))
    return SEALED_PREFIX + base64.b64encode(sealed).decode()


def open_spec(keyring: TenantKeyring, tenant_id: str, job_id: str, stored: str, connection=None) -> str:  # noqa: ANN001
    """The plain spec JSON (unsealed values pass through); raises BlobUnreadable when shredded."""
    if not stored.startswith(SEALED_PREFIX):
        return stored
    sealed = base64.b64decode(stored[len(SEALED_PREFIX):])
    key = keyring.data_key(tenant_id, connection)
    return decrypt_blob(key, sealed, tenant_id=tenant_id, blob_id=spec_blob_id(job_id)).decode()


def _keyring(session: Session | None) -> TenantKeyring | None:
    return None if session is None else session.info.get(KEYRING_INFO)


def _seal_before_write(_mapper, connection, target: Job) -> None:  # noqa: ANN001
    keyring = _keyring(inspect(target).session)
    if keyring is None or target.spec_json is None or target.spec_json.startswith(SEALED_PREFIX):
        return
    if inspect(target).persistent and not inspect(target).attrs.spec_json.history.has_changes():
        return
    target._plain_spec_json = target.spec_json  # type: ignore[attr-defined]
    target.spec_json = seal_spec(keyring, target.tenant_id, target.id, target.spec_json, connection)


def _restore_after_write(_mapper, _connection, target: Job) -> None:  # noqa: ANN001
    plain = target.__dict__.pop("_plain_spec_json", None)
    if plain is not None:
        set_committed_value(target, "spec_json", plain)


def _open_on_load(target: Job, context) -> None:  # noqa: ANN001
    session = context.session if context is not None else inspect(target).session
    keyring = _keyring(session)
    stored = target.__dict__.get("spec_json")
    if keyring is None or not isinstance(stored, str) or not stored.startswith(SEALED_PREFIX):
        return
    plain = open_spec(keyring, target.tenant_id, target.id, stored, session.connection())
    set_committed_value(target, "spec_json", plain)


event.listen(Job, "before_insert", _seal_before_write)
event.listen(Job, "before_update", _seal_before_write)
event.listen(Job, "after_insert", _restore_after_write)
event.listen(Job, "after_update", _restore_after_write)
event.listen(Job, "load", _open_on_load)
event.listen(Job, "refresh", lambda target, context, _attrs: _open_on_load(target, context))
