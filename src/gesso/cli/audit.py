"""`gesso audit verify` and `gesso audit export`. Exit 0: intact; 1: a chain was tampered with;
2: bad input."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from gesso.cli.deployment_access import open_sessions
from gesso.cli.errors import fail

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from gesso.governance.audit_verification import ChainReport

TAMPERED_EXIT = 1

audit_app = typer.Typer(help="Audit log: verify the hash chains, export them for a SIEM.", no_args_is_help=True)


def _chain_named(session: Session, tenant: str) -> str:
    """A tenant's chain by tenant name or id, or a stored chain by its name ("deployment")."""
    from gesso.governance.audit_log import stored_chains
    from gesso.governance.tenants import find_tenant

    found = find_tenant(session, tenant)
    if found is not None:
        return found.id
    if tenant in stored_chains(session):
        return tenant
    fail(f"no tenant or audit chain {tenant!r}")


@audit_app.command("verify")
def audit_verify(
    tenant: Annotated[Optional[str], typer.Option(help="Verify only this tenant's chain (name or id).")] = None,
    export: Annotated[Optional[Path], typer.Option(help="Verify an export file (JSONL or CSV) instead of the database.")] = None,
    public_key: Annotated[Optional[Path], typer.Option(help="Checkpoint public key PEM (default: data_dir/keys).")] = None,
) -> None:
    """Check every audit chain; name each altered, deleted, inserted or reordered record.

    Exit 0: intact. Exit 1: tampered. Exit 2: bad input.
    """
    from gesso.governance.audit_export import read_csv, read_jsonl
    from gesso.governance.audit_log import audit_public_key, verify_stored_chains
    from gesso.governance.audit_signing import load_public_key
    from gesso.governance.audit_verification import verify_chain
    from gesso.governance.deployment import keys_dir

    settings, sessions = open_sessions()
    try:
        key = load_public_key(public_key.read_bytes()) if public_key else audit_public_key(keys_dir(settings))
    except (OSError, ValueError) as exc:
        fail(f"no audit public key: {exc}")
    if export is not None:
        if not export.is_file():
            fail(f"{export} not found")
        try:
            with export.open() as handle:
                records = read_csv(handle) if export.suffix == ".csv" else read_jsonl(handle)
        except (ValueError, KeyError) as exc:
            fail(f"{export} is not an audit export: {exc}")
        results = [("export", verify_chain(records, [], key))]
    else:
        with sessions() as session:
            chain = None if tenant is None else _chain_named(session, tenant)
            results = [(v.chain, v.report) for v in verify_stored_chains(session, key, chain)]
    if not _print_reports(results):
        raise typer.Exit(TAMPERED_EXIT)


def _print_reports(results: list[tuple[str, ChainReport]]) -> bool:
    """One status line per chain and one line per problem; True when every chain is intact."""
    intact = True
    for chain_name, report in results:
        status = "ok" if report.ok else "TAMPERED"
        typer.echo(f"{chain_name}: {status} ({report.records_checked} records, "
                   f"{report.checkpoints_checked} checkpoints, signed up to seq {report.last_signed_seq})")
        for problem in report.problems:
            typer.echo(f"  {problem}")
        intact &= report.ok
    return intact


@audit_app.command("export")
def audit_export(
    format: Annotated[str, typer.Option("--format", help="jsonl or csv.")] = "jsonl",
    tenant: Annotated[Optional[str], typer.Option(help="Only this tenant's chain (name or id); default: every chain.")] = None,
    out: Annotated[Optional[Path], typer.Option(help="File to write (default: stdout).")] = None,
) -> None:
    """Write the audit chain(s) for a SIEM; each chain verifies on its own."""
    from gesso.governance.audit_export import export_csv, export_jsonl
    from gesso.governance.audit_log import chain_records, stored_chains

    if format not in ("jsonl", "csv"):
        fail("--format must be jsonl or csv")
    _, sessions = open_sessions()
    with sessions() as session:
        chains = [_chain_named(session, tenant)] if tenant is not None else stored_chains(session)
        records = [record for chain in chains for record in chain_records(session, chain)]
    handle = out.open("w", newline="") if out else sys.stdout
    try:
        count = (export_csv if format == "csv" else export_jsonl)(records, handle)
    finally:
        if out:
            handle.close()
    sys.stderr.write(f"{count} records\n")
