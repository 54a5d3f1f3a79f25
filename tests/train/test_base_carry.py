"""Carrying a base denoiser run to a later session: `gesso train carry` writes its EMA weights in
fp16, and `init_from` on that folder goes on from the carried step with those weights."""

import dataclasses
import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from gesso.cli import app
from gesso.model.autoencoder import AUTOENCODER_PRESETS, build_autoencoder
from gesso.train.base_loop import _learning_rate, train_base
from gesso.train.carried_checkpoint import DENOISER_WEIGHTS_FILE
from tests.train.test_base_resume import tiny_config

runner = CliRunner()


@pytest.fixture(scope="module")
def carried(shape_dataset, tmp_path_factory) -> tuple[Path, Path, Path]:
    root = tmp_path_factory.mktemp("base-carry")
    torch.manual_seed(0)
    build_autoencoder(AUTOENCODER_PRESETS["tiny"]).save_pretrained(root / "vae", safe_serialization=True)
    train_base(tiny_config(shape_dataset, root / "vae", root / "run", 2), progress=False)
    result = runner.invoke(app, ["train", "carry", "--run-dir", str(root / "run"), "--out", str(root / "carried")])
    assert result.exit_code == 0, result.output
    assert "step 2/2" in result.output
    return root / "carried", root / "run", root / "vae"


def test_the_carried_folder_holds_fp16_ema_weights_and_the_step(carried):
    folder, run, _ = carried
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["kind"] == "denoiser" and meta["step"] == 2 and meta["preset"] == "tiny"
    assert meta["fp16_check"]["relative_change"] < 0.01
    weights = load_file(folder / DENOISER_WEIGHTS_FILE)
    ema = load_file(run / "checkpoints" / "step-0000002" / "ema.safetensors")
    assert weights.keys() == ema.keys()
    assert all(weights[k].dtype == torch.float16 for k in weights if ema[k].is_floating_point())
    assert all(torch.allclose(weights[k].float(), ema[k], atol=1e-2, rtol=1e-2) for k in weights)
    assert (folder / "samples.png").is_file() and not (folder / "model_index.json").exists()


def test_a_warm_start_goes_on_from_the_carried_step(carried, shape_dataset, tmp_path, capsys):
    folder, _, vae = carried
    config = dataclasses.replace(tiny_config(shape_dataset, vae, tmp_path / "next", 4), init_from=str(folder))
    train_base(config, progress=False)
    steps = sorted(p.name for p in (tmp_path / "next" / "checkpoints").iterdir())
    assert steps == ["step-0000004"]  # steps 3 and 4 only: the count went on from 2
    state = json.loads((tmp_path / "next" / "checkpoints" / "step-0000004" / "meta.json").read_text())
    assert state["warm_starts"] == [2]
    # the carried run ended at 2 steps, this one goes to 4: its schedule differs, and it says so
    assert "trained with other settings" in capsys.readouterr().err


def test_the_ramp_after_a_warm_start_scales_the_schedule():
    config = dataclasses.replace(tiny_config(Path("."), Path("."), Path("."), 100), init_warmup_steps=10)
    assert _learning_rate(config, 50, restarted_at=50) == pytest.approx(_learning_rate(config, 50) / 10)
    assert _learning_rate(config, 60, restarted_at=50) == pytest.approx(_learning_rate(config, 60))


def test_a_carried_denoiser_of_another_preset_is_one_line_and_exit_2(carried, shape_dataset, tmp_path):
    folder, _, vae = carried
    config = tmp_path / "other.yaml"
    fields = dataclasses.asdict(tiny_config(shape_dataset, vae, tmp_path / "other", 4))
    fields.update(preset="tiny-rgba", init_from=str(folder))
    config.write_text(json.dumps(fields))  # JSON is YAML
    result = runner.invoke(app, ["train", "base", "--config", str(config)])
    assert result.exit_code == 2
    assert "preset 'tiny' does not match" in result.output
    assert not (tmp_path / "other" / "checkpoints").exists()
