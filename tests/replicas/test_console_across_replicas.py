"""The console holds no state on the server: it signs in with an API key kept in the browser's
sessionStorage, so a sign-in checked on one replica works on the other, and the signed image URLs
one replica makes open on the other (the URL-signing key lives in the shared keys folder)."""

from __future__ import annotations

import httpx

from tests.replicas.conftest import Topology


def test_signed_in_on_one_replica_the_console_works_on_the_other(topology: Topology):
    key = topology.make_key("console-tenant")
    with topology.http(0, key) as replica_a, topology.http(1, key) as replica_b:
        assert replica_a.get("/v1/me").json()["tenant"]["name"] == "console-tenant"  # the sign-in
        made = replica_a.post("/v1/images/generations", json={"prompt": "a console circle", "response_format": "url"})
        assert made.status_code == 200, made.text
        library = replica_b.get("/v1/images").json()["data"]  # the console's gallery, on the other replica
        assert len(library) == 1 and library[0]["url"].startswith(topology.replicas[1].url)
    signed_by_b = library[0]["url"].replace(topology.replicas[1].url, topology.replicas[0].url)
    signed_by_a = made.json()["data"][0]["url"].replace(topology.replicas[0].url, topology.replicas[1].url)
    for url in (signed_by_b, signed_by_a):  # no key: the token alone opens it, on the other replica
        opened = httpx.get(url)
        assert opened.status_code == 200 and opened.content.startswith(b"\x89PNG")
    forged = httpx.get(signed_by_a.split("token=")[0] + "token=" + signed_by_b.split("token=")[1][::-1])
    assert forged.status_code == 401  # a token is checked, not merely present
