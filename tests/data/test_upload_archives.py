"""Untrusted fine-tune uploads: every kind of bad archive and bad row is refused, nothing is left."""

import base64
import hashlib
import io
import json
import struct
import tarfile
import zipfile
import zlib
from pathlib import Path

import pytest
from PIL import Image

from gesso.data.upload_archives import ArchiveLimits, UploadRejected, detect_upload_kind, store_upload
from gesso.data.validation import ImageLimits
from tests.conftest import make_shape_image


def png(colour: str = "red", shape: str = "circle", size: int = 32) -> bytes:
    buf = io.BytesIO()
    make_shape_image(colour, shape, size).save(buf, format="PNG")
    return buf.getvalue()


def pixel_bomb_png(width: int = 40000, height: int = 40000) -> bytes:
    """A tiny PNG whose header claims a huge image (the classic decompression bomb)."""
    data = bytearray(png())
    ihdr = data[12:29]  # b"IHDR" + 13 bytes of header fields
    ihdr[4:12] = struct.pack(">II", width, height)
    data[12:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(ihdr)))
    return bytes(data)


def metadata(rows: list[dict | str]) -> bytes:
    return ("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n").encode()


def good_files(count: int = 4) -> dict[str, bytes]:
    colours = ["red", "green", "blue", "orange", "purple", "black"]
    files = {f"{c}.png": png(c) for c in colours[:count]}
    files["metadata.jsonl"] = metadata([{"file_name": n, "text": f"{n[:-4]} circle"} for n in files])
    return files


