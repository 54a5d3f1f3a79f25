"""The autoencoder loop: RGBA keeps clean alpha, resume is exact, the RGB path still trains."""

import json
from pathlib import Path

import pytest
import torch
from diffusers import AutoencoderKL
from PIL import Image, ImageDraw
from safetensors.torch import load_file

from gesso.data.dataset_format import read_rows
from gesso.model.alpha_compositing import clean_premultiplied, premultiplied_model_range
from gesso.train import autoencoder_loop
from gesso.train.autoencoder_loop import main, reconstruction_loss, train_autoencoder
from gesso.train.image_tensors import load_images
from gesso.train.run_config import AutoencoderRunConfig

COLOURS = ["red", "green", "blue", "orange", "purple", "black", "yellow", "brown"]


def write_transparent_shapes(root: Path, size: int = 32) -> Path:
    """Eight coloured shapes on a fully transparent background, in Gesso's dataset format."""
    root.mkdir(parents=True, exist_ok=True)
    lines = []
    for i, colour in enumerate(COLOURS):
        image = Image.new("RGBA", (size, size), (0, 0, 0, 0))
        draw = ImageDraw.Draw(image)
        box = (size // 5, size // 5, size - size // 5, size - size // 5)
        (draw.ellipse if i % 2 else draw.rectangle)(box, fill=colour)
        image.save(root / f"{colour}.png")
        lines.append(json.dumps({"file_name": f"{colour}.png", "text": f"{colour} shape"}))
    (root / "metadata.jsonl").write_text("\n".join(lines) + "\n")
    return root


@pytest.fixture(scope="module")
def transparent_shapes(tmp_path_factory) -> Path:
    return write_transparent_shapes(tmp_path_factory.mktemp("rgba-shapes"))


def rgba_config(data: Path, out: Path, max_steps: int, **changes) -> AutoencoderRunConfig:
    settings = dict(
        data_dir=str(data),
        out_dir=str(out),
        preset="tiny-rgba",
        image_size=32,
        crop_size=32,
        batch_size=8,
        learning_rate=3e-3,
        max_steps=max_steps,
        checkpoint_every=1000,
        mixed_precision="no",
        edge_weight=0.5,
    )
    return AutoencoderRunConfig(**{**settings, **changes})


def test_rgba_training_keeps_transparent_corners_transparent(transparent_shapes, tmp_path):
    torch.manual_seed(0)
    final = train_autoencoder(rgba_config(transparent_shapes, tmp_path / "run", 80), progress=False)
    vae = AutoencoderKL.from_pretrained(final).eval()
    assert vae.config.in_channels == vae.config.out_channels == 4
    images = load_images(transparent_shapes, read_rows(transparent_shapes), 32, "RGBA")
    assert images[:, 3, 0, 0].max() == 0  # the corners really are transparent
    with torch.no_grad():
        x = premultiplied_model_range(images)
        out = clean_premultiplied(
            vae.decode(vae.encode(x).latent_dist.mean).sample
        )  # (8, 4, 32, 32)
    alpha = out[:, 3]
    assert out.shape == (8, 4, 32, 32)
    assert alpha[:, :3, :3].max() < 0.02 and alpha[:, -3:, -3:].max() < 0.02
    assert alpha[:, 14:18, 14:18].min() > 0.9
    assert torch.all(out[:, :3] <= out[:, 3:4])  # valid premultiplied colour
    assert (final.parent / "checkpoints" / "step-0000080" / "reconstructions.png").is_file()


class Killed(Exception):
    pass


def test_resume_after_a_kill_equals_an_uninterrupted_run(transparent_shapes, tmp_path, monkeypatch):
    # 16 px crops until step 3, then full images: the kill falls inside the crop phase
    def config(out: str) -> AutoencoderRunConfig:
        return rgba_config(
            transparent_shapes, tmp_path / out, 4, crop_size=16, batch_size=4, checkpoint_every=2
        )

    straight = train_autoencoder(config("a"), progress=False)
    save = autoencoder_loop.save_checkpoint

    def save_then_die(directory, step, *args, **kwargs):
        path = save(directory, step, *args, **kwargs)
        if step == 2:
            raise Killed
        return path

    monkeypatch.setattr(autoencoder_loop, "save_checkpoint", save_then_die)
    with pytest.raises(Killed):
        train_autoencoder(config("b"), progress=False)
    monkeypatch.setattr(autoencoder_loop, "save_checkpoint", save)
    resumed = train_autoencoder(config("b"), progress=False)
    a = load_file(straight / "diffusion_pytorch_model.safetensors")
    b = load_file(resumed / "diffusion_pytorch_model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    first = load_file(tmp_path / "b" / "checkpoints" / "step-0000002" / "vae.safetensors")
    assert any(not torch.equal(first[k], b[k]) for k in first)  # and the second half trained


def test_the_rgb_preset_still_trains_three_channels(shape_dataset, tmp_path):
    config = AutoencoderRunConfig(
        data_dir=str(shape_dataset),
        out_dir=str(tmp_path / "rgb"),
        preset="tiny",
        image_size=32,
        crop_size=16,
        batch_size=4,
        max_steps=2,
        checkpoint_every=2,
        mixed_precision="no",
    )
    final = train_autoencoder(config, progress=False)
    vae = AutoencoderKL.from_pretrained(final)
    assert vae.config.in_channels == vae.config.out_channels == 3


def test_overshoot_past_a_bound_the_target_sits_on_is_free():
    target = torch.tensor([-1.0, 1.0, 0.0])
    beyond = torch.tensor([-3.0, 2.0, 0.0])
    assert reconstruction_loss(beyond, target, free_overshoot=True).item() == 0.0
    assert reconstruction_loss(beyond, target).item() > 0.0
    wrong_way = torch.tensor([-0.5, 0.5, 0.0])  # short of the bound still costs
    assert reconstruction_loss(wrong_way, target, free_overshoot=True).item() > 0.0


def test_the_edge_term_charges_a_blurred_edge_more():
    sharp = torch.tensor([[-1.0, -1.0, 1.0, 1.0]]).expand(1, 1, 4, 4)
    blurred = torch.tensor([[-1.0, -0.5, 0.5, 1.0]]).expand(1, 1, 4, 4)
    plain = reconstruction_loss(blurred, sharp)
    assert reconstruction_loss(blurred, sharp, edge_weight=1.0) > plain
    assert reconstruction_loss(sharp, sharp, edge_weight=1.0).item() == 0.0


def test_the_entry_point_prints_progress_lines(transparent_shapes, tmp_path, capsys):
    config_file = tmp_path / "ae.yaml"
    config_file.write_text(
        f"data_dir: {transparent_shapes}\nout_dir: {tmp_path / 'cli'}\npreset: tiny-rgba\n"
        "image_size: 32\ncrop_size: 16\nbatch_size: 2\nmax_steps: 4\ncheckpoint_every: 4\n"
        "log_every: 2\nmixed_precision: 'no'\n"
    )
    assert (
        main(["--config", str(config_file), "--max-steps", "4", "--threads", "1", "--no-bar"]) == 0
    )
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("step ")]
    assert [line.split()[1] for line in lines] == ["2/4", "4/4"]
    assert "img/s" in lines[0] and "loss" in lines[0]
