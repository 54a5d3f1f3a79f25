"""`gesso tenants create` and `gesso keys create`: secrets printed once, bad input exits 2."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from gesso.cli import app
from gesso.settings import get_settings


@pytest.fixture()
def runner(tmp_path, monkeypatch):
    monkeypatch.setenv("GESSO_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def test_keys_create_prints_a_working_secret(runner, tmp_path):
    from gesso.governance.api_keys import find_active_key
    from gesso.store.database import database_url, open_database

    assert runner.invoke(app, ["tenants", "create", "acme"]).exit_code == 0
    result = runner.invoke(app, ["keys", "create", "--tenant", "acme", "--role", "viewer"])
    assert result.exit_code == 0
    secret = result.stdout.strip()
    with open_database(database_url(tmp_path))() as session:
        assert find_active_key(session, secret).role == "viewer"


@pytest.mark.parametrize(
    "args",
    [
        ["keys", "create", "--tenant", "nobody", "--role", "viewer"],
        ["keys", "create", "--tenant", "acme", "--role", "root"],
        ["tenants", "create", "Bad Name!"],
    ],
)
def test_bad_key_requests_exit_2(runner, args):
    runner.invoke(app, ["tenants", "create", "acme"])
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ")
