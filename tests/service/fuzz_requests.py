"""Hostile request parts for fuzzing every route of a real server: the routes come from the app's
OpenAPI document (so a new route is fuzzed without a test change), the values from hypothesis.

Requests go out from 127.0.0.2, so the failed authentications they cause are counted against
that address and never against 127.0.0.1, the address every other test of the shared server
uses (the server limits failed authentications per source address).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import quote

import httpx
from hypothesis import strategies as st

from gesso.service.app import create_app
from gesso.settings import Settings
from tests.conftest import png_bytes

FUZZ_SOURCE_ADDRESS = "127.0.0.2"
ROLES = ("admin", "developer", "viewer", "auditor")


@dataclass(frozen=True)
class Operation:
    method: str
    path: str  # the OpenAPI template, `/v1/images/jobs/{job_id}`
    path_params: tuple[str, ...]
    query_params: tuple[str, ...]
    header_params: tuple[str, ...]
    json_fields: tuple[str, ...] | None  # None: no JSON body
    required_json: tuple[str, ...]
    form_fields: tuple[str, ...] | None  # None: no multipart body
    file_fields: tuple[str, ...]

    @property
    def id(self) -> str:
        return f"{self.method} {self.path}"


def _resolve(schema: dict, document: dict) -> dict:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = document["components"]["schemas"][name]
    return schema


def openapi_document() -> dict:
    """The app's OpenAPI document, built in-process (no server, no database)."""
    return create_app(Settings()).openapi()


def operations(document: dict) -> list[Operation]:
    """Every operation of the document, with the names of its parameters and body fields."""
    found = []
    for path, methods in document["paths"].items():
        for method, op in methods.items():
            params = op.get("parameters", [])
            names = {where: tuple(p["name"] for p in params if p["in"] == where) for where in ("path", "query", "header")}
            content = op.get("requestBody", {}).get("content", {})
            json_fields = required = form_fields = None
            files: tuple[str, ...] = ()
            if "application/json" in content:
                schema = _resolve(content["application/json"]["schema"], document)
                json_fields = tuple(schema.get("properties", {}))
                required = tuple(schema.get("required", ()))
            if "multipart/form-data" in content:
                schema = _resolve(content["multipart/form-data"]["schema"], document)
                props = schema.get("properties", {})
                files = tuple(n for n, p in props.items() if p.get("format") == "binary")
                form_fields = tuple(n for n in props if n not in files)
            found.append(Operation(method.upper(), path, names["path"], names["query"], names["header"],
                                   json_fields, required or (), form_fields, files))
    return found


# -- values -----------------------------------------------------------------------------------------
# Curated hostile values come first (hypothesis picks each branch of `|` about as often), so a
# few examples per route already meet the classes: non-finite and huge numbers, non-ASCII digits,
# NUL, lone surrogates, huge and deeply nested values, wrong types.

NUMBER_TEXTS = ["0", "-1", "1e400", "-1e400", "-1e20", "1e-400", "NaN", "inf", "-Infinity", "9" * 23,
                "9" * 5000, "0x10", "1_000", "\u0661\u0662\u0663", "\u00b2", "\uff11", " 1 "]
TEXTS = ["", "a" * 5000, "..", "../../etc/passwd", "a/b", "<script>", "' OR 1=1 --", "\u202egnp.exe",
         "\U0001f600", "img_" + "a" * 32, "ft:gesso-base:x:y:ftjob_0", "key_" + "f" * 32, "store", "url"]
# already percent-encoded path or query text: NUL, an encoded lone surrogate, invalid UTF-8, slashes
ENCODED = ["%00", "%ED%A0%80", "%FF%FE", "%2F", "%2e%2e%2f", "%0d%0a", "%C0%AF", "%25", "a%20b"]

plain_texts = st.sampled_from(NUMBER_TEXTS + TEXTS) | st.text(max_size=40)
url_texts = (
    st.sampled_from(NUMBER_TEXTS).map(lambda text: quote(text, safe=""))
    | st.sampled_from(ENCODED)
    | plain_texts.map(lambda text: quote(text, safe=""))
)
# header values: latin-1 without CR, LF or NUL (which no client can send)
header_texts = (
    st.sampled_from(NUMBER_TEXTS[:12] + ["k" * 8000, "\xff\xfe", "caf\u00e9", "a\tb", "a" * 201, "x"])
    | st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=40)
)

# JSON fragments written by hand: Python's json cannot write 1e400 or a lone surrogate escape
HOSTILE_JSON = [
    "1e400", "-1e400", "NaN", "Infinity", "1" + "0" * 30, "-" + "9" * 400, '"\\ud800"', '"a\\udfffb"',
    '"\\u0000"', '"' + "x" * 100_000 + '"', "[" * 5000 + "]" * 5000, '{"a":' * 2000 + "1" + "}" * 2000,
    '["\\ud800"]', '{"\\ud800": 1}', "4.9e-324",
]
OTHER_JSON = ["null", "true", "false", "0", "-1", "0.5", "30", "101", '""', '"x"', "[]", "{}", "[1, 2]",
              '{"model": "m"}', '"store"', '"auto"']
