import io
import json
import os
from pathlib import Path

import pytest
from PIL import Image

from gesso.data.validation import ImageLimits, InvalidImage, check_image_bytes, validate_dataset
from tests.conftest import make_shape_image, png_bytes


def write_dataset(root: Path, rows: list[dict], files: dict[str, bytes]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (root / name).write_bytes(data)
    (root / "metadata.jsonl").write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n")
    return root


def test_clean_dataset_passes(shape_dataset):
    report = validate_dataset(shape_dataset)
    assert report.ok, report.summary()
    assert len(report.rows) == 16 and len(report.sha256) == 16


def test_every_kind_of_bad_row_is_reported_with_its_line(tmp_path):
    good = png_bytes()
    buf = io.BytesIO()
    make_shape_image("blue", "circle").save(buf, format="PNG")
    other_good = buf.getvalue()
    files = {
        "ok.png": good,
        "dup.png": good,
        "empty.png": b"",
        "text.png": b"this is not an image",
        "tiny.png": png_bytes((4, 4)),
        "truncated.png": other_good[: len(other_good) // 2],
        "nocap.png": png_bytes(colour="green"),
    }
    rows = [
        {"file_name": "ok.png", "text": "red square"},
        {"file_name": "dup.png", "text": "same bytes again"},
        {"file_name": "empty.png", "text": "empty"},
        {"file_name": "text.png", "text": "not an image"},
        {"file_name": "tiny.png", "text": "tiny"},
        {"file_name": "truncated.png", "text": "truncated"},
        {"file_name": "nocap.png", "text": ""},
        {"file_name": "missing.png", "text": "missing"},
        {"file_name": "../escape.png", "text": "traversal"},
        "{not json",
        {"text": "no file name"},
    ]
    report = validate_dataset(write_dataset(tmp_path / "ds", rows, files), ImageLimits(min_side=16))
    reasons = {p.line: p.reason for p in report.problems}
    assert [r.file_name for r in report.rows] == ["ok.png"]
    assert "duplicate" in reasons[2]
    assert reasons[3] == "empty file"
    assert "not a readable image" in reasons[4]
    assert "smaller than 16" in reasons[5]
    assert "corrupt or truncated" in reasons[6]
    assert reasons[7] == "missing caption"
    assert reasons[8] == "file not found"
    assert "escapes" in reasons[9]
    assert "not valid JSON" in reasons[10]
    assert "file_name" in reasons[11]
    assert not report.ok and "line 7" in report.summary()


def test_missing_captions_allowed_when_not_required(tmp_path):
    root = write_dataset(tmp_path / "ds", [{"file_name": "a.png", "text": ""}], {"a.png": png_bytes()})
    assert not validate_dataset(root).ok
    assert validate_dataset(root, require_captions=False).ok


def test_symlink_inside_dataset_is_refused(tmp_path):
    secret = tmp_path / "secret.png"
    secret.write_bytes(png_bytes())
    root = write_dataset(tmp_path / "ds", [{"file_name": "link.png", "text": "x"}], {})
    os.symlink(secret, root / "link.png")
    report = validate_dataset(root)
    assert report.problems[0].reason == "file is a link"


def test_missing_metadata_file(tmp_path):
    (tmp_path / "ds").mkdir()
    report = validate_dataset(tmp_path / "ds")
    assert not report.ok and "metadata.jsonl" in report.problems[0].reason


def test_decompression_bomb_is_refused_before_decoding():
    buf = io.BytesIO()
    Image.new("1", (20000, 20000)).save(buf, format="PNG")  # a few KB on disk, 400 Mpx decoded
    with pytest.raises(InvalidImage, match="pixel limit"):
        check_image_bytes(buf.getvalue(), ImageLimits(max_pixels=4096 * 4096))


def test_oversized_file_and_unsupported_format():
    with pytest.raises(InvalidImage, match="byte limit"):
        check_image_bytes(png_bytes(), ImageLimits(max_bytes=10))
    buf = io.BytesIO()
    Image.new("RGB", (32, 32)).save(buf, format="TIFF")
    with pytest.raises(InvalidImage, match="unsupported image format"):
        check_image_bytes(buf.getvalue())


def test_dataset_images_go_through_the_bounded_decoder(tmp_path, monkeypatch):
    from PIL import ImageFile

    from tests.hostile_images import huge_png, random_bytes, truncated_png

    files = {"huge.png": huge_png(14000, 14000), "mid.png": huge_png(4200, 4200), "noise.png": random_bytes(),
             "cut.png": truncated_png()}
    rows = [{"file_name": name, "text": name} for name in files]
    root = write_dataset(tmp_path / "ds", rows, files)
    loaded: list[tuple[int, int]] = []
    real_load = ImageFile.ImageFile.load
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: loaded.append(self.size) or real_load(self))
    report = validate_dataset(root, ImageLimits(max_pixels=4096 * 4096))
    reasons = {p.file_name: p.reason for p in report.problems}
    assert "pixel limit" in reasons["huge.png"] and "pixel limit" in reasons["mid.png"]
    assert "not a readable image" in reasons["noise.png"] and "corrupt or truncated" in reasons["cut.png"]
    assert (4200, 4200) not in loaded and (14000, 14000) not in loaded
