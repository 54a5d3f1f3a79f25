"""`gesso provenance verify`: did this deployment make an image?"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gesso.cli.deployment_access import open_governance
from gesso.cli.errors import fail

NOT_MADE_HERE_EXIT = 1

provenance_app = typer.Typer(help="Provenance: say whether Gesso made an image.", no_args_is_help=True)


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
        fail(f"{file} is not a file")
    settings, sessions, governance, _ = open_governance()
    if file.stat().st_size > settings.max_body_bytes:
        fail(f"{file} is over the {settings.max_body_bytes} byte limit")

    def lookup(watermark_id: str):  # noqa: ANN202
        with sessions() as session:
            return find_origin(session, watermark_id)

    try:
        report = verify_image(
            file.read_bytes(), governance.identity().trust_anchors_pem, lookup,
            max_bytes=settings.max_body_bytes, max_pixels=settings.max_upload_pixels,
        )
    except ImageRejected as exc:
        fail(f"{file}: {exc}")
    typer.echo(json.dumps(asdict(report), indent=2))
    if not report.made_by_gesso or report.credentials == "tampered":
        raise typer.Exit(NOT_MADE_HERE_EXIT)
