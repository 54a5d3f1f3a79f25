"""The models on disk: resolve a name or folder to a pipeline directory in the diffusers layout,
and read what it makes from its configs (no weights loaded)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from gesso.model.pipeline_gesso import sizes_from_configs

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


@dataclass(frozen=True)
class ModelTraits:
    """What a pipeline folder makes: its (width, height) sizes, and whether transparent images
    (an autoencoder with an alpha channel)."""

    sizes: list[tuple[int, int]]
    has_alpha: bool


def model_traits(models_dir: Path, name: str) -> ModelTraits:
    """What the registered model `name` makes, read from its component configs on disk (cheap
    enough for a request thread: no pipeline is loaded). Raises UnknownModel when `name` is not
    a registered model."""
    if name not in shipped_models(models_dir):
        raise UnknownModel(name, shipped_models(models_dir))
    return folder_traits(models_dir / name)


def folder_traits(folder: Path) -> ModelTraits:
    """What the pipeline folder `folder` makes, read from its component configs."""
    transformer, vae = (json.loads((folder / part / "config.json").read_text()) for part in ("transformer", "vae"))
    return ModelTraits(sizes_from_configs(transformer, vae), int(vae.get("in_channels", 3)) == 4)
