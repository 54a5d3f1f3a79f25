"""`gesso train ...`: the autoencoder, base denoiser and recogniser from committed configs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Callable, Optional

import typer

from gesso.cli.errors import fail
from gesso.cli.run_configs import load_config

train_app = typer.Typer(help="Training: autoencoder, base denoiser, recogniser.", no_args_is_help=True)

ConfigFile = Annotated[Path, typer.Option(help="YAML run config.")]
MaxSteps = Annotated[Optional[int], typer.Option(help="Override max_steps.")]
OutDir = Annotated[Optional[str], typer.Option(help="Override out_dir.")]
DataDir = Annotated[Optional[str], typer.Option(help="Override data_dir (the dataset folder).")]
Threads = Annotated[Optional[int], typer.Option(min=1, max=256, help="Torch CPU threads (default: all cores).")]


StageRun = Callable[[Path, dict[str, Any]], object]


def _stage_command(name: str, default_config: str, doc: str, run: StageRun) -> None:
    """Register `gesso train NAME`: a config with max_steps/out_dir/data_dir overrides; prints
    what `run(config, overrides)` returns."""

    def command(
        config: ConfigFile = Path(default_config),
        max_steps: MaxSteps = None,
        out_dir: OutDir = None,
        data_dir: DataDir = None,
        threads: Threads = None,
    ) -> None:
        if threads is not None:
            import torch

            torch.set_num_threads(threads)
        typer.echo(str(run(config, {"max_steps": max_steps, "out_dir": out_dir, "data_dir": data_dir})))

    command.__doc__ = doc
    train_app.command(name)(command)


def _train_autoencoder(config: Path, overrides: dict[str, Any]) -> Path:
    from gesso.train.autoencoder_loop import train_autoencoder
    from gesso.train.run_config import AutoencoderRunConfig

    return train_autoencoder(load_config(config, AutoencoderRunConfig, overrides))


def _train_recogniser(config: Path, overrides: dict[str, Any]) -> Path:
    from gesso.train.recogniser_loop import train_recogniser
    from gesso.train.run_config import RecogniserRunConfig

    return train_recogniser(load_config(config, RecogniserRunConfig, overrides))


_stage_command("autoencoder", "configs/autoencoder.yaml",
               "Train (or resume) the autoencoder from a committed config.", _train_autoencoder)


@train_app.command("base")
def train_base_cmd(
    config: ConfigFile = Path("configs/base.yaml"),
    max_steps: MaxSteps = None,
    out_dir: OutDir = None,
    init_from: Annotated[Optional[str], typer.Option(help="Override init_from (a pipeline folder).")] = None,
) -> None:
    """Train (or resume) the base denoiser from a committed config; prints the pipeline folder."""
    from gesso.train.base_loop import WarmStartError, train_base
    from gesso.train.run_config import BaseRunConfig

    cfg = load_config(config, BaseRunConfig, {"max_steps": max_steps, "out_dir": out_dir, "init_from": init_from})
    try:
        typer.echo(str(train_base(cfg)))
    except WarmStartError as exc:
        fail(str(exc))


_stage_command("recogniser", "configs/recogniser.yaml",
               "Train the independent recogniser that `gesso eval` uses.", _train_recogniser)


@train_app.command("reproduce")
def train_reproduce_cmd(
    configs: Annotated[Path, typer.Option(help="Folder with autoencoder/base/recogniser YAML.")] = Path("configs"),
    cache: Annotated[Path, typer.Option(help="Where npm tarballs are kept.")] = Path(".npm-packs"),
) -> None:
    """Reproduce models/gesso-base and models/gesso-recogniser from scratch (resumable)."""
    from gesso.settings import get_settings
    from gesso.train.reproduce import reproduce_base_model

    for name in ("autoencoder.yaml", "base.yaml", "recogniser.yaml"):
        if not (configs / name).is_file():
            fail(f"config file {configs / name} not found")
    seconds = reproduce_base_model(configs, get_settings().models_dir, cache)
    typer.echo(" ".join(f"{k}={v}s" for k, v in seconds.items()))
