"""`gesso worker`: run image and/or fine-tune workers without the HTTP API."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from gesso.cli.errors import fail


def worker(
    kind: Annotated[
        Optional[str], typer.Option(help="Which jobs to run: images, fine-tunes or all (default GESSO_WORKER_KIND, all).")
    ] = None,
    engine: Annotated[
        Optional[str], typer.Option(help="Where the models run: embedded or ray (default GESSO_ENGINE, embedded).")
    ] = None,
) -> None:
    """Run jobs from the shared database until SIGTERM/SIGINT (the running batch finishes or is
    handed back), beside `gesso serve --no-worker` replicas."""
    from gesso.settings import WORKER_KINDS, get_settings

    settings = get_settings()
    if kind is not None:
        if kind not in WORKER_KINDS:
            fail(f"--kind must be one of {', '.join(WORKER_KINDS)}, not {kind!r}")
        settings = settings.model_copy(update={"worker_kind": kind})
    if engine is not None:
        if engine not in ("embedded", "ray"):
            fail(f"--engine must be embedded or ray, not {engine!r}")
        settings = settings.model_copy(update={"engine": engine})
    from gesso.service.runtime.worker_process import run_worker_process
    from gesso.store.startup_checks import StoreUnusable

    try:
        status = run_worker_process(settings)
    except StoreUnusable as error:  # a bad database or object store setting: one line, exit 2
        fail(str(error))
    raise typer.Exit(status)
