"""The one request type: its JSON form (what the job row holds) reads back equal, rows written
before a field existed still read, and the batch key groups only compatible requests."""

from __future__ import annotations

import json

from gesso.jobs.generation_request import GenerationRequest
from gesso.jobs.model_ids import (
    base_model_of,
    fine_tuned_model_name,
    is_fine_tuned,
    is_valid_suffix,
)

FULL = GenerationRequest(
    prompt="a red fox", kind="edit", model="gesso-base", n=3, size=(64, 64), steps=7, guidance=2.5, seed=11,
    negative="blurry", strength=0.6, has_mask=True, output_format="webp", output_compression=40, partial_images=2,
    background="transparent",
)


def test_json_round_trip_is_lossless():
    again = GenerationRequest.from_json(FULL.to_json())
    assert again == FULL and type(again.size) is tuple


def test_a_row_written_before_the_request_type_was_shared_still_reads():
    old = {"kind": "generate", "model": "gesso-base", "prompt": "p", "n": 1, "size": [64, 64], "steps": 4,
           "guidance": 4.0, "seed": 3, "negative": "", "strength": 1.0, "has_mask": False, "output_format": "png",
           "output_compression": 100, "partial_images": 0}
    request = GenerationRequest.from_json(json.dumps(old))
    assert request.size == (64, 64) and request.seed == 3
    assert json.loads(request.to_json()) == {**old, "background": "opaque", "revised_prompt": ""}  # later fields take their defaults


def test_batch_key_keeps_the_stored_shape_and_separates_incompatible_requests():
    plain = GenerationRequest(prompt="a", model="m", size=(32, 32), steps=4, guidance=4)
    assert plain.batch_key() == '["generate", "m", "32x32", 4, 4.0]'
    assert GenerationRequest(prompt="other", model="m", size=(32, 32), steps=4, seed=9).batch_key() == plain.batch_key()
    assert FULL.batch_key() == '["edit", "gesso-base", "64x64", 7, 2.5, 0.6, true]'


def test_fine_tuned_model_ids():
    name = fine_tuned_model_name("gesso-base", "acme", "brand", "ftjob_1")
    assert name == "ft:gesso-base:acme:brand:ftjob_1" and is_fine_tuned(name)
    assert base_model_of(name) == "gesso-base" and base_model_of("gesso-base") == "gesso-base"
    assert base_model_of(fine_tuned_model_name("gesso-base", "acme", "", "ftjob_2")) == "gesso-base"


def test_suffix_rule():
    assert is_valid_suffix("brand-2_x") and is_valid_suffix("a" * 40)
    assert not any(is_valid_suffix(bad) for bad in ("", "-lead", "Upper", "a" * 41, "dot.s", "sp ace"))
