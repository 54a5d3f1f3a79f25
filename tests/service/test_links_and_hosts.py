"""The Host header decides no link: a Host outside `allowed_hosts` gets 400 `invalid_host`, links
follow only an allowed Host (or `public_base_url`, or the bind address); and the API docs pages
are off by default and, when on, load nothing from outside the server."""

from __future__ import annotations

import json
import re
from types import SimpleNamespace

import httpx
import pytest
from starlette.requests import Request

from gesso.service.http.host_check import allowed_host_names, base_url, host_allowed, host_of
from gesso.settings import Settings
from tests.service.conftest import assert_openai_error
from tests.service.server_process import ServerProcess, running_server


@pytest.fixture(scope="module")
def hosts_key(make_key) -> str:
    return make_key("links-and-hosts", "developer", rate_limit_per_minute=10_000)


def _get(server: ServerProcess, path: str, host: str, key: str | None = None, **kw) -> httpx.Response:
    headers = {"Host": host, **({"Authorization": f"Bearer {key}"} if key else {})}
    return httpx.get(f"{server.url}{path}", headers=headers, timeout=60, **kw)


def test_request_with_a_foreign_host_is_refused_with_invalid_host(server, hosts_key):
    for host in ("evil.example", f"evil.example:{server.port}", "127.0.0.1.evil.example", "localhost.evil"):
        error = assert_openai_error(_get(server, "/v1/models", host, hosts_key), 400, "Host")
        assert error["code"] == "invalid_host"
    refused = httpx.post(f"{server.url}/v1/images/generations", headers={"Host": "evil.example",
                         "Authorization": f"Bearer {hosts_key}"}, json={"prompt": "x", "response_format": "url"})
    assert_openai_error(refused, 400, "Host")


def test_probes_answer_any_host(server):
    assert _get(server, "/healthz", "10.1.2.3:8000").status_code == 200
    assert _get(server, "/readyz", "pod.cluster.local").status_code == 200


def test_links_follow_an_allowed_host(server, hosts_key):
    with httpx.Client(base_url=server.url, headers={"Host": f"localhost:{server.port}",
                      "Authorization": f"Bearer {hosts_key}"}, timeout=60) as client:
        response = client.post("/v1/images/generations", json={"prompt": "a dot", "response_format": "url", "steps": 1})
    assert response.status_code == 200, response.text
    assert response.json()["data"][0]["url"].startswith(f"http://localhost:{server.port}/v1/images/img_")


def _request(host: str | None) -> Request:
    headers = [(b"host", host.encode())] if host is not None else []
    return Request({"type": "http", "method": "GET", "path": "/", "headers": headers, "query_string": b"",
                    "scheme": "http", "server": ("127.0.0.1", 8000), "root_path": ""})


def test_links_never_use_a_host_outside_the_list():
    state = SimpleNamespace(settings=Settings(host="0.0.0.0", port=9000))
    assert base_url(_request("evil.example"), state) == "http://127.0.0.1:9000"
    assert base_url(_request("localhost:9000"), state) == "http://localhost:9000"
    configured = SimpleNamespace(settings=Settings(public_base_url="https://gesso.corp.example/"))
    assert base_url(_request("evil.example"), configured) == "https://gesso.corp.example"


def test_default_allowed_hosts_are_loopback_bind_host_and_public_base_url():
    names = allowed_host_names(Settings(host="10.0.0.5", public_base_url="https://Gesso.Corp.Example:8443/api"))
    assert set(names) == {"localhost", "127.0.0.1", "::1", "10.0.0.5", "gesso.corp.example"}
    assert "0.0.0.0" not in allowed_host_names(Settings(host="0.0.0.0"))
    assert allowed_host_names(Settings(allowed_hosts=["A.example", "*.b.example"])) == ("a.example", "*.b.example")


@pytest.mark.parametrize(
    ("header", "allowed"),
    [("localhost:8000", True), ("LOCALHOST", True), ("[::1]:8000", True), ("x.b.example", True),
     ("b.example", False), ("xb.example", False), ("evil.example", False), ("", False), (None, True)],
)
def test_host_header_matching(header, allowed):
    assert host_allowed(header, ("localhost", "::1", "*.b.example")) is allowed


def test_host_of_strips_port_and_brackets():
    assert host_of("Example.COM:80") == "example.com"
    assert host_of("[2001:db8::1]:443") == "2001:db8::1"


def test_api_docs_are_off_by_default_and_openapi_stays(server):
    for path in ("/docs", "/redoc", "/docs/assets/swagger-ui-bundle.js"):
        assert httpx.get(f"{server.url}{path}").status_code == 404
    openapi = httpx.get(f"{server.url}/openapi.json")
    assert openapi.status_code == 200 and openapi.json()["paths"]


@pytest.fixture(scope="module")
def docs_server(models_dir, tmp_path_factory):
    with running_server(
        tmp_path_factory.mktemp("docs-server"), models_dir, default_steps=1, api_docs="true",
        allowed_hosts=json.dumps(["gesso.internal", "*.corp.example"]),
    ) as proc:
        yield proc


def test_enabled_api_docs_load_only_local_assets(docs_server):
    host = "gesso.internal"
    for path in ("/docs", "/redoc"):
        page = _get(docs_server, path, host)
        assert page.status_code == 200, page.text
        assert "default-src 'self'" in page.headers["content-security-policy"]
        # every script, style, icon and font the page names is on this server
        assert not re.search(r"(src|href)=['\"](https?:)?//", page.text), page.text
        assert "fonts.googleapis" not in page.text and "cdn." not in page.text
        for asset in re.findall(r"(?:src|href)=['\"](/[^'\"]+)['\"]", page.text):
            assert _get(docs_server, asset, host).status_code == 200, asset
    assert _get(docs_server, "/openapi.json", host).status_code == 200


def test_explicit_allowed_hosts_replace_the_defaults(docs_server):
    assert _get(docs_server, "/openapi.json", "api.corp.example:443").status_code == 200
    for host in ("corp.example", "127.0.0.1", f"localhost:{docs_server.port}"):
        assert_openai_error(_get(docs_server, "/openapi.json", host), 400, "Host")
