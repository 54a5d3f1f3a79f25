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
    engine: Annotated[
        Optional[str], typer.Option(help="Where the models run: embedded or ray (default GESSO_ENGINE, embedded).")
    ] = None,
) -> None:
    """Serve the OpenAI-compatible API; on first start, create a tenant and print its admin key."""
    from gesso.settings import get_settings

    update = {k: v for k, v in {"host": host, "port": port, "engine": engine}.items() if v is not None}
    if engine is not None and engine not in ("embedded", "ray"):
        fail(f"--engine must be embedded or ray, not {engine!r}")
    if no_worker:
        update["embedded_worker"] = False
    settings = get_settings().model_copy(update=update)
    if not 0 < settings.port < 65536:
        fail(f"port {settings.port} is out of range")
    from gesso.governance.ray_runtime import RayUnavailable
    from gesso.service.server import serve as run_server
    from gesso.store.startup_checks import StoreUnusable

    try:
        run_server(settings, typer.echo)
    except (StoreUnusable, RayUnavailable) as error:  # a bad store or cluster setting: one line, exit 2
        fail(str(error))
