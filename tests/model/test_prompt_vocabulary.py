"""The prompt-understanding step with Gesso's real MiniLM encoder: a description in other words
finds the concept it describes, a name the model knows and an unrelated text are left alone, the
style phrase survives, and the vocabulary file round-trips through safetensors."""

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from gesso.data.dataset_format import DatasetRow
from gesso.model.prompt_vocabulary import (
    MAX_DESCRIPTION_CHARS,
    VOCABULARY_FILE,
    load_vocabulary,
    revise,
    save_vocabulary,
    split_style,
)
from gesso.model.text_encoder import MiniLMEmbedder
from gesso.train.vocabulary import concept_descriptions, write_vocabulary

CONCEPTS = {
    "dog face": ["dog", "pet", "puppy", "animal"],
    "red apple": ["fruit", "apple", "red"],
    "pizza": ["food", "cheese", "slice", "italian"],
    "rocket": ["space", "launch", "spaceship"],
    "thumbs up": ["hand", "approve", "ok", "yes", "like"],
}


def row(i: int, concept: str, keywords: list[str], style: str = "noto", label: str | None = None) -> DatasetRow:
    label = label or concept
    return DatasetRow(i, f"{style}/{i}.png", f"{label}, cartoon style",
                      {"concept": concept, "label": label, "keywords": keywords, "style": style,
                       "style_phrase": "cartoon style" if style == "noto" else "flat style"})


@pytest.fixture(scope="module")
def embed() -> MiniLMEmbedder:
    return MiniLMEmbedder(max_tokens=64)


@pytest.fixture(scope="module")
def vocabulary(tmp_path_factory, embed):
    rows = [row(i, concept, words) for i, (concept, words) in enumerate(CONCEPTS.items())]
    rows.append(row(9, "rocket", ["rocket"], style="twemoji"))
    rows.append(row(10, "thumbs up", ["skin"], label="thumbs up, dark skin tone"))
    folder = tmp_path_factory.mktemp("vocabulary")
    (folder / "metadata.jsonl").write_text("\n".join(json.dumps(r.to_json()) for r in rows) + "\n")
    write_vocabulary(folder, folder, embed, progress=False)
    return load_vocabulary(folder)


def test_descriptions_in_other_words_find_their_concept(vocabulary, embed):
    assert revise("the head of a puppy", vocabulary, embed) == "dog face"
    assert revise("a slice of italian pie with cheese", vocabulary, embed) == "pizza"
    assert revise("a spaceship for going to space", vocabulary, embed) == "rocket"


def test_the_style_phrase_is_kept(vocabulary, embed):
    assert set(vocabulary.styles) == {"cartoon style", "noto style", "flat style", "twemoji style"}
    assert revise("the head of a puppy, flat style", vocabulary, embed) == "dog face, flat style"
    assert revise("the head of a puppy in noto style", vocabulary, embed) == "dog face, noto style"
    assert split_style("a red apple, watercolour style", vocabulary.styles) == ("a red apple, watercolour style", "")


def test_names_the_model_knows_and_unrelated_texts_are_left_alone(vocabulary, embed):
    assert revise("dog face, flat style", vocabulary, embed) is None
    assert revise("A  Red Apple", vocabulary, embed) is None
    assert revise("the quarterly tax report for the board", vocabulary, embed) is None
    assert revise("the head of a puppy " * (MAX_DESCRIPTION_CHARS // 10), vocabulary, embed) is None


def test_skin_tone_variants_add_no_descriptions_and_unknown_concepts_none():
    rows = [row(0, "thumbs up", ["hand"]), row(1, "thumbs up", ["skin"], label="thumbs up, dark skin tone")]
    extra = [row(2, "thumbs up", ["approve"]), row(3, "octopus", ["sea"])]
    described = concept_descriptions(rows, extra)
    assert described == [("thumbs up", "thumbs up"), ("thumbs up", "thumbs up: hand"),
                         ("thumbs up", "thumbs up: approve")]


def test_the_vocabulary_round_trips_and_a_foreign_file_is_refused(vocabulary, tmp_path):
    save_vocabulary(vocabulary, tmp_path)
    again = load_vocabulary(tmp_path)
    assert again.concepts == vocabulary.concepts and again.styles == vocabulary.styles
    assert torch.equal(again.owners, vocabulary.owners)
    assert torch.allclose(again.embeddings, vocabulary.embeddings, atol=1e-3)
    assert load_vocabulary(tmp_path / "absent") is None
    save_file({"embeddings": torch.zeros(1, 4)}, tmp_path / VOCABULARY_FILE)
    with pytest.raises(ValueError, match="gesso-prompt-vocabulary"):
        load_vocabulary(tmp_path)


def test_a_model_folder_without_vocabulary_revises_nothing(tmp_path: Path):
    from gesso.engine.prompt_vocabularies import model_vocabulary

    assert model_vocabulary(tmp_path, "gesso-base") is None
    (tmp_path / "gesso-base").mkdir()
    (tmp_path / "gesso-base" / VOCABULARY_FILE).write_bytes(b"not safetensors")
    assert model_vocabulary(tmp_path, "gesso-base") is None  # logged, never raised
