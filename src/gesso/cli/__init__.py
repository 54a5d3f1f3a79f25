"""`gesso ...` commands: thin wrappers over the layers; bad input exits 2 with one line.

One module per command group. Each imports only typer at module level and the layers it wraps
inside its commands, so `gesso --help` and the light commands never load torch or the database.
"""

from __future__ import annotations

import typer

from gesso.cli.audit import audit_app
from gesso.cli.data import data_app
from gesso.cli.evaluate import eval_cmd
from gesso.cli.finetune import finetune_app
from gesso.cli.generate import generate
from gesso.cli.keys import keys_app
from gesso.cli.process_exit import exit_without_teardown
from gesso.cli.provenance import provenance_app
from gesso.cli.retention import retention_app
from gesso.cli.serve import serve
from gesso.cli.tenants import tenants_app
from gesso.cli.train import train_app
from gesso.cli.worker import worker

app = typer.Typer(
    help="Gesso: in-house image generation.", no_args_is_help=True, add_completion=False
)
app.command()(generate)
app.command("eval")(eval_cmd)
app.command()(serve)
app.command()(worker)
app.add_typer(data_app, name="data")
app.add_typer(train_app, name="train")
app.add_typer(keys_app, name="keys")
app.add_typer(tenants_app, name="tenants")
app.add_typer(audit_app, name="audit")
app.add_typer(provenance_app, name="provenance")
app.add_typer(retention_app, name="retention")
app.add_typer(finetune_app, name="finetune")


def main() -> None:
    """The `gesso` script and `python -m gesso.cli`: run one command, then end the process
    without the interpreter's slow teardown of the model libraries (`process_exit`)."""
    try:
        app()
    except SystemExit as done:
        exit_without_teardown(done.code)
    exit_without_teardown(0)


__all__ = ["app", "main"]
