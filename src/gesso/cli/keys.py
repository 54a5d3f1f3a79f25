"""`gesso keys ...`: create and revoke API keys, rotate the master key."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from gesso.cli.deployment_access import open_sessions
from gesso.cli.errors import fail

keys_app = typer.Typer(help="API keys: create them (the secret is shown once).", no_args_is_help=True)


@keys_app.command("rotate-master")
def rotate_master() -> None:
    """Put a new master key first and re-wrap every tenant's data key under it (blobs untouched);
    the old key is then dropped from the key file."""
    import os

    from gesso.governance.audit_events import MASTER_KEY_ROTATED
    from gesso.governance.deployment import keys_dir, open_audit_log
    from gesso.store.key_provider import (
        MASTER_KEY_ENV,
        LocalKeyProvider,
        provider_from_env,
        read_master_key_file,
        rotated_key_file,
        write_master_key_file,
    )
    from gesso.store.tenant_keys import master_key_path, rewrap_all

    settings, sessions = open_sessions()
    engine = sessions.kw["bind"]
    if os.environ.get(MASTER_KEY_ENV, "").strip():
        # the environment cannot be rewritten from here: the operator puts "new,old" in it
        try:
            provider = provider_from_env()
        except ValueError as exc:
            fail(f"{MASTER_KEY_ENV}: {exc}")
        count = rewrap_all(engine, provider, provider)
        typer.echo(f"re-wrapped {count} data key(s) under {provider.current_key_id} (the first key in "
                   f"{MASTER_KEY_ENV}); remove the old key from {MASTER_KEY_ENV} now")
    else:
        path = master_key_path(keys_dir(settings), settings.master_key_file)
        if not path.is_file():
            fail(f"no master key file {path} (start the server once, or set {MASTER_KEY_ENV})")
        try:
            old = LocalKeyProvider(read_master_key_file(path))
        except ValueError as exc:
            fail(f"{path}: {exc}")
        new_key = rotated_key_file(path)
        both = LocalKeyProvider(read_master_key_file(path))
        count = rewrap_all(engine, old, both)
        write_master_key_file(path, [new_key])  # every data key now opens under the new key alone
        provider = LocalKeyProvider([new_key])
        typer.echo(f"re-wrapped {count} data key(s) under {provider.current_key_id}; old key removed from {path}")
    open_audit_log(settings, sessions).append(
        tenant=None, actor="cli", action=MASTER_KEY_ROTATED, target=provider.current_key_id,
        details={"data_keys": count},
    )


@keys_app.command("revoke")
def revoke_key(key_id: Annotated[str, typer.Argument(help="The key's id (key_...).")]) -> None:
    """Revoke an API key; it stops working at once."""
    from gesso.governance.api_keys import revoke_api_key
    from gesso.governance.audit_events import record_key_revoked
    from gesso.governance.deployment import open_audit_log
    from gesso.store.tables import ApiKey

    settings, sessions = open_sessions()
    with sessions.begin() as session:
        key = session.get(ApiKey, key_id)
        if key is None or not revoke_api_key(session, key_id):
            fail(f"no active key {key_id!r}")
        tenant_id = key.tenant_id
    record_key_revoked(open_audit_log(settings, sessions), tenant_id, "cli", key_id)
    typer.echo(f"revoked {key_id}")


@keys_app.command("create")
def keys_create(
    tenant: Annotated[str, typer.Option(help="Tenant name or id.")],
    role: Annotated[str, typer.Option(help="admin, developer, viewer or auditor.")],
    name: Annotated[str, typer.Option(help="A label for the key.")] = "",
    rate_limit: Annotated[Optional[int], typer.Option(help="Requests per minute for this key.")] = None,
) -> None:
    """Create an API key and print its secret (shown only this once; only a hash is kept)."""
    from gesso.governance.api_keys import issue_key_for_tenant
    from gesso.governance.audit_events import record_key_created
    from gesso.governance.deployment import open_audit_log

    settings, sessions = open_sessions()
    try:
        key, secret = issue_key_for_tenant(sessions, tenant, role, name=name, rate_limit_per_minute=rate_limit)
    except ValueError as exc:
        fail(str(exc))
    record_key_created(open_audit_log(settings, sessions), key.tenant_id, "cli", key.id, key.role)
    typer.echo(secret)
