"""The CLI's one shape for bad input: one line on stderr and exit code 2."""

from __future__ import annotations

import sys
from typing import NoReturn, Sequence

import typer

BAD_INPUT_EXIT = 2


def fail(message: str) -> NoReturn:
    """Write `error: <message>` on stderr and exit 2."""
    sys.stderr.write(f"error: {message}\n")
    raise typer.Exit(BAD_INPUT_EXIT)


def fail_with_problems(problems: Sequence[object]) -> NoReturn:
    """One line: how many problems, and the first (`gesso data validate DIR` lists them all)."""
    fail(f"{len(problems)} bad row(s); first: {problems[0]}")
