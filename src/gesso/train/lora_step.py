"""One LoRA training step, and what a step needs to know about the other ranks of a run.

The single-process loop and every rank of a data-parallel run (Ray Train, DDP) run the same
`lora_step`; `RankPlan` says which rank this is and how the ranks agree. One process: rank 0 of
1, the model itself, its own continuous generator. Data-parallel: the trainable module wrapped
(DDP averages the gradients), the rows split between ranks, each rank's batch drawn from a
generator seeded by (seed, rank, step), so a resume needs no generator state of the other ranks,
and rank 0's pause or cancel is every rank's.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch

from gesso.train.base_loop import flow_matching_loss, make_batch

ROW_KEYS = ("latents", "states", "masks")  # per-image features; the empty caption's are shared


def _same(module: torch.nn.Module) -> torch.nn.Module:
    return module


def _alone(action: str | None) -> str | None:
    return action


@dataclass(frozen=True)
class RankPlan:
    """This process's part in a run. `wrap`: the module the forward pass goes through (DDP);
    `agree`: rank 0's requested action, as every rank sees it (called by every rank each step);
    `checkpointed(step, folder)`: called by every rank once a checkpoint is written (the folder
    on rank 0, None elsewhere)."""

    rank: int = 0
    world: int = 1
    wrap: Callable[[torch.nn.Module], torch.nn.Module] = _same
    agree: Callable[[str | None], str | None] = _alone
    checkpointed: Callable[[int, Path | None], None] = field(default=lambda step, folder: None)

    @property
    def distributed(self) -> bool:
        return self.world > 1

    @property
    def leads(self) -> bool:
        """Rank 0 writes checkpoints, samples and the adapter, and tells the owner."""
        return self.rank == 0


SINGLE = RankPlan()


def rank_batch_size(batch_size: int, world: int) -> int:
    """Each rank's share of the run's batch (at least one image)."""
    return max(1, math.ceil(batch_size / world))


def shard_features(features: dict[str, torch.Tensor], rank: int, world: int) -> dict[str, torch.Tensor]:
    """Every `world`-th image from `rank` on; all of them when there are fewer images than ranks."""
    n = features["latents"].shape[0]
    if world <= 1 or n < world:
        return features
    return {key: value[rank::world] if key in ROW_KEYS else value for key, value in features.items()}


def step_seed(seed: int, rank: int, step: int) -> int:
    """A 63-bit seed for one rank's draws at one step."""
    digest = hashlib.sha256(f"{seed}:{rank}:{step}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def lora_step(
    model: torch.nn.Module,
    params: list[torch.nn.Parameter],
    optimizer: torch.optim.Optimizer,
    features: dict[str, torch.Tensor],
    batch_size: int,
    caption_dropout: float,
    generator: torch.Generator,
    autocast: torch.autocast,
) -> float:
    """Draw a batch, regress the velocity through `model`, clip, update; returns the loss."""
    device = next(p.device for p in params)
    latents, states, mask = make_batch(features, batch_size, caption_dropout, generator)
    with autocast:
        loss = flow_matching_loss(model, latents.to(device), states.to(device), mask.to(device), generator)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return loss.item()
