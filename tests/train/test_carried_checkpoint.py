"""Carrying an autoencoder run: a stopped run's checkpoint becomes fp16 safetensors + meta.json,
and a warm start from it continues the step count and the LR schedule (with a short ramp)."""

import json
import pickle
import shutil
import struct
import zipfile
from pathlib import Path

import pytest
import torch
import yaml
from safetensors import safe_open
from safetensors.torch import load_file
from typer.testing import CliRunner

from gesso.cli import app
from gesso.model.autoencoder import AUTOENCODER_PRESETS, build_autoencoder
from gesso.train import autoencoder_carry, autoencoder_loop
from gesso.train.autoencoder_loop import learning_rate, main, train_autoencoder
from gesso.train.carried_checkpoint import load_carried
from gesso.train.run_config import AutoencoderRunConfig
from tests.train.test_autoencoder_loop import rgba_config, write_transparent_shapes


class Stopped(Exception):
    pass


def stopped_config(data: Path, out: Path, **changes) -> AutoencoderRunConfig:
    # 8 steps, 16 px crops until step 6; the first run is stopped at step 4
    return rgba_config(data, out, 8, crop_size=16, batch_size=4, checkpoint_every=2, **changes)


def write_yaml(path: Path, config: AutoencoderRunConfig, **changes) -> Path:
    settings = {**config.__dict__, **changes}
    path.write_text(yaml.safe_dump(settings))
    return path


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return write_transparent_shapes(tmp_path_factory.mktemp("rgba-shapes"))


@pytest.fixture(scope="module")
def stopped_run(data, tmp_path_factory) -> Path:
    """A run of 8 steps, stopped right after its checkpoint at step 4 (and its preview)."""
    out = tmp_path_factory.mktemp("stopped") / "run"
    preview = autoencoder_loop._save_reconstructions

    def preview_then_stop(vae, images, path, rgba):
        preview(vae, images, path, rgba)
        if path.parent.name == "step-0000004":
            raise Stopped

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(autoencoder_loop, "_save_reconstructions", preview_then_stop)
        with pytest.raises(Stopped):
            train_autoencoder(stopped_config(data, out), progress=False)
    return out


