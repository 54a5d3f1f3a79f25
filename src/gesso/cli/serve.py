"""`gesso serve`: the OpenAI-compatible API server."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from gesso.cli.errors import fail


def serve(
    host: Annotated[Optional[str], typer.Option(help="Address to listen on.")] = None,
    port: Annotated[Optional[int], typer.Option(help="Port to listen on.")] = None,
    no_worker: Annotated[
        bool, typer.Option("--no-worker", help="Serve the API only; `gesso worker` processes run the jobs.")
    ] = False,
) -> None:
    """Serve the OpenAI-compatible API; on first start, create a tenant and print its admin key."""
    from gesso.settings import get_settings

    update = {k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    if no_worker:
        update["embedded_worker"] = False
    settings = get_settings().model_copy(update=update)
    if not 0 < settings.port < 65536:
        fail(f"port {settings.port} is out of range")
    from gesso.service.server import serve as run_server
    from gesso.store.startup_checks import StoreUnusable

    try:
        run_server(settings, typer.echo)
    except StoreUnusable as error:  # a bad database or object store setting: one line, exit 2
        fail(str(error))
