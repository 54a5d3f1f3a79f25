"""`gesso serve`: the OpenAI-compatible API server."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from gesso.cli.errors import fail


def serve(
    host: Annotated[Optional[str], typer.Option(help="Address to listen on.")] = None,
    port: Annotated[Optional[int], typer.Option(help="Port to listen on.")] = None,
) -> None:
    """Serve the OpenAI-compatible API; on first start, create a tenant and print its admin key."""
    from gesso.settings import get_settings

    settings = get_settings().model_copy(
        update={k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    )
    if not 0 < settings.port < 65536:
        fail(f"port {settings.port} is out of range")
    from gesso.service.server import serve as run_server

    run_server(settings, typer.echo)
