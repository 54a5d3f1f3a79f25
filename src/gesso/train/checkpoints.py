"""Training checkpoints: weights in safetensors, optimiser and RNG state for exact resume.

A checkpoint folder holds only safetensors and JSON files (`trainer_state`), so it can travel
(to an object store, another machine) and be read back without unpickling anything. Folders
written before that format hold `trainer_state.pt`, still read, with `weights_only=True`.
"""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from gesso.train.trainer_state import STATE_LAYOUT, load_trainer_state, save_trainer_state

LEGACY_STATE_FILE = "trainer_state.pt"
META_FILE = "meta.json"


def rng_state() -> dict[str, Any]:
    return {
        "torch": torch.get_rng_state(),
        "numpy": torch.from_numpy(np.frombuffer(np.random.get_state()[1].tobytes(), np.uint8).copy()),
        "numpy_pos": int(np.random.get_state()[2]),
        "python": json.dumps(random.getstate()),
    }


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    keys = np.frombuffer(state["numpy"].numpy().tobytes(), dtype=np.uint32)
    np.random.set_state(("MT19937", keys, state["numpy_pos"], 0, 0.0))
    version, internal, gauss = json.loads(state["python"])
    random.setstate((version, tuple(internal), gauss))


def save_checkpoint(
    directory: Path,
    step: int,
    modules: dict[str, torch.nn.Module],
    optimizer: torch.optim.Optimizer,
    extra_state: dict[str, Any],
    meta: dict[str, Any],
    keep: int = 2,
) -> Path:
    """Write `directory/step-XXXXXXX/` atomically (tmp dir, then rename); prune old ones."""
    final = directory / f"step-{step:07d}"
    tmp = directory / f".tmp-step-{step:07d}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for name, module in modules.items():
        tensors = {k: v.detach().contiguous().cpu() for k, v in module.state_dict().items()}
        save_file(tensors, tmp / f"{name}.safetensors")
    save_trainer_state(tmp, {"optimizer": optimizer.state_dict(), "rng": rng_state(), **extra_state})
    (tmp / META_FILE).write_text(json.dumps({"step": step, **meta}, indent=2))
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)
    for old in list_checkpoints(directory)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def list_checkpoints(directory: Path) -> list[Path]:
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.glob("step-*") if (p / META_FILE).is_file())


def latest_checkpoint(directory: Path) -> Path | None:
    found = list_checkpoints(directory)
    return found[-1] if found else None


def load_checkpoint(
    path: Path,
    modules: dict[str, torch.nn.Module],
    optimizer: torch.optim.Optimizer | None,
) -> tuple[int, dict[str, Any]]:
    """Restore modules, optimiser and RNG; return (step, the remaining trainer state)."""
    for name, module in modules.items():
        module.load_state_dict(load_file(path / f"{name}.safetensors"))
    if (path / STATE_LAYOUT).is_file():
        state = load_trainer_state(path)
    else:
        state = torch.load(path / LEGACY_STATE_FILE, weights_only=True)
    if optimizer is not None:
        optimizer.load_state_dict(state.pop("optimizer"))
    set_rng_state(state.pop("rng"))
    meta = json.loads((path / META_FILE).read_text())
    return int(meta["step"]), state
