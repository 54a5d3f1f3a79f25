"""`gesso --help` and the help of every command load none of the heavy libraries: each command
imports what it wraps only when it runs."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = (
    "torch", "diffusers", "transformers", "peft", "sqlalchemy", "fastapi", "uvicorn", "cryptography"
)

PROBE = """
import json, sys
{prelude}
from typer.testing import CliRunner
from gesso.cli import app
runner = CliRunner()
for command in ({commands}):
    assert runner.invoke(app, [*command, "--help"]).exit_code == 0, command
print(json.dumps(sorted(m for m in {heavy} if m in sys.modules)))
"""


def loaded_after(commands: list[list[str]], prelude: str = "") -> list[str]:
    """The heavy libraries loaded once `gesso COMMAND --help` ran for each command (one process)."""
    listed = ", ".join(repr(c) for c in commands) + ","
    code = PROBE.format(prelude=prelude, commands=listed, heavy=repr(HEAVY))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_help_of_every_command_loads_no_heavy_library():
    commands = [
        [], ["generate"], ["eval"], ["serve"], ["audit", "verify"], ["audit", "export"],
        ["provenance", "verify"], ["keys", "create"], ["tenants", "erase"], ["train", "base"],
        ["train", "autoencoder"], ["train", "carry"],
        ["finetune", "create"], ["data", "validate"], ["retention", "sweep"],
    ]
    assert loaded_after(commands) == []


def test_the_probe_sees_a_heavy_import():
    """The check above can fail: a library loaded before the commands run is reported."""
    assert loaded_after([["audit", "verify"]], prelude="import sqlalchemy") == ["sqlalchemy"]
