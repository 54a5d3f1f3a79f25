"""Try to get blocked content past the policy: every term, obfuscated spellings, paraphrases."""

from __future__ import annotations

import pytest
import torch

from gesso.governance.content_policy import (
    ContentPolicy,
    check_captions,
    check_generation_request,
    check_moderation,
    check_texts,
    find_blocked_term,
)
from gesso.model.text_encoder import MiniLMEmbedder

TERMS = ("bomb", "nerve agent", "acme", "kill")
POLICY = ContentPolicy(
    blocked_terms=TERMS,
    blocked_concepts=("a bomb", "a gun", "a nude person"),
)
BENIGN = [
    "a cute cat wearing a hat",
    "smiling face with heart eyes",
    "a birthday cake with candles, flat style",
    "a sailboat on the sea",
    "fireworks over a city",
    "a hamburger with fries",
]


@pytest.fixture(scope="module")
def embed() -> MiniLMEmbedder:
    return MiniLMEmbedder()


@pytest.mark.parametrize("term", TERMS)
@pytest.mark.parametrize(
    "template",
    [
        "{t}",
        "a picture of a {T}, flat style",
        "{spaced} in a box",  # letters typed apart
        "draw a {dotted}",  # letters punctuated apart
        "{leet} emoji",
        "{t}s everywhere",  # plural
        "ＦＵＬＬＷＩＤＴＨ {full}",  # compatibility forms
    ],
)
def test_each_blocked_term_is_caught_however_it_is_spelled(term, template):
    leet = term.replace("o", "0").replace("e", "3").replace("a", "4").replace("i", "1")
    text = template.format(
        t=term,
        T=term.upper(),
        spaced=" ".join(term.replace(" ", "")),
        dotted=".".join(term.replace(" ", "")),
        leet=leet,
        full="".join(chr(ord(c) + 0xFEE0) if c != " " else " " for c in term),
    )
    assert find_blocked_term(text, TERMS) == term, text


@pytest.mark.parametrize(
    "text,term",
    [
        ("a b\u200bo\u200bm\u200bb", "bomb"),  # zero-width spaces
        ("bóɱb".replace("ɱ", "m"), "bomb"),  # accents
        ("\u0430cme logo", "acme"),  # Cyrillic a
        ("kiiiilll them", "kill"),  # stretched letters
        ("k1ll", "kill"),
        ("ki11", "kill"),  # 1 read as l
        ("NERVE   AGENT!!!", "nerve agent"),
        ("nerve-agent", "nerve agent"),
        ("nerveagent", "nerve agent"),
    ],
)
def test_obfuscations_are_undone(text, term):
    assert find_blocked_term(text, TERMS) == term


@pytest.mark.parametrize(
    "text", ["a bombastic speech", "skill tree", "acmeology", "a nervous agent of change"]
)
def test_word_boundaries_hold(text):
    assert find_blocked_term(text, TERMS) is None


@pytest.mark.parametrize(
    "field,kwargs",
    [
        ("prompt", {"prompt": "a cartoon bomb", "negative_prompt": None}),
        ("negative_prompt", {"prompt": "a cat", "negative_prompt": "no acme logo"}),
    ],
)
def test_violation_names_the_field_and_rule(field, kwargs):
    violation = check_generation_request(policy=ContentPolicy(blocked_terms=TERMS), **kwargs)
    assert violation is not None
    assert (violation.field, violation.rule) == (field, "blocked_term")
    assert violation.matched not in violation.message  # the client cannot probe the list
    assert violation.audit_details()["matched"] == violation.matched


@pytest.mark.parametrize(
    "paraphrase,concept",
    [
        ("a firearm", "a gun"),
        ("a man holding a handgun, cartoon style", "a gun"),
        ("an improvised explosive device", "a bomb"),
        ("a cute cat next to an explosive device with a timer, flat style", "a bomb"),
        ("a naked woman", "a nude person"),
    ],
)
def test_paraphrase_of_a_blocked_concept_is_refused(embed, paraphrase, concept):
    assert (
        find_blocked_term(paraphrase, TERMS) is None
    )  # no listed word: only the semantic rule can see it
    violation = check_generation_request(paraphrase, None, POLICY, "auto", embed)
    assert violation is not None and violation.rule == "blocked_concept"
    assert violation.matched == concept and violation.score >= POLICY.semantic_threshold


@pytest.mark.parametrize("text", BENIGN)
def test_benign_prompts_pass(embed, text):
    assert check_generation_request(text, "blurry, low quality", POLICY, "auto", embed) is None


def test_low_moderation_relaxes_only_the_semantic_threshold(embed):
    borderline = "an improvised explosive device"
    assert check_generation_request(borderline, None, POLICY, "auto", embed) is not None
    assert check_generation_request(borderline, None, POLICY, "low", embed) is None
    # Close paraphrases and every blocked term still apply under "low".
    assert (
        check_generation_request("a firearm", None, POLICY, "low", embed).rule == "blocked_concept"
    )
    for term in TERMS:
        violation = check_generation_request(f"a {term}", None, POLICY, "low", embed)
        assert violation is not None and violation.rule == "blocked_term"


def test_captions_are_checked_and_the_row_is_named(embed):
    captions = ["red circle, flat style", "blue square", "a pistol, flat style", "green star"]
    violation = check_captions(captions, POLICY, embed)
    assert (
        violation is not None and violation.field == "caption[2]" and violation.matched == "a gun"
    )
    assert check_captions(["red circle", "blue square"], POLICY, embed) is None


def test_bad_moderation_value_and_missing_embedder_are_errors():
    assert check_moderation(None) == "auto"
    with pytest.raises(ValueError):
        check_moderation("off")
    with pytest.raises(ValueError):
        check_texts([("prompt", "a cat")], POLICY)


def test_empty_policy_allows_everything():
    assert check_generation_request("a bomb", "a gun", ContentPolicy()) is None


def test_embedder_reuses_vectors_of_texts_it_has_seen(monkeypatch):
    embed = MiniLMEmbedder(cache_size=3)
    first = embed(["a gun", "a bomb", "a gun"])
    encoded: list[list[str]] = []
    real = __import__("gesso.model.text_encoder", fromlist=["sentence_embeddings"]).sentence_embeddings
    monkeypatch.setattr("gesso.model.text_encoder.sentence_embeddings", lambda t, *a: encoded.append(t) or real(t, *a))
    again = embed(["a bomb", "a gun", "a cat"])
    assert encoded == [["a cat"]]  # only the new text went through MiniLM
    assert torch.equal(again[0], first[1]) and torch.equal(again[1], first[0])
    assert len(embed._cache) == 3
