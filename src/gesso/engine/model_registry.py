"""Resolve a model name or folder to a pipeline directory in the diffusers layout."""

from __future__ import annotations

from pathlib import Path

MODEL_INDEX = "model_index.json"


class UnknownModel(LookupError):
    def __init__(self, name: str, known: list[str]):
        listing = ", ".join(known) or "none"
        super().__init__(f"unknown model {name!r} (known: {listing})")
        self.name = name


def shipped_models(models_dir: Path) -> list[str]:
    if not models_dir.is_dir():
        return []
    return sorted(p.name for p in models_dir.iterdir() if (p / MODEL_INDEX).is_file())


def resolve_model(name_or_path: str, models_dir: Path) -> Path:
    """A shipped model's name (`gesso-base`) or a path to a pipeline folder -> that folder.

    Raises UnknownModel when neither holds a `model_index.json`.
    """
    for path in (models_dir / name_or_path, Path(name_or_path)):
        if (path / MODEL_INDEX).is_file():
            return path
    raise UnknownModel(name_or_path, shipped_models(models_dir))
