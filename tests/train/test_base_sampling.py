"""Concept-balanced sampling: a concept in six skin tones gets the same share as one in a single image."""

from collections import Counter

import torch

from gesso.data.dataset_format import DatasetRow
from gesso.train.base_loop import concept_weights, make_batch


def rows(concepts: list[str]) -> list[DatasetRow]:
    return [DatasetRow(line=i + 1, file_name=f"{i}.png", text=c, extra={"concept_id": c}) for i, c in enumerate(concepts)]


def features(n: int) -> dict[str, torch.Tensor]:
    return {
        "latents": torch.arange(n, dtype=torch.float32).view(n, 1, 1, 1),
        "states": torch.zeros(n, 3, 4, 2, dtype=torch.float16),
        "masks": torch.ones(n, 3, 4, dtype=torch.uint8),
        "empty_states": torch.zeros(1, 4, 2, dtype=torch.float16),
        "empty_mask": torch.ones(1, 4, dtype=torch.uint8),
    }


def drawn_concepts(concepts: list[str], weights: torch.Tensor | None, draws: int = 6000) -> Counter:
    latents, _, _ = make_batch(features(len(concepts)), draws, 0.0, torch.Generator().manual_seed(0), weights)
    return Counter(concepts[int(i)] for i in latents.flatten())


def test_balanced_draws_give_each_concept_an_equal_share():
    concepts = ["waving hand"] * 6 + ["red apple", "pizza"]
    shares = drawn_concepts(concepts, concept_weights(rows(concepts)))
    assert all(abs(shares[c] / 6000 - 1 / 3) < 0.03 for c in ("waving hand", "red apple", "pizza"))


def test_uniform_draws_follow_the_rows():
    concepts = ["waving hand"] * 6 + ["red apple", "pizza"]
    shares = drawn_concepts(concepts, None)
    assert abs(shares["waving hand"] / 6000 - 6 / 8) < 0.03
