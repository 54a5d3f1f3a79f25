"""`gesso finetune create` and `gesso generate --adapter`: exit 0 with a path, exit 2 with one line."""

import io
import json
import zipfile
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from gesso.cli import app
from gesso.settings import get_settings



@pytest.fixture()
def cli(tiny_pipeline_dir, monkeypatch, tmp_path):
    monkeypatch.setenv("GESSO_MODELS_DIR", str(tiny_pipeline_dir.parent))
    monkeypatch.setenv("GESSO_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def finetune(cli, data, out, *extra):
    return cli.invoke(app, ["finetune", "create", "--data", str(data), "--suffix", "shapes", "--model", "tiny",
                            "--epochs", "1", "--batch-size", "8", "--rank", "2", "--out", str(out),
                            *extra])


def generate(cli, out, *extra):
    result = cli.invoke(app, ["generate", "red circle", "--model", "tiny", "--seed", "3", "--steps", "2",
                              "--out", str(out), *extra])
    return result


def test_finetune_then_generate_with_the_adapter(cli, shape_dataset, tmp_path):
    result = finetune(cli, shape_dataset, tmp_path / "run", "--trigger", "shp")
    assert result.exit_code == 0, result.output
    adapter = Path(result.stdout.strip())
    assert adapter == tmp_path / "run" / "adapter"
    config = json.loads((adapter / "adapter.json").read_text())
    assert config["rank"] == 2 and config["metadata"]["hyperparameters"]["n_epochs"] == 1
    assert len(config["metadata"]["dataset_sha256"]) == 64
    assert (tmp_path / "run" / "checkpoints" / "step-0000002" / "samples.png").is_file()

    plain = generate(cli, tmp_path / "plain")
    tuned = generate(cli, tmp_path / "tuned", "--adapter", str(adapter))
    assert plain.exit_code == 0 and tuned.exit_code == 0, tuned.output
    with Image.open(tuned.stdout.strip()) as image:
        assert image.text["gesso:adapter"] == str(adapter)
        tuned_pixels = image.tobytes()
    with Image.open(plain.stdout.strip()) as image:
        assert image.tobytes() != tuned_pixels


def test_finetune_from_a_zip_upload(cli, shape_dataset, tmp_path):
    upload = tmp_path / "up.zip"
    with zipfile.ZipFile(upload, "w") as zf:
        for path in sorted(shape_dataset.iterdir())[:6]:
            zf.write(path, path.name)
        names = [p.name for p in sorted(shape_dataset.iterdir())[:6] if p.suffix == ".png"]
        zf.writestr("metadata.jsonl", "\n".join(json.dumps({"file_name": n}) for n in names))
    result = finetune(cli, upload, tmp_path / "run", "--trigger", "shp")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "run" / "dataset" / "metadata.jsonl").is_file()


def test_bad_inputs_exit_2_with_one_line(cli, shape_dataset, tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    buf = io.BytesIO()
    Image.new("RGB", (32, 32), "red").save(buf, format="PNG")
    (bad / "ok.png").write_bytes(buf.getvalue())
    (bad / "copy.png").write_bytes(buf.getvalue())
    (bad / "junk.png").write_bytes(b"junk")
    (bad / "metadata.jsonl").write_text("\n".join(json.dumps(r) for r in [
        {"file_name": "ok.png", "text": "red"}, {"file_name": "copy.png", "text": "red again"},
        {"file_name": "junk.png", "text": "junk"},
    ]))
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as zf:
        zf.writestr("../escape.png", buf.getvalue())
    cases = [
        (finetune(cli, bad, tmp_path / "r1"), "2 bad row(s); first: line 2 (copy.png): duplicate"),
        (finetune(cli, evil, tmp_path / "r2"), "bad row(s); first: dataset (../escape.png): path escapes"),
        (finetune(cli, tmp_path / "nowhere", tmp_path / "r3"), "not found"),
        (finetune(cli, shape_dataset, tmp_path / "r4", "--suffix", "Bad:Name"), "--suffix"),
        (finetune(cli, shape_dataset, tmp_path / "r5", "--rank", "0"), "rank must be"),
        (finetune(cli, shape_dataset, tmp_path / "r6", "--model", "nope"), "unknown model"),
        (generate(cli, tmp_path / "g", "--adapter", str(tmp_path / "nowhere")), "not an adapter folder"),
    ]
    for result, message in cases:
        assert result.exit_code == 2, result.output
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and message in lines[0], lines
    assert not (tmp_path / "r1" / "adapter").exists()