json_fragments = (
    st.sampled_from(HOSTILE_JSON)
    | st.sampled_from(OTHER_JSON)
    | st.integers().map(str)
    | plain_texts.map(json.dumps)
)
# whole bodies that are not an object, or not JSON at all
BAD_BODIES = [b"", b"null", b"[]", b"1e400", b'"\\ud800"', b"{", b'{"a": }', b"[" * 100_000, b"\xff\xfe", b"{}{}"]
# credentials other than the admin key every request is also sent with
CREDENTIALS = (*ROLES[1:], "none", "garbage")
GARBAGE_AUTHORIZATION = ["Bearer ", "Bearer " + "x" * 5000, "Basic Zm9vOmJhcg==", "Bearer g-\xe9", "bearer  two  parts"]


def json_body(fields: dict[str, str]) -> bytes:
    """An object from field name -> already-written JSON fragment."""
    return ("{" + ",".join(f"{json.dumps(name)}:{value}" for name, value in fields.items()) + "}").encode()


@st.composite
def json_bodies(draw: st.DrawFn, op: Operation) -> bytes:
    if draw(st.integers(0, 9)) == 0:
        return draw(st.sampled_from(BAD_BODIES))
    fields = {name: '"a red circle"' for name in op.required_json}
    names = list(op.json_fields or ()) + ["\ud800", "unknown", "a" * 300]
    for name in draw(st.lists(st.sampled_from(names), min_size=1, max_size=3, unique=True)):
        fields[name] = draw(json_fragments)
    return json_body(fields)


@st.composite
def form_parts(draw: st.DrawFn, op: Operation) -> tuple[dict[str, str], dict[str, tuple[str, bytes, str]]]:
    fields = {}
    for name in draw(st.lists(st.sampled_from(list(op.form_fields or ()) + ["unknown"]), max_size=3, unique=True)):
        fields[name] = draw(plain_texts | st.sampled_from(["a\x00b", "x" * 40_000]))
    files = {}
    for name in op.file_fields:
        kind = draw(st.sampled_from(["png", "garbage", "empty", "omit"]))
        if kind != "omit":
            data = {"png": png_bytes(), "garbage": b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "empty": b""}[kind]
            files[name] = (draw(st.sampled_from(["a.png", "../../x", "\u00e9.jsonl", ""])), data, "image/png")
    return fields, files


@dataclass(frozen=True)
class FuzzRequest:
    method: str
    url: str
    headers: dict[str, str]
    content: bytes | None = None
    data: dict[str, str] | None = None
    files: dict[str, tuple[str, bytes, str]] | None = None


@st.composite
def fuzz_requests(draw: st.DrawFn, op: Operation) -> FuzzRequest:
    """One request to `op` with some parts replaced by hostile values (no credentials)."""
    path = op.path
    for name in op.path_params:
        path = path.replace("{" + name + "}", draw(url_texts.filter(lambda text: text not in ("", ".", ".."))))
    query = [(name, draw(url_texts)) for name in op.query_params if draw(st.booleans())]
    if draw(st.integers(0, 4)) == 0:
        query.append((draw(st.sampled_from(["token", "limit", "x", "%00"])), draw(url_texts)))
    url = path + ("?" + "&".join(f"{quote(name, safe='%')}={value}" for name, value in query) if query else "")
    headers: dict[str, str] = {}
    for name in op.header_params:
        if draw(st.booleans()):
            headers[name] = draw(header_texts)
    if op.json_fields is not None:
        headers["Content-Type"] = draw(
            st.sampled_from(["application/json"] * 5 + ["text/plain", "application/json; charset=latin-1"])
        )
        return FuzzRequest(op.method, url, headers, content=draw(json_bodies(op)))
    if op.form_fields is not None:
        fields, files = draw(form_parts(op))
        return FuzzRequest(op.method, url, headers, data=fields, files=files or None)
    return FuzzRequest(op.method, url, headers)


@st.composite
def authorizations(draw: st.DrawFn, keys: dict[str, str]) -> str | None:
    """The Authorization header of a non-admin role, of garbage, or none."""
    credential = draw(st.sampled_from(CREDENTIALS))
    if credential == "none":
        return None
    if credential == "garbage":
        return draw(st.sampled_from(GARBAGE_AUTHORIZATION))
    return f"Bearer {keys[credential]}"


def fuzz_client(base_url: str) -> httpx.Client:
    transport = httpx.HTTPTransport(local_address=FUZZ_SOURCE_ADDRESS)
    return httpx.Client(base_url=base_url, transport=transport, timeout=120)


def send(client: httpx.Client, request: FuzzRequest, authorization: str | None) -> httpx.Response:
    with_auth = {**request.headers, **({"Authorization": authorization} if authorization else {})}
    # HTTP strips a value's outer whitespace, and the client refuses to send it
    headers = {name: value.strip(" \t").encode("latin-1") for name, value in with_auth.items()}
    return client.request(request.method, request.url, headers=headers, content=request.content,
                          data=request.data, files=request.files)


def assert_answered_in_openai_shape(response: httpx.Response, what: str) -> None:
    """No 5xx; a 4xx carries OpenAI's error object."""
    assert response.status_code < 500, f"{what} -> {response.status_code}: {response.text[:500]}"
    if response.status_code >= 400:
        body = response.json()
        assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}, body
        assert isinstance(body["error"]["message"], str) and body["error"]["message"]


def describe(request: FuzzRequest) -> str:
    body = request.content[:200] if request.content else request.data
    return f"{request.method} {request.url[:300]} headers={ {k: v[:80] for k, v in request.headers.items()} } body={body!r}"
