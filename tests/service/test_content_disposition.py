"""File names from clients: stored safely, sent back per RFC 6266 / RFC 5987."""

from urllib.parse import unquote

import pytest

from gesso.service.files.content_disposition import (
    MAX_FILENAME_CHARS,
    attachment_disposition,
    safe_filename,
)


@pytest.mark.parametrize("name", ["数据集.zip", "😀.zip", 'a"b.zip', "a\r\nSet-Cookie: x=1.zip", "\udc80.zip",
                                  "x" * 5000, "a\u202eevil.zip", "../../etc/passwd", "", "\x00"])
def test_any_name_gives_a_latin1_header_with_the_exact_name_encoded(name):
    header = attachment_disposition(name)
    header.encode("latin-1")  # what an HTTP header must be
    assert "\r" not in header and "\n" not in header
    fallback = header.split('filename="', 1)[1].split('"', 1)[0]
    assert fallback.isascii() and fallback.isprintable()
    assert unquote(header.split("filename*=UTF-8''", 1)[1], errors="strict") == safe_filename(name)


def test_safe_names_keep_what_people_type_and_drop_the_rest():
    assert safe_filename("数据集 😀.zip") == "数据集 😀.zip"
    assert safe_filename("a\r\nb\u200b.zip") == "ab.zip"
    assert safe_filename("C:\\Users\\me\\set.zip") == "set.zip"
    assert safe_filename("\udc80x") == "?x"
    assert len(safe_filename("é" * 1000)) == MAX_FILENAME_CHARS
    assert safe_filename("..") == safe_filename(None) == "upload"
