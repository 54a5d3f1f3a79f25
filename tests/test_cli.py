"""CLI contract: exit 0 with paths on stdout, exit 2 with one line on stderr for bad input."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from gesso.cli import app
from gesso.settings import get_settings


@pytest.fixture()
def cli(tiny_pipeline_dir, monkeypatch):
    monkeypatch.setenv("GESSO_MODELS_DIR", str(tiny_pipeline_dir.parent))
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def invoke(cli, *args):
    return cli.invoke(app, list(args))


def test_generate_writes_pngs_and_prints_their_paths(cli, tmp_path):
    result = invoke(cli, "generate", "red circle", "--model", "tiny", "--n", "2", "--seed", "4",
                    "--steps", "2", "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    paths = result.stdout.split()
    assert [Path(p).name for p in paths] == ["red-circle_4.png", "red-circle_5.png"]
    with Image.open(paths[0]) as image:
        assert image.size == (32, 32)
        assert image.text["gesso:seed"] == "4" and image.text["gesso:prompt"] == "red circle"


def test_prompts_file_writes_id_k_files_in_batches(cli, tmp_path):
    prompts = tmp_path / "p.jsonl"
    prompts.write_text(
        json.dumps({"id": "a", "prompt": "red circle", "n": 2, "seed": 1}) + "\n\n"
        + json.dumps({"id": "b", "prompt": "blue square", "steps": 3, "negative": "red"}) + "\n"
    )
    result = invoke(cli, "generate", "--prompts-file", str(prompts), "--model", "tiny",
                    "--steps", "2", "--batch-size", "2", "--out", str(tmp_path / "o"))
    assert result.exit_code == 0, result.output
    assert sorted(Path(p).name for p in result.stdout.split()) == ["a_0.png", "a_1.png", "b_0.png"]


def test_same_seed_same_file_bytes(cli, tmp_path):
    args = ["generate", "red circle", "--model", "tiny", "--seed", "9", "--steps", "2"]
    first = invoke(cli, *args, "--out", str(tmp_path / "1")).stdout.strip()
    second = invoke(cli, *args, "--out", str(tmp_path / "2")).stdout.strip()
    assert Path(first).read_bytes() == Path(second).read_bytes()


@pytest.mark.parametrize(
    "args, message",
    [
        (["red circle", "--model", "nope"], "unknown model 'nope'"),
        (["red circle", "--model", "tiny", "--size", "64x64"], "size 64x64 is not supported"),
        (["red circle", "--model", "tiny", "--size", "big"], "not WIDTHxHEIGHT"),
        (["red circle", "--model", "tiny", "--steps", "0"], "steps must be between 1 and"),
        (["red circle", "--model", "tiny", "--steps", "1000"], "steps must be between 1 and"),
        (["red circle", "--model", "tiny", "--n", "0"], "n must be between 1 and"),
        (["red circle", "--model", "tiny", "--n", "11"], "n must be between 1 and"),
        (["red circle", "--model", "tiny", "--sampler", "ddim"], "unknown sampler"),
        (["", "--model", "tiny"], "prompt must not be empty"),
        ([" ".join(["red"] * 31), "--model", "tiny"], "prompt is 31 tokens long; the model reads at most 30"),
        (["red", "--negative", " ".join(["red"] * 31), "--model", "tiny"], "negative prompt is 31 tokens long"),
        (["--model", "tiny"], "give either a PROMPT or --prompts-file"),
        (["--model", "tiny", "--prompts-file", "/nonexistent.jsonl"], "cannot read prompts file"),
    ],
)
def test_bad_generate_arguments_exit_2_with_one_line(cli, args, message):
    result = invoke(cli, "generate", *args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "line, message",
    [
        ("{not json", ":2: "),
        (json.dumps({"id": "x"}), "'prompt' must be a string"),
        (json.dumps({"prompt": "a", "n": "two"}), "'n' must be an integer"),
        (json.dumps({"prompt": "a", "colour": "red"}), "unknown field(s) colour"),
        (json.dumps({"id": "../evil", "prompt": "a"}), "unsafe"),
        (json.dumps({"prompt": "a", "size": "128x128"}), "not supported"),
        (json.dumps({"prompt": " ".join(["red"] * 31)}), "the model reads at most 30 tokens"),
    ],
)
def test_malformed_prompts_line_names_its_line(cli, tmp_path, line, message):
    prompts = tmp_path / "p.jsonl"
    prompts.write_text(json.dumps({"id": "ok", "prompt": "red circle"}) + "\n" + line + "\n")
    result = invoke(cli, "generate", "--prompts-file", str(prompts), "--model", "tiny", "--out", str(tmp_path))
    assert result.exit_code == 2, result.output
    assert f"{prompts}:2" in result.stderr and message in result.stderr
    assert not list(tmp_path.glob("*.png"))  # nothing written before every line was checked


def test_data_validate_lists_bad_rows(cli, tmp_path, shape_dataset):
    assert invoke(cli, "data", "validate", str(shape_dataset)).exit_code == 0
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "metadata.jsonl").write_text(json.dumps({"file_name": "gone.png", "text": "x"}) + "\n")
    result = invoke(cli, "data", "validate", str(bad))
    assert result.exit_code == 2 and "line 1 (gone.png): file not found" in result.stderr


def test_eval_card_needs_the_training_corpus(cli, tmp_path, tiny_pipeline_dir):
    result = invoke(cli, "eval", "--model", "tiny", "--card", "--reference", str(tmp_path / "nowhere"))
    assert result.exit_code == 2 and "--card needs --reference" in result.stderr
    assert not (tiny_pipeline_dir / "eval.json").exists()  # refused before anything was generated


def test_eval_refuses_an_unknown_sampler(cli, tiny_pipeline_dir):
    result = invoke(cli, "eval", "--model", "tiny", "--sampler", "heun")
    assert result.exit_code == 2 and "unknown sampler 'heun'; choose from euler, dpm" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--steps", "0"], "--steps must be at least 1"),
     (["--learning-rate-multiplier", "0"], "--learning-rate-multiplier must be in (0, 10]")],
)
def test_finetune_demo_rejects_bad_settings(cli, tmp_path, args, message):
    result = invoke(cli, "finetune", "demo", *args, "--out-dir", str(tmp_path / "demo"))
    assert result.exit_code == 2 and message in result.stderr
    assert not (tmp_path / "demo").exists()


def test_real_process_exit_code_and_help(tiny_pipeline_dir):
    env = {**os.environ, "GESSO_MODELS_DIR": str(tiny_pipeline_dir.parent)}
    gesso = [sys.executable, "-m", "gesso.cli"]
    done = subprocess.run([*gesso, "generate", "x", "--model", "missing"], capture_output=True, text=True, env=env)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == ["error: unknown model 'missing' (known: tiny)"]
    for command in (["--help"], ["generate", "--help"], ["train", "base", "--help"], ["eval", "--help"],
                    ["data", "build-emoji", "--help"]):
        assert subprocess.run([*gesso, *command], capture_output=True, env=env).returncode == 0


def test_train_base_with_a_missing_init_from_exits_2(cli, tmp_path, shape_dataset, tiny_pipeline_dir):
    config = tmp_path / "base.yaml"
    config.write_text(
        f"data_dir: {shape_dataset}\nautoencoder_dir: {tiny_pipeline_dir / 'vae'}\npreset: tiny\n"
        f"out_dir: {tmp_path / 'run'}\nmax_steps: 2\nmixed_precision: 'no'\n"
    )
    result = invoke(cli, "train", "base", "--config", str(config), "--init-from", str(tmp_path / "nowhere"))
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [f"error: init_from: no denoiser weights at {tmp_path / 'nowhere' / 'transformer' / 'diffusion_pytorch_model.safetensors'}"]
    assert not (tmp_path / "run" / "checkpoints").exists()
