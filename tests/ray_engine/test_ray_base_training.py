"""`gesso train base --workers N` on Ray Train: two DDP ranks (gloo) on the session's cluster
train the tiny base denoiser to the same held-out loss as one process, within the spread that
two single-process runs with different seeds show."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import ray
import torch

from gesso.engine.ray_base_training import train_base_on_ray
from gesso.engine.ray_finetune_training import RayTrainOptions
from gesso.governance.ray_runtime import connect
from gesso.model.autoencoder import AUTOENCODER_PRESETS, build_autoencoder
from gesso.model.denoiser import build_denoiser
from gesso.settings import Settings
from gesso.train.base_loop import denoiser_config, train_base
from gesso.train.lora_features import validation_loss
from gesso.train.run_config import BaseRunConfig
from safetensors.torch import load_file

STEPS = 30


def tiny_config(data: Path, vae_dir: Path, out: Path, seed: int) -> BaseRunConfig:
    return BaseRunConfig(
        data_dir=str(data), autoencoder_dir=str(vae_dir), out_dir=str(out), preset="tiny", batch_size=8,
        learning_rate=2e-3, warmup_steps=2, max_steps=STEPS, checkpoint_every=STEPS, mixed_precision="no",
        sample_prompts=[], seed=seed, ema_decay=0.0,
    )


def held_out_loss(config: BaseRunConfig, final: Path) -> float:
    """The final weights' flow-matching loss on every image at fixed times and noise."""
    transformer = build_denoiser(denoiser_config(config))
    transformer.load_state_dict(load_file(final / "transformer" / "diffusion_pytorch_model.safetensors"))
    (cache,) = (Path(config.out_dir) / "cache").glob("features-*.safetensors")
    return validation_loss(transformer.eval(), load_file(cache), seed=1234)


@pytest.fixture()
def vae_dir(tmp_path) -> Path:
    torch.manual_seed(0)
    folder = tmp_path / "vae"
    build_autoencoder(AUTOENCODER_PRESETS["tiny"]).save_pretrained(folder, safe_serialization=True)
    return folder


def test_two_ranks_reach_the_loss_of_one(ray_cluster, shape_dataset, vae_dir, tmp_path):
    one = tiny_config(shape_dataset, vae_dir, tmp_path / "one", seed=0)
    other_seed = dataclasses.replace(one, out_dir=str(tmp_path / "other"), seed=1)
    two = dataclasses.replace(one, out_dir=str(tmp_path / "two"))
    losses = {}
    for name, config in (("one", one), ("other_seed", other_seed)):
        losses[name] = held_out_loss(config, train_base(config, progress=False))
    connect(Settings(ray_address=ray_cluster.address))
    try:
        final = train_base_on_ray(two, RayTrainOptions(workers=2, storage_path=str(tmp_path / "ray-train")))
    finally:
        ray.shutdown()
    losses["two"] = held_out_loss(two, final)
    initial = held_out_loss(one, _untrained(one, tmp_path))
    noise = abs(losses["one"] - losses["other_seed"])
    assert losses["one"] < 0.9 * initial  # training moved the loss at all, so agreeing means something
    # two ranks draw other batches than one (their own generators): they differ as two seeds do
    assert abs(losses["two"] - losses["one"]) <= 3 * noise + 0.02 * losses["one"], (losses, initial)
    assert (Path(two.out_dir) / "checkpoints" / f"step-{STEPS:07d}").is_dir()


def _untrained(config: BaseRunConfig, tmp_path: Path) -> Path:
    torch.manual_seed(config.seed)
    folder = tmp_path / "untrained" / "transformer"
    build_denoiser(denoiser_config(config)).save_pretrained(folder.parent / "transformer", safe_serialization=True)
    return folder.parent


def test_workers_without_a_cluster_address_is_one_line_and_exit_2(monkeypatch):
    from typer.testing import CliRunner

    from gesso.cli import app
    from gesso.settings import get_settings

    monkeypatch.delenv("GESSO_RAY_ADDRESS", raising=False)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["train", "base", "--workers", "2", "--max-steps", "1"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 2, result.output
    assert "GESSO_RAY_ADDRESS" in result.output and len(result.output.strip().splitlines()) == 1