def write_zip(path: Path, files: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", compression) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return path


def write_tar(path: Path, files: dict[str, bytes], mode: str = "w:gz", extra: list[tarfile.TarInfo] = ()) -> Path:
    with tarfile.open(path, mode) as tf:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        for info in extra:
            tf.addfile(info)
    return path


def rejected(upload: Path, tmp_path: Path, **kw) -> list[str]:
    """Store `upload`, expect a refusal, check nothing was left behind; return the problem lines."""
    before = set(tmp_path.iterdir())
    with pytest.raises(UploadRejected) as info:
        store_upload(upload, tmp_path / "dataset", **kw)
    assert set(tmp_path.iterdir()) == before, "a refused upload left files behind"
    return [str(p) for p in info.value.problems]


# -- good uploads ------------------------------------------------------------------------------------

def test_zip_upload_is_stored_with_its_sha256_count_and_preview(tmp_path):
    files = good_files(4) | {"README.txt": b"not listed, dropped"}
    upload = write_zip(tmp_path / "up.zip", files)
    stored = store_upload(upload, tmp_path / "dataset")
    assert stored.kind == "zip" and stored.image_count == 4
    assert stored.sha256 == hashlib.sha256(upload.read_bytes()).hexdigest()
    assert sorted(p.name for p in stored.root.iterdir()) == sorted(n for n in files if n != "README.txt")
    assert (stored.root / "red.png").read_bytes() == files["red.png"]
    preview = Image.open(io.BytesIO(stored.preview_png))
    assert preview.format == "PNG" and preview.width > 64 * 2


def test_tar_gz_with_one_top_folder_and_plain_tar_are_stored(tmp_path):
    nested = {f"brand/{name}": data for name, data in good_files(3).items()}
    stored = store_upload(write_tar(tmp_path / "up.tar.gz", nested), tmp_path / "a")
    assert stored.kind == "tar" and stored.image_count == 3
    assert (stored.root / "metadata.jsonl").is_file() and (stored.root / "green.png").is_file()
    plain = store_upload(write_tar(tmp_path / "up.tar", good_files(2), mode="w"), tmp_path / "b")
    assert plain.image_count == 2


def test_jsonl_upload_decodes_base64_images_and_data_urls(tmp_path):
    lines = [
        {"image": base64.b64encode(png("red")).decode(), "text": "red circle"},
        "",
        {"image": "data:image/png;base64," + base64.b64encode(png("blue")).decode(), "caption": "blue one"},
    ]
    upload = tmp_path / "up.jsonl"
    upload.write_bytes(metadata(lines))
    stored = store_upload(upload, tmp_path / "dataset")
    assert stored.kind == "jsonl" and stored.image_count == 2
    assert [r.text for r in stored.rows] == ["red circle", "blue one"]
    assert (stored.root / stored.rows[1].file_name).read_bytes() == png("blue")


def test_missing_captions_are_allowed_only_with_a_trigger_word(tmp_path):
    files = good_files(2)
    files["metadata.jsonl"] = metadata([{"file_name": "red.png"}, {"file_name": "green.png", "text": ""}])
    upload = write_zip(tmp_path / "up.zip", files)
    problems = rejected(upload, tmp_path)
    assert len(problems) == 2 and all("missing caption" in p for p in problems)
    stored = store_upload(upload, tmp_path / "dataset", trigger="acme")
    assert stored.image_count == 2


# -- bad archives ------------------------------------------------------------------------------------

def test_path_traversal_and_absolute_paths_are_refused(tmp_path):
    zip_up = write_zip(tmp_path / "up.zip", good_files(2) | {"../evil.png": png("black")})
    assert any("../evil.png" in p and "escapes" in p for p in rejected(zip_up, tmp_path))
    tar_up = write_tar(tmp_path / "up.tar.gz", good_files(2) | {"/etc/evil.png": png("black")})
    assert any("/etc/evil.png" in p and "escapes" in p for p in rejected(tar_up, tmp_path))
    assert not (tmp_path.parent / "evil.png").exists()


def test_symlinks_hardlinks_and_devices_in_tar_are_refused(tmp_path):
    link = tarfile.TarInfo("link.png")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    hard = tarfile.TarInfo("hard.png")
    hard.type, hard.linkname = tarfile.LNKTYPE, "red.png"
    device = tarfile.TarInfo("dev.png")
    device.type, device.devmajor, device.devminor = tarfile.CHRTYPE, 1, 3
    upload = write_tar(tmp_path / "up.tar.gz", good_files(2), extra=[link, hard, device])
    problems = rejected(upload, tmp_path)
    assert any("link.png" in p and "link" in p for p in problems)
    assert any("hard.png" in p and "link" in p for p in problems)
    assert any("dev.png" in p and "device" in p for p in problems)


def test_symlink_in_zip_is_refused(tmp_path):
    upload = tmp_path / "up.zip"
    write_zip(upload, good_files(2))
    with zipfile.ZipFile(upload, "a") as zf:
        info = zipfile.ZipInfo("link.png")
        info.create_system = 3
        info.external_attr = (0o120777 << 16)
        zf.writestr(info, "/etc/passwd")
    assert any("link.png" in p and "link" in p for p in rejected(upload, tmp_path))


def test_zip_bomb_by_compression_ratio_is_refused_from_the_headers(tmp_path):
    upload = write_zip(tmp_path / "up.zip", good_files(2) | {"zeros.png": b"\0" * (3 * 1024 * 1024)})
    problems = rejected(upload, tmp_path)
    assert len(problems) == 1 and "bomb" in problems[0]


def test_tar_gz_bomb_by_ratio_is_refused(tmp_path):
    upload = write_tar(tmp_path / "up.tar.gz", good_files(2) | {"zeros.png": b"\0" * (3 * 1024 * 1024)})
    problems = rejected(upload, tmp_path)
    assert len(problems) == 1 and "bomb" in problems[0]


def test_total_size_and_member_count_limits(tmp_path):
    upload = write_zip(tmp_path / "up.zip", good_files(4), compression=zipfile.ZIP_STORED)
    assert "bomb" in rejected(upload, tmp_path, limits=ArchiveLimits(max_total_bytes=200))[0]
    assert "more than 3 members" in rejected(upload, tmp_path, limits=ArchiveLimits(max_members=3))[0]
    tar_up = write_tar(tmp_path / "up.tar", good_files(4), mode="w")
    assert "more than 3 members" in rejected(tar_up, tmp_path, limits=ArchiveLimits(max_members=3))[0]
    too_big = rejected(upload, tmp_path, limits=ArchiveLimits(max_upload_bytes=100))
    assert "over the 100 byte limit" in too_big[0]


def test_tar_bytes_beyond_the_declared_sizes_are_counted_while_streaming(tmp_path):
    # a pax record is not a member's data: only the streaming count sees its bytes
    upload = tmp_path / "up.tar"
    with tarfile.open(upload, "w", format=tarfile.PAX_FORMAT) as tf:
        info = tarfile.TarInfo("red.png")
        data = png("red")
        info.size = len(data)
        info.pax_headers = {"comment": "x" * 200_000}
        tf.addfile(info, io.BytesIO(data))
    limits = ArchiveLimits(max_total_bytes=50_000, max_members=4)
    assert "bomb" in rejected(upload, tmp_path, limits=limits)[0]


def test_corrupt_archives_are_refused(tmp_path):
    not_zip = tmp_path / "bad.zip"
    not_zip.write_bytes(b"PK\x03\x04" + b"garbage" * 100)
    assert rejected(not_zip, tmp_path) == ["dataset: not a valid zip archive"]

    good = write_zip(tmp_path / "good.zip", good_files(2), compression=zipfile.ZIP_DEFLATED)
    raw = bytearray(good.read_bytes())
    with zipfile.ZipFile(good) as zf:
        info = zf.getinfo("red.png")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra) + 10
    raw[start : start + 40] = bytes(40)  # damage the compressed data, keep the directory
    damaged = tmp_path / "damaged.zip"
    damaged.write_bytes(bytes(raw))
    assert any("red.png" in p and "corrupt" in p for p in rejected(damaged, tmp_path))

    truncated = tmp_path / "bad.tar.gz"
    truncated.write_bytes(write_tar(tmp_path / "t.tar.gz", good_files(3)).read_bytes()[:300])
    (tmp_path / "t.tar.gz").unlink()
    problems = rejected(truncated, tmp_path)
    assert len(problems) == 1 and "tar archive" in problems[0]


