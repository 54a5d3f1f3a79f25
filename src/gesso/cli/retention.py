"""`gesso retention sweep`: delete what tenants' retention settings say is due."""

from __future__ import annotations

import typer

from gesso.cli.deployment_access import open_governance

retention_app = typer.Typer(help="Retention: delete what tenants' retention settings say is due.", no_args_is_help=True)


@retention_app.command("sweep")
def retention_sweep() -> None:
    """Apply every tenant's retention now (the server also does this periodically)."""
    from gesso.governance.retention import sweep_retention

    _, sessions, governance, blobs = open_governance()
    result = sweep_retention(sessions, blobs, governance.audit)
    typer.echo(f"deleted {sum(result.images.values())} image(s) and {sum(result.jobs.values())} job(s) "
               f"in {len(set(result.images) | set(result.jobs))} tenant(s)")
