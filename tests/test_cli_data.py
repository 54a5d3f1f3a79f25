"""`gesso data build-emoji` refuses option mixes it cannot honour, in one line and exit code 2."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from gesso.cli import app


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--styles", "noto,google"], "mixes vector (noto) and raster (google)"),
        (["--styles", "google", "--size", "128"], "--size applies to vector styles only"),
        (["--styles", "noto", "--size", "5000"], "--size must be between 16 and 1024"),
        (["--styles", "noto,nope"], "unknown style(s): nope; choose from google"),
        (["--styles", ","], "unknown style(s): (none given)"),
    ],
)
def test_bad_option_mixes_exit_2_with_one_line(tmp_path, args: list[str], says: str) -> None:
    result = CliRunner().invoke(app, ["data", "build-emoji", "--out", str(tmp_path / "out"), *args])
    assert result.exit_code == 2, result.output
    assert says in result.output
    assert not (tmp_path / "out").exists()  # refused before anything was written