def test_duplicate_members_and_unknown_uploads(tmp_path):
    upload = write_tar(tmp_path / "up.tar", good_files(2), mode="w")
    with tarfile.open(upload, "a") as tf:
        info = tarfile.TarInfo("red.png")
        data = png("blue")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    assert any("listed twice" in p for p in rejected(upload, tmp_path))
    unknown = tmp_path / "up.bin"
    unknown.write_bytes(b"\x00\x01 not an archive")
    assert rejected(unknown, tmp_path) == ["dataset: not a zip, tar or JSONL upload"]
    empty = tmp_path / "empty.zip"
    empty.write_bytes(b"")
    assert rejected(empty, tmp_path) == ["dataset: the upload is empty"]
    assert detect_upload_kind(write_zip(tmp_path / "k.zip", {"a": b"b"})) == "zip"


# -- bad rows ------------------------------------------------------------------------------------------

def test_every_kind_of_bad_row_is_listed_in_one_report(tmp_path):
    files = {
        "ok.png": png("red"),
        "dup.png": png("red"),
        "text.png": b"this is not an image",
        "tiny.png": png("green", size=8),
        "bomb.png": pixel_bomb_png(),
        "nocap.png": png("blue"),
        "big.png": png("orange", size=100),
    }
    files["metadata.jsonl"] = metadata(
        [
            {"file_name": "ok.png", "text": "fine"},
            {"file_name": "dup.png", "text": "same bytes"},
            {"file_name": "text.png", "text": "not an image"},
            {"file_name": "tiny.png", "text": "too small"},
            {"file_name": "bomb.png", "text": "pixel bomb"},
            {"file_name": "nocap.png", "text": ""},
            {"file_name": "missing.png", "text": "not in the archive"},
            "{not json",
            {"file_name": "big.png", "text": "over a low pixel limit"},
        ]
    )
    upload = write_zip(tmp_path / "up.zip", files)
    problems = rejected(upload, tmp_path, image_limits=ImageLimits(max_pixels=64 * 64 * 2))
    expected = {
        2: "duplicate",
        3: "not a readable image",
        4: "smaller than",
        5: "pixel limit",
        6: "missing caption",
        7: "not found",
        8: "not valid JSON",
        9: "pixel limit",
    }
    assert len(problems) == len(expected)
    for line, reason in expected.items():
        assert any(p.startswith(f"line {line}") and reason in p for p in problems), (line, problems)


def test_bad_jsonl_lines_are_reported_by_their_upload_line(tmp_path):
    good = base64.b64encode(png("red")).decode()
    lines = [
        "",
        {"image": good, "text": "ok"},
        "not json at all",
        '["a", "list"]',
        {"text": "no image"},
        {"image": "@@not base64@@", "text": "bad base64"},
        {"image": base64.b64encode(b"plain text").decode(), "text": "not an image"},
        {"image": good, "text": "duplicate"},
        {"image": base64.b64encode(png("blue")).decode(), "text": 7},
    ]
    upload = tmp_path / "up.jsonl"
    upload.write_bytes(metadata(lines))
    problems = rejected(upload, tmp_path)
    expected = {  # line 1 is blank: the numbers are the upload's own
        3: "not valid JSON",
        4: "not a JSON object",
        5: "missing 'image'",
        6: "not valid base64",
        7: "not a readable image",
        8: "duplicate of the image on line 2",
        9: "'text' must be a string",
    }
    assert len(problems) == len(expected), problems
    for line, reason in expected.items():
        assert any(p.startswith(f"line {line}:") and reason in p for p in problems), (line, problems)


