"""`gesso train ...`: the autoencoder, base denoiser and recogniser from committed configs, and
`gesso train carry`, which makes a long autoencoder run's checkpoint small enough to commit."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Callable, Optional

import typer

from gesso.cli.errors import fail
from gesso.cli.run_configs import load_config

train_app = typer.Typer(
    help="Training: autoencoder, base denoiser, recogniser; carrying a run across sessions.", no_args_is_help=True
)

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


def _train_recogniser(config: Path, overrides: dict[str, Any]) -> Path:
    from gesso.train.recogniser_loop import train_recogniser
    from gesso.train.run_config import RecogniserRunConfig

    return train_recogniser(load_config(config, RecogniserRunConfig, overrides))


@train_app.command("autoencoder")
def train_autoencoder_cmd(
    config: ConfigFile = Path("configs/autoencoder.yaml"),
    max_steps: MaxSteps = None,
    out_dir: OutDir = None,
    data_dir: DataDir = None,
    threads: Threads = None,
    init_from: Annotated[
        Optional[str], typer.Option(help="Override init_from (a carried checkpoint folder to warm-start from).")
    ] = None,
) -> None:
    """Train (or resume) the autoencoder from a committed config; prints the model folder."""
    import torch

    from gesso.train.autoencoder_loop import train_autoencoder
    from gesso.train.carried_checkpoint import CarriedCheckpointError
    from gesso.train.run_config import AutoencoderRunConfig

    if threads is not None:
        torch.set_num_threads(threads)
    overrides = {"max_steps": max_steps, "out_dir": out_dir, "data_dir": data_dir, "init_from": init_from}
    cfg = load_config(config, AutoencoderRunConfig, overrides)
    try:
        typer.echo(str(train_autoencoder(cfg)))
    except CarriedCheckpointError as exc:
        fail(str(exc))


@train_app.command("carry")
def train_carry_cmd(
    run_dir: Annotated[Path, typer.Option(help="The run's out_dir (with checkpoints/): an autoencoder or base run.")],
    out: Annotated[Path, typer.Option(help="The carried checkpoint folder to write, e.g. models/carried/NAME.")],
    config: Annotated[
        Optional[Path], typer.Option(help="The run's YAML config: names it, and must hold its settings.")
    ] = None,
    data_dir: Annotated[Optional[Path], typer.Option(help="Images for the fp16 check (default: the run's).")] = None,
    check_images: Annotated[int, typer.Option(min=0, help="Images for the fp16 check (0: skip it).")] = 16,
    tolerance: Annotated[float, typer.Option(min=0.0, help="Largest relative change fp16 may cause.")] = 0.01,
    threads: Threads = None,
) -> None:
    """Write a carried checkpoint (fp16 weights + meta.json) from a run's newest checkpoint."""
    import torch

    from gesso.train.autoencoder_carry import carry_autoencoder_run
    from gesso.train.base_carry import carry_base_run, is_base_run

    if threads is not None:
        torch.set_num_threads(threads)
    if config is not None and not config.is_file():
        fail(f"config file {config} not found")
    try:
        if is_base_run(run_dir):
            meta = carry_base_run(run_dir, out, config, tolerance)
        else:
            meta = carry_autoencoder_run(run_dir, out, config, data_dir, check_images, tolerance)
    except ValueError as exc:  # CarriedCheckpointError, or a bad config file
        fail(str(exc))
    check = meta["fp16_check"]
    if check and "fp32_loss" in check:
        shown = (f"fp16 check over {check['images']} images: loss {check['fp32_loss']:.5f} -> "
                 f"{check['fp16_loss']:.5f} ({check['relative_change']:.3%} apart)")
    elif check:
        shown = f"fp16 check over {check['inputs']} inputs: predictions {check['relative_change']:.3%} apart"
    else:
        shown = "fp16 check skipped"
    typer.echo(f"{out} step {meta['step']}/{meta['max_steps']}; {shown}")


@train_app.command("vocabulary")
def train_vocabulary_cmd(
    model_dir: Annotated[Path, typer.Option(help="The pipeline folder to write prompt_vocabulary.safetensors into.")],
    data_dir: Annotated[Path, typer.Option(help="The model's training corpus: its concepts and styles.")],
    words_from: Annotated[Optional[list[Path]], typer.Option(
        help="Another corpus whose words for the same concepts are added (repeatable).")] = None,
) -> None:
    """Write the model's prompt vocabulary: how plain-language prompts find its concepts."""
    from gesso.model.text_encoder import MiniLMEmbedder
    from gesso.train.vocabulary import write_vocabulary

    for folder in [data_dir, *(words_from or [])]:
        if not (folder / "metadata.jsonl").is_file():
            fail(f"no metadata.jsonl in {folder}")
    if not (model_dir / "model_index.json").is_file():
        fail(f"{model_dir} is not a pipeline folder (no model_index.json)")
    vocabulary = write_vocabulary(model_dir, data_dir, MiniLMEmbedder(max_tokens=64, cache_size=0), words_from or [])
    typer.echo(f"{model_dir}: {len(vocabulary.concepts)} concepts, {len(vocabulary.owners)} descriptions, "
               f"styles {', '.join(vocabulary.styles) or 'none'}")


@train_app.command("base")
def train_base_cmd(
    config: ConfigFile = Path("configs/base.yaml"),
    max_steps: MaxSteps = None,
    out_dir: OutDir = None,
    init_from: Annotated[Optional[str], typer.Option(
        help="Override init_from (a pipeline folder, or a carried checkpoint to go on from).")] = None,
    workers: Annotated[Optional[int], typer.Option(
        min=1, max=256, help="DDP ranks on the Ray cluster at GESSO_RAY_ADDRESS (Ray Train); default: this process.",
    )] = None,
) -> None:
    """Train (or resume) the base denoiser from a committed config; prints the pipeline folder.
    With --workers, on Ray Train (each rank GESSO_RAY_TRAIN_CPUS_PER_WORKER / _GPUS_PER_WORKER;
    out_dir, data and autoencoder on a path every node sees)."""
    from gesso.train.base_loop import WarmStartError, train_base
    from gesso.train.carried_checkpoint import CarriedCheckpointError
    from gesso.train.run_config import BaseRunConfig

    cfg = load_config(config, BaseRunConfig, {"max_steps": max_steps, "out_dir": out_dir, "init_from": init_from})
    try:
        typer.echo(str(train_base(cfg) if workers is None else _train_base_on_ray(cfg, workers)))
    except (WarmStartError, CarriedCheckpointError) as exc:
        fail(str(exc))


def _train_base_on_ray(cfg: Any, workers: int) -> Path:
    import dataclasses

    from gesso.engine.ray_base_training import train_base_on_ray
    from gesso.governance.ray_runtime import RayUnavailable, connect, require_resources
    from gesso.service.fine_tuning.ray_training import ray_train_options
    from gesso.settings import get_settings

    settings = get_settings()
    options = dataclasses.replace(ray_train_options(settings), workers=workers)
    folders = [k for k in ("data_dir", "autoencoder_dir", "out_dir", "init_from") if getattr(cfg, k)]
    absolute = {k: str(Path(getattr(cfg, k)).resolve()) for k in folders}  # the ranks' working folder differs
    try:
        connect(settings)
        require_resources(cpus=workers * options.cpus_per_worker, gpus=workers * options.gpus_per_worker)
    except RayUnavailable as exc:
        fail(str(exc))
    try:
        return train_base_on_ray(dataclasses.replace(cfg, **absolute), options)
    except RuntimeError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None


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
