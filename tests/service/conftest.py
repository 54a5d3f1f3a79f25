"""One real Gesso server (uvicorn on a loopback port, tiny random model) shared by the service
tests, plus helpers to make tenants and keys straight in its database."""

from __future__ import annotations

import io
import itertools
import json
from contextlib import ExitStack
from pathlib import Path
from typing import Callable, Iterator

import httpx
import openai
import pytest
from PIL import Image

from gesso.governance.api_keys import create_api_key
from gesso.governance.tenants import create_tenant
from gesso.store.database import database_url, open_database
from gesso.store.tables import Job
from tests.service.server_process import ServerProcess, install_test_model, running_server

MAX_BODY_BYTES = 2 * 1024 * 1024
MAX_UPLOAD_PIXELS = 512 * 512


@pytest.fixture(scope="session")
def models_dir(tiny_pipeline_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("served-models")
    install_test_model(tiny_pipeline_dir, folder)
    return folder


@pytest.fixture(scope="session")
def server(models_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    with running_server(
        tmp_path_factory.mktemp("server"),
        models_dir,
        default_steps=4,
        max_body_bytes=MAX_BODY_BYTES,
        max_upload_pixels=MAX_UPLOAD_PIXELS,
        max_batch_images=8,
    ) as proc:
        yield proc
    server_errors = answers_of_5xx(proc.log())
    assert not server_errors, f"the shared server answered 5xx during the run: {server_errors[:5]}"


@pytest.fixture()
def start_server(models_dir: Path, tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    """`start_server(**settings)`: a running server of the test's own (its GESSO_* settings as
    keywords), stopped when the test ends."""
    numbers = itertools.count()
    with ExitStack() as started:

        def start(**settings: object) -> ServerProcess:
            root = tmp_path / f"server-{next(numbers)}"
            root.mkdir()
            return started.enter_context(running_server(root, models_dir, **settings))

        yield start


def answers_of_5xx(log: str) -> list[dict]:
    """The request lines of a server's JSON log whose answer was a 5xx (readiness aside: `/readyz`
    answers 503 while the server starts and stops, which is its job)."""
    found = []
    for line in log.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if (isinstance(record, dict) and isinstance(record.get("status"), int) and record["status"] >= 500
                and record.get("path") != "/readyz"):
            found.append({key: record.get(key) for key in ("method", "path", "status", "request_id")})
    return found


@pytest.fixture(scope="session")
def admin_key(server: ServerProcess) -> str:
    """The key `gesso serve` printed on its first start."""
    return server.admin_key()


@pytest.fixture(scope="session")
def sessions(server: ServerProcess):
    return open_database(database_url(server.data_dir))


@pytest.fixture(scope="session")
def make_key(sessions) -> Callable[..., str]:
    """make_key(tenant, role, **kw) -> secret; the tenant is created when new."""
    from gesso.governance.tenants import find_tenant

    def make(tenant: str, role: str, images_per_day: int | None = None, rate_limit_per_minute: int | None = None) -> str:
        with sessions.begin() as session:
            found = find_tenant(session, tenant) or create_tenant(session, tenant, images_per_day)
            _, secret = create_api_key(session, found.id, role, rate_limit_per_minute=rate_limit_per_minute)
        return secret

    return make


@pytest.fixture(scope="session")
def dev_key(make_key) -> str:
    return make_key("acme", "developer")


@pytest.fixture(scope="session")
def other_key(make_key) -> str:
    return make_key("globex", "developer")


@pytest.fixture(scope="session")
def viewer_key(make_key) -> str:
    return make_key("acme", "viewer")


@pytest.fixture(scope="session")
def auditor_key(make_key) -> str:
    return make_key("acme", "auditor")


def job_row(sessions, job_id: str) -> Job:  # noqa: ANN001 - a sessionmaker
    """A job's row as the database holds it now."""
    with sessions() as session:
        return session.get(Job, job_id)


def sdk(server: ServerProcess, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key=key, max_retries=0, timeout=60)


def http(server: ServerProcess, key: str | None = None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.Client(base_url=server.url, headers=headers, timeout=60)


def mask_bytes(size: tuple[int, int] = (32, 32)) -> bytes:
    """Left half transparent (edit there), right half opaque (keep)."""
    mask = Image.new("RGBA", size, (0, 0, 0, 255))
    mask.paste((0, 0, 0, 0), (0, 0, size[0] // 2, size[1]))
    buffer = io.BytesIO()
    mask.save(buffer, format="PNG")
    return buffer.getvalue()


def assert_openai_error(response: httpx.Response, status: int, param: str | None = None) -> dict:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["message"]
    if param is not None:
        assert error["param"] == param, error
    return error