# -- whole-archive bounds: many small members, unlisted members, lying headers ------------------------

def many_zeros(count: int, size: int, listed: bool) -> dict[str, bytes]:
    files = good_files(2)
    names = [f"z/{i:04d}.png" for i in range(count)]
    if listed:
        rows = [json.loads(line) for line in files["metadata.jsonl"].decode().splitlines()]
        files["metadata.jsonl"] = metadata(rows + [{"file_name": n, "text": "zeros"} for n in names])
    return files | {name: bytes(size) for name in names}


def no_member_written(monkeypatch) -> None:
    """Fail the test if any archive member is written (a refusal must come from the plan)."""
    import gesso.data.upload_archives as module

    def refuse(*args, **kwargs):
        raise AssertionError("a member was written before the refusal")

    monkeypatch.setattr(module, "copy_limited", refuse)


@pytest.mark.parametrize("listed", [False, True])
def test_zip_of_many_small_zero_members_is_refused_before_anything_is_written(tmp_path, monkeypatch, listed):
    upload = write_zip(tmp_path / "up.zip", many_zeros(1000, 16 * 1024, listed))
    no_member_written(monkeypatch)
    problems = rejected(upload, tmp_path)
    assert len(problems) == 1 and "archive bomb" in problems[0] and "20:1" in problems[0]


def test_tar_gz_of_many_small_zero_members_is_refused_before_anything_is_written(tmp_path, monkeypatch):
    upload = write_tar(tmp_path / "up.tar.gz", many_zeros(1000, 16 * 1024, listed=True))
    no_member_written(monkeypatch)
    problems = rejected(upload, tmp_path)
    assert len(problems) == 1 and "archive bomb" in problems[0]


def test_members_not_named_in_the_metadata_are_never_written(tmp_path, monkeypatch):
    import gesso.data.upload_archives as module

    written: list[str] = []
    copy = module.copy_limited
    monkeypatch.setattr(module, "copy_limited", lambda src, target, *a: (written.append(target.name), copy(src, target, *a)))
    files = good_files(2) | {"README.txt": b"hello", "thumbs/red.png": png("red")}
    stored = store_upload(write_zip(tmp_path / "up.zip", files), tmp_path / "zip")
    assert sorted(written) == ["green.png", "metadata.jsonl", "red.png"] and stored.image_count == 2
    written.clear()
    nested = {f"brand/{n}": d for n, d in files.items()}
    store_upload(write_tar(tmp_path / "up.tar.gz", nested), tmp_path / "tar")
    assert sorted(written) == ["green.png", "metadata.jsonl", "red.png"]


def test_more_unlisted_members_than_the_bound_are_refused(tmp_path, monkeypatch):
    files = good_files(2) | {f"junk/{i}.txt": b"x" for i in range(5)}
    no_member_written(monkeypatch)
    limits = ArchiveLimits(max_unlisted_members=4)
    for upload in (write_zip(tmp_path / "up.zip", files), write_tar(tmp_path / "up.tar", files, mode="w")):
        problems = rejected(upload, tmp_path, limits=limits)
        assert problems == ["dataset: 5 archive members are not named in metadata.jsonl (at most 4 may be; "
                            "they are never extracted)"]


def test_a_zip_member_larger_than_its_header_says_is_not_written_past_it(tmp_path):
    files = good_files(2) | {"z.png": bytes(200_000)}
    rows = [json.loads(line) for line in files["metadata.jsonl"].decode().splitlines()]
    files["metadata.jsonl"] = metadata(rows + [{"file_name": "z.png", "text": "zeros"}])
    upload = write_zip(tmp_path / "up.zip", files)
    raw = bytearray(upload.read_bytes())
    with zipfile.ZipFile(upload) as zf:
        info, entry = zf.getinfo("z.png"), zf.start_dir
    while raw[entry + 46 : entry + 51] != b"z.png":  # z.png's central directory entry
        entry = raw.index(b"PK\x01\x02", entry + 4)
    # both headers now claim 1000 bytes: the reader must stop there, not write 200 kB
    struct.pack_into("<I", raw, info.header_offset + 22, 1000)
    struct.pack_into("<I", raw, entry + 24, 1000)
    lying = tmp_path / "lying.zip"
    lying.write_bytes(bytes(raw))
    problems = rejected(lying, tmp_path)
    assert any("z.png" in p and ("corrupt" in p or "bomb" in p) for p in problems), problems
