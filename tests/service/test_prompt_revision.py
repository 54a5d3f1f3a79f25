"""The prompt-understanding step through the API: a plain-language prompt is revised to a concept
the model knows and the response's `revised_prompt` says so, exactly when a revision happened; a
request turns it off, a tenant sets the default, and the content policy sees the revised prompt."""

from __future__ import annotations

import json
import time
from hashlib import sha256
from pathlib import Path

import pytest

from gesso.data.dataset_format import DatasetRow
from gesso.governance.api_keys import create_api_key
from gesso.governance.tenant_policy import TenantSettings
from gesso.governance.tenants import create_tenant
from gesso.jobs.generation_request import GenerationRequest
from gesso.model.assembly import assemble_pipeline
from gesso.model.text_encoder import MiniLMEmbedder
from gesso.store.database import database_url, open_database
from gesso.train.vocabulary import write_vocabulary
from tests.conftest import png_bytes
from tests.service.conftest import assert_openai_error, http, sdk
from tests.service.server_process import running_server
from tests.service.test_governance_audit import wait_for

CONCEPTS = {"dog face": ["dog", "pet", "puppy"], "pizza": ["food", "cheese", "slice", "italian"],
            "rocket": ["space", "launch", "spaceship"]}


@pytest.fixture(scope="module")
def revising_server(tmp_path_factory):
    models = tmp_path_factory.mktemp("revising-models")
    folder = models / "gesso-base"
    assemble_pipeline("tiny", "tiny").save_pretrained(folder)
    corpus = tmp_path_factory.mktemp("revising-corpus")
    rows = [DatasetRow(i, f"{i}.png", f"{c}, flat style", {"concept": c, "label": c, "keywords": words,
                                                           "style_phrase": "flat style"})
            for i, (c, words) in enumerate(CONCEPTS.items())]
    (corpus / "metadata.jsonl").write_text("".join(json.dumps(row.to_json()) + "\n" for row in rows))
    write_vocabulary(folder, corpus, MiniLMEmbedder(max_tokens=64), progress=False)
    with running_server(tmp_path_factory.mktemp("revising-server"), models, default_steps=2) as proc:
        keys = {}
        with open_database(database_url(proc.data_dir)).begin() as session:
            for name in ("revise-on", "revise-off"):
                tenant = create_tenant(session, name)
                keys[name] = {role: create_api_key(session, tenant.id, role)[1] for role in ("admin", "developer")}
        with http(proc, keys["revise-off"]["admin"]) as client:
            response = client.patch("/v1/organization/settings", json={"prompt_revision": False})
            assert response.status_code == 200, response.text
        yield proc, keys


def test_a_description_is_revised_and_the_response_says_to_what(revising_server):
    proc, keys = revising_server
    result = sdk(proc, keys["revise-on"]["developer"]).images.generate(prompt="the head of a puppy, flat style")
    assert result.data[0].revised_prompt == "dog face, flat style"
    record = wait_for(proc, keys["revise-on"]["admin"], "image.generated",
                      lambda r: r["details"].get("revised_prompt_sha256") == sha256(b"dog face, flat style").hexdigest())
    assert record["details"]["prompt_sha256"] == sha256(b"the head of a puppy, flat style").hexdigest()
    named = sdk(proc, keys["revise-on"]["developer"]).images.generate(prompt="dog face, flat style")
    assert named.data[0].revised_prompt is None  # nothing to revise: no field


def test_the_request_switch_and_the_tenant_default(revising_server):
    proc, keys = revising_server
    on, off = (sdk(proc, keys[name]["developer"]) for name in ("revise-on", "revise-off"))
    kept = on.images.generate(prompt="the head of a puppy", extra_body={"revise_prompt": False})
    assert kept.data[0].revised_prompt is None
    assert off.images.generate(prompt="the head of a puppy").data[0].revised_prompt is None
    asked = off.images.generate(prompt="the head of a puppy", extra_body={"revise_prompt": True})
    assert asked.data[0].revised_prompt == "dog face"
    with http(proc, keys["revise-on"]["developer"]) as client:
        assert_openai_error(client.post("/v1/images/generations", json={"prompt": "x", "revise_prompt": "yes"}),
                            400, "revise_prompt")
    with http(proc, keys["revise-off"]["admin"]) as client:
        assert_openai_error(client.patch("/v1/organization/settings", json={"prompt_revision": "no"}), 400)
        assert client.get("/v1/organization/settings").json()["prompt_revision"] is False


def test_queued_jobs_streams_and_edits_carry_the_revision(revising_server):
    proc, keys = revising_server
    key = keys["revise-on"]["developer"]
    with http(proc, key) as client:
        job = client.post("/v1/images/generations",
                          json={"prompt": "a spaceship for going to space", "background": True}).json()
        for _ in range(300):
            job = client.get(f"/v1/images/jobs/{job['id']}").json()
            if job["status"] in ("succeeded", "failed"):
                break
            time.sleep(0.1)
        assert job["status"] == "succeeded", job
        assert [datum["revised_prompt"] for datum in job["result"]["data"]] == ["rocket"]
        with client.stream("POST", "/v1/images/generations",
                           json={"prompt": "a spaceship for going to space", "stream": True}) as stream:
            events = [json.loads(line[6:]) for line in stream.iter_lines() if line.startswith("data: ")]
        assert events[-1]["type"] == "image_generation.completed" and events[-1]["revised_prompt"] == "rocket"
    edited = sdk(proc, key).images.edit(image=("in.png", png_bytes(), "image/png"),
                                        prompt="a slice of italian pie with cheese")
    assert edited.data[0].revised_prompt == "pizza"


def test_the_content_policy_sees_the_revised_prompt(revising_server):
    proc, keys = revising_server
    with http(proc, keys["revise-on"]["admin"]) as client:
        assert client.patch("/v1/organization/settings", json={"blocked_terms": ["pizza"]}).status_code == 200
        try:
            refused = client.post("/v1/images/generations", json={"prompt": "a slice of italian pie with cheese"})
            error = assert_openai_error(refused, 400, "prompt")
            assert error["code"] == "content_policy_violation"
            allowed = client.post("/v1/images/generations",
                                  json={"prompt": "a slice of italian pie with cheese", "revise_prompt": False})
            assert allowed.status_code == 200 and "revised_prompt" not in allowed.json()["data"][0]
        finally:
            client.patch("/v1/organization/settings", json={"blocked_terms": []})


def test_a_fine_tuned_models_prompt_is_kept_unless_the_request_asks(revising_server):
    from types import SimpleNamespace

    from gesso.service.images.image_requests import ImageRequest
    from gesso.service.images.prompt_revision import revised_request

    proc, _ = revising_server
    generation = GenerationRequest(prompt="the head of a puppy", model="ft:gesso-base:acme:brand:ftjob_x")
    request = ImageRequest(generation, "b64_json", "auto", False, False, None)
    embedder = MiniLMEmbedder(max_tokens=64)
    state = SimpleNamespace(settings=SimpleNamespace(models_dir=Path(proc.env["GESSO_MODELS_DIR"])),
                            governance=SimpleNamespace(embedder=lambda: embedder))
    settings = TenantSettings()  # revision on by default, no policy
    assert revised_request(state, None, request, None, settings) is request  # the trigger and brand words stay
    assert revised_request(state, None, request, True, settings).generation.revised_prompt == "dog face"
