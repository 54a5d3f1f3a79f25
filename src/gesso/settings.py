"""The one settings object, read once at start from `GESSO_*` variables (or a .env file)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[2]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GESSO_", env_file=".env", extra="ignore")

    data_dir: Path = Path("gesso-data")
    models_dir: Path = REPO_ROOT / "models"
    default_model: str = "gesso-base"
    device: str = "auto"  # auto | cpu | cuda
    max_images_per_request: int = 10
    max_steps: int = 100
    default_steps: int = 20
    default_guidance: float = 4.0
    default_sampler: str = "euler"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
