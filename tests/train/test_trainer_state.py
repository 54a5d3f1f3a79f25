"""A checkpoint's trainer state is safetensors + JSON (no pickle) and comes back exactly: the
optimiser continues bit for bit, every RNG draws the same numbers; older `.pt` folders still load."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from gesso.train.checkpoints import LEGACY_STATE_FILE, load_checkpoint, rng_state, save_checkpoint
from gesso.train.trainer_state import load_trainer_state, save_trainer_state


def trained_optimizer(seed: int) -> tuple[torch.nn.Linear, torch.optim.AdamW]:
    torch.manual_seed(seed)
    model = torch.nn.Linear(4, 3)
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.01)
    for _ in range(3):
        model(torch.randn(2, 4)).square().mean().backward()
        optimizer.step()
        optimizer.zero_grad()
    return model, optimizer


def step_once(model: torch.nn.Linear, optimizer: torch.optim.AdamW) -> torch.Tensor:
    model(torch.ones(2, 4)).square().mean().backward()
    optimizer.step()
    return model.weight.detach().clone()


def test_nested_state_round_trips_with_its_types(tmp_path):
    state = {"ints": {0: torch.arange(3), 7: {"step": torch.tensor(2.0)}}, "pair": (0.9, 0.999),
             "names": ["a", None, True], "scalar": 3, "generator": torch.Generator().manual_seed(1).get_state()}
    save_trainer_state(tmp_path, state)
    back = load_trainer_state(tmp_path)
    assert set(back["ints"]) == {0, 7} and back["pair"] == (0.9, 0.999) and back["names"] == ["a", None, True]
    assert torch.equal(back["ints"][0], torch.arange(3)) and back["ints"][7]["step"].shape == ()
    assert torch.equal(back["generator"], state["generator"]) and back["scalar"] == 3
    with pytest.raises(TypeError):
        save_trainer_state(tmp_path, {"bad": object()})


def test_checkpoint_holds_no_pickle_and_resumes_exactly(tmp_path):
    model, optimizer = trained_optimizer(0)
    folder = save_checkpoint(tmp_path, 3, {"model": model}, optimizer, {"generator": torch.Generator().get_state()},
                             {"note": "x"})
    assert sorted(p.suffix for p in folder.iterdir()) == [".json", ".json", ".safetensors", ".safetensors"]
    expected_draws = (torch.rand(2), np.random.rand(2), random.random())
    expected_next = step_once(model, optimizer)

    other, other_optimizer = trained_optimizer(1)  # different weights and moments
    step, extra = load_checkpoint(folder, {"model": other}, other_optimizer)
    assert step == 3 and set(extra) == {"generator"}
    draws = (torch.rand(2), np.random.rand(2), random.random())
    assert torch.equal(draws[0], expected_draws[0]) and np.array_equal(draws[1], expected_draws[1])
    assert draws[2] == expected_draws[2]
    assert torch.equal(step_once(other, other_optimizer), expected_next)  # the optimiser continues exactly


def test_a_folder_of_the_older_format_still_loads(tmp_path):
    model, optimizer = trained_optimizer(0)
    folder = save_checkpoint(tmp_path, 1, {"model": model}, optimizer, {}, {})
    for name in ("trainer_state.json", "trainer_state.safetensors"):
        (folder / name).unlink()
    torch.save({"optimizer": optimizer.state_dict(), "rng": rng_state()}, folder / LEGACY_STATE_FILE)
    other, other_optimizer = trained_optimizer(1)
    assert load_checkpoint(folder, {"model": other}, other_optimizer)[0] == 1
    assert torch.equal(other.weight, model.weight)
