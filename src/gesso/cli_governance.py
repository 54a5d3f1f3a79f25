"""`gesso audit ...`, `gesso provenance verify`, `gesso retention sweep`, `gesso keys rotate-master`,
`gesso keys revoke`, `gesso tenants erase`. Thin over `governance`; bad input exits 2
with one line, a tampered audit log exits 1."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

audit_app = typer.Typer(help="Audit log: verify the hash chains, export them for a SIEM.", no_args_is_help=True)
provenance_app = typer.Typer(help="Provenance: say whether Gesso made an image.", no_args_is_help=True)
retention_app = typer.Typer(help="Retention: delete what tenants' retention settings say is due.", no_args_is_help=True)


def _fail(message: str):  # noqa: ANN202
    from gesso.cli import fail

    fail(message)


def _open():  # noqa: ANN202
    from gesso.settings import get_settings
    from gesso.store.database import database_url, open_database

    settings = get_settings()
    return settings, open_database(database_url(settings.data_dir, settings.database_url))


def _governance():  # noqa: ANN202
    from gesso.governance.deployment import open_governance
    from gesso.store.blob_store import open_blob_store

    settings, sessions = _open()
    try:
        governance = open_governance(settings, sessions)
    except ValueError as exc:
        _fail(f"master key: {exc}")
    return settings, sessions, governance, governance.seal(open_blob_store(settings.data_dir))


def _chain_named(session, tenant: str) -> str:  # noqa: ANN001
    """A tenant's chain by tenant name or id, or a stored chain by its name ("deployment")."""
    from gesso.governance.audit_log import stored_chains
    from gesso.governance.tenants import find_tenant

    found = find_tenant(session, tenant)
    if found is not None:
        return found.id
    if tenant in stored_chains(session):
        return tenant
    _fail(f"no tenant or audit chain {tenant!r}")


@audit_app.command("verify")
def audit_verify(
    tenant: Annotated[Optional[str], typer.Option(help="Verify only this tenant's chain (name or id).")] = None,
    export: Annotated[Optional[Path], typer.Option(help="Verify an export file (JSONL or CSV) instead of the database.")] = None,
    public_key: Annotated[Optional[Path], typer.Option(help="Checkpoint public key PEM (default: data_dir/keys).")] = None,
) -> None:
    """Check every audit chain; name each altered, deleted, inserted or reordered record.

    Exit 0: intact. Exit 1: tampered. Exit 2: bad input.
    """
    from gesso.governance.audit_chain import load_public_key, read_csv, read_jsonl, verify_chain
    from gesso.governance.audit_log import audit_public_key, verify_stored_chains
    from gesso.governance.deployment import keys_dir

    settings, sessions = _open()
    try:
        key = load_public_key(public_key.read_bytes()) if public_key else audit_public_key(keys_dir(settings))
    except (OSError, ValueError) as exc:
        _fail(f"no audit public key: {exc}")
    if export is not None:
        if not export.is_file():
            _fail(f"{export} not found")
        try:
            with export.open() as handle:
                records = read_csv(handle) if export.suffix == ".csv" else read_jsonl(handle)
        except (ValueError, KeyError) as exc:
            _fail(f"{export} is not an audit export: {exc}")
        results = [("export", verify_chain(records, [], key))]
    else:
        with sessions() as session:
            chain = None if tenant is None else _chain_named(session, tenant)
            results = [(v.chain, v.report) for v in verify_stored_chains(session, key, chain)]
    tampered = False
    for chain_name, report in results:
        status = "ok" if report.ok else "TAMPERED"
        typer.echo(f"{chain_name}: {status} ({report.records_checked} records, "
                   f"{report.checkpoints_checked} checkpoints, signed up to seq {report.last_signed_seq})")
        for problem in report.problems:
            typer.echo(f"  {problem}")
        tampered |= not report.ok
    if tampered:
        raise typer.Exit(1)


@audit_app.command("export")
def audit_export(
    format: Annotated[str, typer.Option("--format", help="jsonl or csv.")] = "jsonl",
    tenant: Annotated[Optional[str], typer.Option(help="Only this tenant's chain (name or id); default: every chain.")] = None,
    out: Annotated[Optional[Path], typer.Option(help="File to write (default: stdout).")] = None,
) -> None:
    """Write the audit chain(s) for a SIEM; each chain verifies on its own."""
    from gesso.governance.audit_chain import export_csv, export_jsonl
    from gesso.governance.audit_log import chain_records, stored_chains

    if format not in ("jsonl", "csv"):
        _fail("--format must be jsonl or csv")
    _, sessions = _open()
    with sessions() as session:
        if tenant is not None:
            chains = [_chain_named(session, tenant)]
        else:
            chains = stored_chains(session)
        records = [record for chain in chains for record in chain_records(session, chain)]
    handle = out.open("w", newline="") if out else sys.stdout
    try:
        count = (export_csv if format == "csv" else export_jsonl)(records, handle)
    finally:
        if out:
            handle.close()
    sys.stderr.write(f"{count} records\n")


