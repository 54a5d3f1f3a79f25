"""`gesso tenants ...`: create a tenant, erase one."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from gesso.cli.deployment_access import open_governance, open_sessions
from gesso.cli.errors import fail

tenants_app = typer.Typer(help="Tenants: the unit of isolation for keys, jobs and images.", no_args_is_help=True)


@tenants_app.command("erase")
def erase_tenant_cmd(
    tenant: Annotated[str, typer.Argument(help="Tenant name or id.")],
    yes: Annotated[bool, typer.Option("--yes", help="Do it (erasure cannot be undone).")] = False,
) -> None:
    """Erase a tenant: destroy its data key, delete its rows, blobs and audit chain; one audit
    record in the deployment chain names what was removed."""
    from gesso.governance.erasure import UnknownTenant, erase_tenant

    if not yes:
        fail("erasure cannot be undone: add --yes")
    _, sessions, governance, blobs = open_governance()
    try:
        report = erase_tenant(sessions, blobs, governance.audit, tenant, "cli")
    except UnknownTenant as exc:
        fail(str(exc))
    rows = ", ".join(f"{table}={count}" for table, count in sorted(report.rows.items()))
    typer.echo(f"erased {report.tenant_id}: data key destroyed={report.data_key_destroyed}; rows {rows}")


@tenants_app.command("create")
def tenants_create(
    name: Annotated[str, typer.Argument(help="Tenant name: a-z, 0-9, '-', '_'.")],
    images_per_day: Annotated[Optional[int], typer.Option(help="Image quota per 24 hours.")] = None,
) -> None:
    """Create a tenant; prints its id."""
    from gesso.governance.audit_events import record_tenant_created
    from gesso.governance.deployment import open_audit_log
    from gesso.governance.tenants import create_tenant

    settings, sessions = open_sessions()
    try:
        with sessions.begin() as session:
            tenant = create_tenant(session, name, images_per_day)
    except ValueError as exc:
        fail(str(exc))
    record_tenant_created(open_audit_log(settings, sessions), tenant.id, "cli")
    typer.echo(tenant.id)
