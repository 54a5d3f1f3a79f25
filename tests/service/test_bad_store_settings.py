"""`gesso serve` and `gesso worker` with a database or object store setting that cannot work stop
at start with one line on stderr and exit 2: no traceback, nothing migrated."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from sqlalchemy import create_engine, inspect

from tests.real_servers import free_port


def start(tmp_path, name: str, command: list[str], **env: str) -> subprocess.Popen:  # noqa: ANN001
    data_dir = tmp_path / name
    variables = {**os.environ, "GESSO_DATA_DIR": str(data_dir), "GESSO_PORT": str(free_port()), **env}
    return subprocess.Popen([sys.executable, "-m", "gesso.cli", *command], env=variables,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.fixture()
def unused_database(postgres_url: str):
    yield postgres_url
    engine = create_engine(postgres_url)
    try:
        assert inspect(engine).get_table_names() == [], "a refused start migrated the database"
    finally:
        engine.dispose()


def test_bad_store_settings_stop_serve_and_worker_with_one_line(tmp_path, seaweed_server, unused_database):
    s3 = seaweed_server.environment()
    unreachable = f"postgresql+psycopg://gesso:s3cret@127.0.0.1:{free_port()}/gesso"
    runs = {
        "serve, unreachable database": start(tmp_path, "a", ["serve"], GESSO_DATABASE_URL=unreachable),
        "serve, wrong bucket credentials": start(
            tmp_path, "b", ["serve"], GESSO_DATABASE_URL=unused_database, GESSO_BLOB_URL=seaweed_server.blob_url(),
            **{**s3, "AWS_SECRET_ACCESS_KEY": "not-the-secret"}),
        "serve, missing bucket": start(
            tmp_path, "c", ["serve", "--no-worker"], GESSO_DATABASE_URL=unused_database,
            GESSO_BLOB_URL="s3://no-such-bucket-here/gesso", **s3),
        "worker, unreachable database": start(
            tmp_path, "d", ["worker", "--kind", "images"], GESSO_DATABASE_URL=unreachable),
    }
    says = {
        "serve, unreachable database": "cannot connect",
        "serve, wrong bucket credentials": "credentials refused",
        "serve, missing bucket": "does not exist",
        "worker, unreachable database": "cannot connect",
    }
    for what, process in runs.items():
        stdout, stderr = process.communicate(timeout=120)
        assert process.returncode == 2, (what, stderr[-2000:])
        lines = stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and says[what] in lines[0], (what, stderr[-2000:])
        assert "s3cret" not in stderr and "not-the-secret" not in stderr
        assert "Gesso is serving" not in stdout
    assert not (tmp_path / "a" / "gesso.db").exists()