@provenance_app.command("verify")
def provenance_verify(file: Annotated[Path, typer.Argument(help="Image file (PNG, JPEG, WebP).")]) -> None:
    """Did this deployment make the image: which model, tenant, time; are its credentials intact,
    re-encoded, stripped, or foreign? Prints JSON. Exit 0: made here; 1: not made here, or its
    credentials are broken; 2: not a readable image within the deployment's limits."""
    import json
    from dataclasses import asdict

    from gesso.data.image_decoding import ImageRejected
    from gesso.governance.delivery_stamping import find_origin
    from gesso.governance.provenance import verify_image

    if not file.is_file():
        _fail(f"{file} is not a file")
    settings, sessions, governance, _ = _governance()
    if file.stat().st_size > settings.max_body_bytes:
        _fail(f"{file} is over the {settings.max_body_bytes} byte limit")

    def lookup(watermark_id: str):  # noqa: ANN202
        with sessions() as session:
            return find_origin(session, watermark_id)

    try:
        report = verify_image(
            file.read_bytes(), governance.identity().trust_anchors_pem, lookup,
            max_bytes=settings.max_body_bytes, max_pixels=settings.max_upload_pixels,
        )
    except ImageRejected as exc:
        _fail(f"{file}: {exc}")
    typer.echo(json.dumps(asdict(report), indent=2))
    if not report.made_by_gesso or report.credentials == "tampered":
        raise typer.Exit(1)


@retention_app.command("sweep")
def retention_sweep() -> None:
    """Apply every tenant's retention now (the server also does this periodically)."""
    from gesso.governance.retention import sweep_retention

    _, sessions, governance, blobs = _governance()
    result = sweep_retention(sessions, blobs, governance.audit)
    typer.echo(f"deleted {sum(result.images.values())} image(s) and {sum(result.jobs.values())} job(s) "
               f"in {len(set(result.images) | set(result.jobs))} tenant(s)")


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

    settings, sessions = _open()
    engine = sessions.kw["bind"]
    if os.environ.get(MASTER_KEY_ENV, "").strip():
        # the environment cannot be rewritten from here: the operator puts "new,old" in it
        try:
            provider = provider_from_env()
        except ValueError as exc:
            _fail(f"{MASTER_KEY_ENV}: {exc}")
        count = rewrap_all(engine, provider, provider)
        typer.echo(f"re-wrapped {count} data key(s) under {provider.current_key_id} (the first key in "
                   f"{MASTER_KEY_ENV}); remove the old key from {MASTER_KEY_ENV} now")
    else:
        path = master_key_path(keys_dir(settings), settings.master_key_file)
        if not path.is_file():
            _fail(f"no master key file {path} (start the server once, or set {MASTER_KEY_ENV})")
        try:
            old = LocalKeyProvider(read_master_key_file(path))
        except ValueError as exc:
            _fail(f"{path}: {exc}")
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


def revoke_key(key_id: Annotated[str, typer.Argument(help="The key's id (key_...).")]) -> None:
    """Revoke an API key; it stops working at once."""
    from gesso.governance.api_keys import revoke_api_key
    from gesso.governance.audit_events import record_key_revoked
    from gesso.governance.deployment import open_audit_log
    from gesso.store.tables import ApiKey

    settings, sessions = _open()
    with sessions.begin() as session:
        key = session.get(ApiKey, key_id)
        if key is None or not revoke_api_key(session, key_id):
            _fail(f"no active key {key_id!r}")
        tenant_id = key.tenant_id
    record_key_revoked(open_audit_log(settings, sessions), tenant_id, "cli", key_id)
    typer.echo(f"revoked {key_id}")


def erase_tenant_cmd(
    tenant: Annotated[str, typer.Argument(help="Tenant name or id.")],
    yes: Annotated[bool, typer.Option("--yes", help="Do it (erasure cannot be undone).")] = False,
) -> None:
    """Erase a tenant: destroy its data key, delete its rows, blobs and audit chain; one audit
    record in the deployment chain names what was removed."""
    from gesso.governance.erasure import UnknownTenant, erase_tenant

    if not yes:
        _fail("erasure cannot be undone: add --yes")
    _, sessions, governance, blobs = _governance()
    try:
        report = erase_tenant(sessions, blobs, governance.audit, tenant, "cli")
    except UnknownTenant as exc:
        _fail(str(exc))
    rows = ", ".join(f"{table}={count}" for table, count in sorted(report.rows.items()))
    typer.echo(f"erased {report.tenant_id}: data key destroyed={report.data_key_destroyed}; rows {rows}")


def record_cli_event(kind: str, tenant_id: str, target: str, **details: str) -> None:
    """Audit a tenant or key that a CLI command made."""
    from gesso.governance.audit_events import record_key_created, record_tenant_created
    from gesso.governance.deployment import open_audit_log

    settings, sessions = _open()
    audit = open_audit_log(settings, sessions)
    if kind == "tenant":
        record_tenant_created(audit, tenant_id, "cli")
    else:
        record_key_created(audit, tenant_id, "cli", target, details.get("role", ""))


def register_governance_commands(app: typer.Typer, keys_app: typer.Typer, tenants_app: typer.Typer) -> None:
    app.add_typer(audit_app, name="audit")
    app.add_typer(provenance_app, name="provenance")
    app.add_typer(retention_app, name="retention")
    keys_app.command("rotate-master")(rotate_master)
    keys_app.command("revoke")(revoke_key)
    tenants_app.command("erase")(erase_tenant_cmd)
