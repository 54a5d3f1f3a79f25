"""A trainer's state (optimiser, RNG, generator) as two plain files: every tensor in one
safetensors file, the nesting around them in JSON. Nothing is pickled, so a checkpoint that
comes from anywhere (another machine, an object store) can be read without running its code.

The JSON tags each container, so nothing is lost on the way back: `{"t": name}` is a tensor,
`{"d": [[key, value], ...]}` a dict (keys stay ints where they were, as in an optimiser's state),
`{"l": [...]}` a list and `{"u": [...]}` a tuple; numbers, strings, booleans and None are
themselves.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

STATE_TENSORS = "trainer_state.safetensors"
STATE_LAYOUT = "trainer_state.json"
_PLAIN = (bool, int, float, str, type(None))


def save_trainer_state(directory: Path, state: dict[str, Any]) -> None:
    """Write `state` as `directory/trainer_state.{safetensors,json}`. Raises TypeError for a
    value that is neither a tensor, a container of them nor a plain JSON value."""
    tensors: dict[str, torch.Tensor] = {}
    layout = _encode(state, tensors)
    save_file(tensors, directory / STATE_TENSORS)
    (directory / STATE_LAYOUT).write_text(json.dumps(layout))


def load_trainer_state(directory: Path) -> dict[str, Any]:
    """The state `save_trainer_state` wrote (tensors on the CPU). Raises ValueError for a layout
    that names a missing tensor or is not this format."""
    tensors = load_file(directory / STATE_TENSORS)
    state = _decode(json.loads((directory / STATE_LAYOUT).read_text()), tensors)
    if not isinstance(state, dict):
        raise ValueError(f"{directory / STATE_LAYOUT} does not hold a trainer state")
    return state


def _encode(value: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(value, torch.Tensor):
        name = f"t{len(tensors)}"
        tensors[name] = value.detach().cpu().contiguous().clone()  # clone: no shared storage
        return {"t": name}
    if isinstance(value, dict):
        for key in value:
            if not isinstance(key, _PLAIN):
                raise TypeError(f"trainer state key {key!r} is not a plain value")
        return {"d": [[key, _encode(item, tensors)] for key, item in value.items()]}
    if isinstance(value, list):
        return {"l": [_encode(item, tensors) for item in value]}
    if isinstance(value, tuple):
        return {"u": [_encode(item, tensors) for item in value]}
    if isinstance(value, _PLAIN):
        return value
    raise TypeError(f"trainer state holds a {type(value).__name__}, which is not stored")


def _decode(value: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if not isinstance(value, dict):
        if isinstance(value, list):
            raise ValueError("trainer state layout: an untagged list")
        return value
    if len(value) != 1:
        raise ValueError("trainer state layout: a container with more than one tag")
    (tag, inner), = value.items()
    if tag == "t":
        if inner not in tensors:
            raise ValueError(f"trainer state layout names a missing tensor {inner!r}")
        return tensors[inner]
    if tag == "d":
        return {key: _decode(item, tensors) for key, item in inner}
    if tag == "l":
        return [_decode(item, tensors) for item in inner]
    if tag == "u":
        return tuple(_decode(item, tensors) for item in inner)
    raise ValueError(f"trainer state layout: unknown tag {tag!r}")
