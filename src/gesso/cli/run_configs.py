"""Read a committed YAML run config with command-line overrides; a bad file exits 2."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

from gesso.cli.errors import fail

Config = TypeVar("Config")


def load_config(path: Path, cls: type[Config], overrides: dict[str, Any]) -> Config:
    """`cls` from the YAML at `path`, with the non-None `overrides` applied."""
    from gesso.train.run_config import load_run_config

    if not path.is_file():
        fail(f"config file {path} not found")
    try:
        return load_run_config(path, cls, overrides)
    except (ValueError, TypeError) as exc:
        fail(str(exc))
