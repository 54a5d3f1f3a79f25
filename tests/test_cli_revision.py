"""`gesso generate` with the prompt-understanding step and backgrounds: a revision is said on
stderr and kept in the PNG beside the prompt as written, `--no-revise-prompt` turns it off, and
`--background transparent` gives an RGBA PNG from a model with alpha, one line and exit 2 from one
without."""

import json
import shutil

import pytest
from PIL import Image
from typer.testing import CliRunner

from gesso.cli import app
from gesso.data.dataset_format import DatasetRow
from gesso.model.assembly import assemble_pipeline
from gesso.model.text_encoder import MiniLMEmbedder
from gesso.settings import get_settings
from gesso.train.vocabulary import write_vocabulary


@pytest.fixture(scope="module")
def models(tiny_pipeline_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("cli-models")
    shutil.copytree(tiny_pipeline_dir, root / "tiny")
    assemble_pipeline("tiny-rgba", "tiny-rgba").save_pretrained(root / "tiny-rgba")
    corpus = tmp_path_factory.mktemp("cli-corpus")
    rows = [DatasetRow(i, f"{i}.png", f"{c}, flat style", {"concept": c, "label": c, "keywords": k})
            for i, (c, k) in enumerate({"dog face": ["dog", "pet", "puppy"], "pizza": ["food", "cheese"]}.items())]
    (corpus / "metadata.jsonl").write_text("".join(json.dumps(row.to_json()) + "\n" for row in rows))
    write_vocabulary(root / "tiny", corpus, MiniLMEmbedder(max_tokens=64), progress=False)
    return root


@pytest.fixture()
def cli(models, monkeypatch):
    monkeypatch.setenv("GESSO_MODELS_DIR", str(models))
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def generate(cli, *args):
    return cli.invoke(app, ["generate", *args, "--steps", "2", "--seed", "1"])


def test_a_revision_is_said_and_kept_in_the_png(cli, tmp_path):
    result = generate(cli, "the head of a puppy, flat style", "--model", "tiny", "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert "revised prompt: 'the head of a puppy, flat style' -> 'dog face, flat style'" in result.stderr
    with Image.open(result.stdout.split()[0]) as image:
        assert image.text["gesso:prompt"] == "the head of a puppy, flat style"
        assert image.text["gesso:revised_prompt"] == "dog face, flat style"


def test_no_revise_prompt_keeps_the_prompt_as_written(cli, tmp_path):
    result = generate(cli, "the head of a puppy", "--model", "tiny", "--no-revise-prompt", "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert "revised" not in result.stderr
    with Image.open(result.stdout.split()[0]) as image:
        assert "gesso:revised_prompt" not in image.text


def test_a_transparent_background_from_a_model_with_alpha(cli, tmp_path):
    result = generate(cli, "a lemon", "--model", "tiny-rgba", "--background", "transparent", "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    with Image.open(result.stdout.split()[0]) as image:
        assert image.mode == "RGBA"
    opaque = generate(cli, "a lemon", "--model", "tiny-rgba", "--out", str(tmp_path / "o"))
    with Image.open(opaque.stdout.split()[0]) as image:
        assert image.mode == "RGB"


@pytest.mark.parametrize("args, message", [
    (["--model", "tiny", "--background", "transparent"], "alpha"),
    (["--model", "tiny", "--background", "clear"], "--background must be opaque or transparent"),
])
def test_bad_backgrounds_exit_2_with_one_line(cli, tmp_path, args, message):
    result = generate(cli, "a lemon", *args, "--out", str(tmp_path))
    assert result.exit_code == 2 and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not list(tmp_path.glob("*.png"))