@pytest.fixture(scope="module")
def carried(stopped_run, data, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("repo") / "training" / "carried" / "tiny"
    config = write_yaml(
        tmp_path_factory.mktemp("cfg") / "tiny-rgba.yaml", stopped_config(data, stopped_run)
    )
    result = CliRunner().invoke(
        app,
        [
            "train",
            "carry",
            "--run-dir",
            str(stopped_run),
            "--out",
            str(folder),
            "--config",
            str(config),
        ],
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"{folder} step 4/8; fp16 check over 8 images: loss ")
    return folder


def progress_lines(text: str) -> list[list[str]]:
    return [line.split() for line in text.splitlines() if line.startswith("step ")]


def test_the_carried_folder_records_the_step_preset_and_settings(carried, stopped_run):
    assert sorted(p.name for p in carried.iterdir()) == [
        "meta.json",
        "reconstructions.png",
        "vae.safetensors",
    ]
    meta = json.loads((carried / "meta.json").read_text())
    assert meta["step"] == 4 and meta["max_steps"] == 8
    assert meta["preset"] == "tiny-rgba" and meta["config_name"] == "tiny-rgba"
    assert len(meta["config_hash"]) == 16 and meta["config"]["batch_size"] == 4
    assert meta["source"] == str(stopped_run / "checkpoints" / "step-0000004")
    assert meta["cpu"] and meta["date"].endswith("Z") and isinstance(meta["loss"], float)


def test_a_warm_start_continues_the_step_count_and_the_lr_schedule(carried, data, tmp_path, capsys):
    config = stopped_config(
        data, tmp_path / "next", init_from=str(carried), init_warmup_steps=2, log_every=1
    )
    train_autoencoder(config, progress=False)
    lines = progress_lines(capsys.readouterr().out)
    assert [line[1] for line in lines] == ["5/8", "6/8", "7/8", "8/8"]
    # 3e-3 x cosine at steps 4..7 of 8 (floored at 5%), the first times 1/2 of the 2-step ramp
    assert [line[5] for line in lines] == ["7.50e-04", "9.26e-04", "4.39e-04", "1.50e-04"]
    checkpoints = tmp_path / "next" / "checkpoints"
    assert sorted(p.name for p in checkpoints.iterdir()) == ["step-0000006", "step-0000008"]
    assert json.loads((checkpoints / "step-0000008" / "meta.json").read_text())["warm_starts"] == [
        4
    ]


def test_a_warm_started_run_stopped_in_its_ramp_resumes_exactly(
    carried, data, tmp_path, monkeypatch
):
    def config(out: str) -> AutoencoderRunConfig:
        return stopped_config(data, tmp_path / out, init_from=str(carried), init_warmup_steps=4)

    straight = train_autoencoder(config("straight"), progress=False)
    save = autoencoder_loop.save_checkpoint

    def save_then_stop(directory, step, *args, **kwargs):
        path = save(directory, step, *args, **kwargs)
        if step == 6:
            raise Stopped
        return path

    monkeypatch.setattr(autoencoder_loop, "save_checkpoint", save_then_stop)
    with pytest.raises(Stopped):
        train_autoencoder(config("stopped"), progress=False)
    monkeypatch.setattr(autoencoder_loop, "save_checkpoint", save)
    resumed = train_autoencoder(config("stopped"), progress=False)
    a = load_file(straight / "diffusion_pytorch_model.safetensors")
    b = load_file(resumed / "diffusion_pytorch_model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_the_ramp_scales_the_cosine_from_the_restart_step():
    config = AutoencoderRunConfig(learning_rate=1e-3, max_steps=1000, init_warmup_steps=100)
    assert learning_rate(config, 0) == pytest.approx(1e-3)
    assert learning_rate(config, 500) == pytest.approx(5e-4)
    assert learning_rate(config, 500, restarted_at=500) == pytest.approx(5e-4 * 0.01)
    assert learning_rate(config, 549, restarted_at=500) == pytest.approx(
        learning_rate(config, 549) * 0.5
    )
    assert learning_rate(config, 600, restarted_at=500) == learning_rate(config, 600)


def test_a_carried_checkpoint_of_another_preset_is_refused(carried, data, tmp_path):
    config = write_yaml(
        tmp_path / "rgb.yaml",
        stopped_config(data, tmp_path / "rgb"),
        preset="tiny",
        init_from=str(carried),
    )
    result = CliRunner().invoke(app, ["train", "autoencoder", "--config", str(config)])
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        f"error: init_from {carried}: preset 'tiny-rgba' does not match the config's 'tiny'"
    ]
    assert not (tmp_path / "rgb").exists()


def test_carried_weights_of_another_shape_are_refused(carried, data, tmp_path, capsys):
    relabelled = tmp_path / "relabelled"
    shutil.copytree(carried, relabelled)
    meta = json.loads((relabelled / "meta.json").read_text())
    (relabelled / "meta.json").write_text(json.dumps({**meta, "preset": "tiny"}))
    config = write_yaml(
        tmp_path / "rgb.yaml", stopped_config(data, tmp_path / "rgb"), preset="tiny"
    )
    assert main(["--config", str(config), "--init-from", str(relabelled), "--no-bar"]) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert (
        line.startswith(f"error: init_from {relabelled}: ") and "do not match preset 'tiny'" in line
    )


def test_the_carried_file_is_safetensors_and_a_warm_start_unpickles_nothing(
    carried, data, tmp_path, monkeypatch
):
    path = carried / "vae.safetensors"
    raw = path.read_bytes()
    assert (
        not zipfile.is_zipfile(path) and raw[:1] != b"\x80"
    )  # neither torch.save's zip nor a pickle
    (length,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + length])
    assert {entry["dtype"] for name, entry in header.items() if name != "__metadata__"} == {"F16"}
    with safe_open(str(path), framework="pt") as handle:
        assert len(list(handle.keys())) == len(header) - 1

    def refuse(*args, **kwargs):
        raise AssertionError("a carried checkpoint was unpickled")

    monkeypatch.setattr(torch, "load", refuse)
    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    train_autoencoder(
        stopped_config(data, tmp_path / "run", init_from=str(carried)), progress=False
    )


def test_fp16_weights_round_trip(carried, stopped_run):
    source = load_file(stopped_run / "checkpoints" / "step-0000004" / "vae.safetensors")
    stored = load_file(carried / "vae.safetensors")
    assert source.keys() == stored.keys()
    assert all(
        stored[k].dtype == torch.float16 and torch.equal(stored[k], source[k].half())
        for k in source
    )
    vae = build_autoencoder(AUTOENCODER_PRESETS["tiny-rgba"])
    load_carried(carried, vae, "tiny-rgba")
    loaded = vae.state_dict()
    assert all(
        loaded[k].dtype == torch.float32 and torch.equal(loaded[k], source[k].half().float())
        for k in source
    )
    check = json.loads((carried / "meta.json").read_text())["fp16_check"]
    assert check["images"] == 8 and check["relative_change"] < 0.01


def test_carry_refuses_other_settings_a_run_without_checkpoints_and_a_lossy_fp16(
    stopped_run, data, tmp_path, monkeypatch
):
    other = write_yaml(tmp_path / "other.yaml", stopped_config(data, stopped_run), batch_size=8)
    runner = CliRunner()

    def carry(*args: str):
        return runner.invoke(app, ["train", "carry", "--out", str(tmp_path / "out"), *args])

    result = carry("--run-dir", str(stopped_run), "--config", str(other))
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        f"error: {other} does not hold the run's settings: batch_size 4 in the run, 8 in the file"
    ]
    result = carry("--run-dir", str(tmp_path / "empty"))
    assert result.exit_code == 2 and "no checkpoint under" in result.stderr
    monkeypatch.setattr(
        autoencoder_carry,
        "fp16_check",
        lambda *args: {"images": 8, "fp32_loss": 0.1, "fp16_loss": 0.105, "relative_change": 0.05},
    )
    result = carry("--run-dir", str(stopped_run))
    assert result.exit_code == 2 and "by 5.00% (over 1.00%)" in result.stderr
    assert not (tmp_path / "out").exists()
