"""Exact resume: N steps in one go equal N/2 steps, a stop, and N/2 more."""

from pathlib import Path

import torch
from safetensors.torch import load_file

from gesso.model.autoencoder import AUTOENCODER_PRESETS, build_autoencoder
from gesso.train.base_loop import train_base
from gesso.train.run_config import BaseRunConfig


def tiny_config(data: Path, vae_dir: Path, out: Path, max_steps: int) -> BaseRunConfig:
    return BaseRunConfig(
        data_dir=str(data), autoencoder_dir=str(vae_dir), out_dir=str(out), preset="tiny",
        batch_size=4, learning_rate=1e-3, warmup_steps=2, max_steps=max_steps, checkpoint_every=2,
        mixed_precision="no", sample_prompts=["red circle"],
    )


def test_resume_after_stop_gives_the_same_weights(shape_dataset, tmp_path):
    torch.manual_seed(0)
    vae_dir = tmp_path / "vae"
    vae = build_autoencoder(AUTOENCODER_PRESETS["tiny"])
    vae.save_pretrained(vae_dir, safe_serialization=True)

    straight = train_base(tiny_config(shape_dataset, vae_dir, tmp_path / "a", 4), progress=False)
    train_base(tiny_config(shape_dataset, vae_dir, tmp_path / "b", 2), progress=False)  # "killed" at step 2
    resumed = train_base(tiny_config(shape_dataset, vae_dir, tmp_path / "b", 4), progress=False)

    a = load_file(straight / "transformer" / "diffusion_pytorch_model.safetensors")
    b = load_file(resumed / "transformer" / "diffusion_pytorch_model.safetensors")
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert (tmp_path / "b" / "checkpoints" / "step-0000004" / "samples.png").is_file()
    # and training moved the weights at all
    first = load_file(tmp_path / "b" / "checkpoints" / "step-0000002" / "ema.safetensors")
    last = load_file(tmp_path / "b" / "checkpoints" / "step-0000004" / "ema.safetensors")
    assert any(not torch.equal(first[k], last[k]) for k in first)


def test_a_resumed_run_takes_its_weights_from_the_checkpoint_not_init_from(shape_dataset, tiny_pipeline_dir, tmp_path):
    import dataclasses
    import shutil

    source = tmp_path / "stage1"
    shutil.copytree(tiny_pipeline_dir, source)
    first = dataclasses.replace(
        tiny_config(shape_dataset, tiny_pipeline_dir / "vae", tmp_path / "run", 2), init_from=str(source)
    )
    train_base(first, progress=False)
    shutil.rmtree(source)  # resuming must not need it any more
    resumed = train_base(dataclasses.replace(first, max_steps=4), progress=False)
    assert (resumed / "transformer" / "diffusion_pytorch_model.safetensors").is_file()
