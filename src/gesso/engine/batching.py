"""Dynamic batching: group compatible requests and run each group as one pipeline call."""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from typing import Callable, Iterable

import torch

from gesso.jobs.generation_request import GenerationRequest
from gesso.model.alpha_compositing import composite_on_white
from gesso.model.pipeline_gesso import GessoPipeline


@dataclass(frozen=True)
class ImageSlot:
    """One image to make: which request it belongs to, its index in it and its seed."""

    request: int
    index: int
    seed: int


def resolve_seeds(requests: list[GenerationRequest], rng: random.Random) -> list[GenerationRequest]:
    """Give every request without a seed a random one, so that each image can be reproduced."""
    return [r if r.seed is not None else replace(r, seed=rng.randrange(2**31)) for r in requests]


def plan_batches(requests: list[GenerationRequest], max_batch: int) -> list[list[ImageSlot]]:
    """Split all images of all requests into batches of at most `max_batch` compatible images
    (equal `batch_key`).

    Image k of a request gets seed `seed + k`; order inside a batch follows request order.
    Every request must already carry a seed (see `resolve_seeds`).
    """
    groups: dict[str, list[ImageSlot]] = {}
    for i, req in enumerate(requests):
        assert req.seed is not None, "resolve seeds before planning"
        for k in range(req.n):
            groups.setdefault(req.batch_key(), []).append(ImageSlot(i, k, req.seed + k))
    batches = []
    for slots in groups.values():
        batches += [slots[j : j + max_batch] for j in range(0, len(slots), max_batch)]
    return batches


def run_batch(
    pipe: GessoPipeline,
    requests: list[GenerationRequest],
    slots: list[ImageSlot],
    step_callback: Callable[[int, int, torch.Tensor], None] | None = None,
    image: torch.Tensor | None = None,
    mask_image: torch.Tensor | None = None,
) -> list[torch.Tensor]:
    """Generate one planned batch; returns uint8 images in slot order: (3, H, W) RGB, or
    (4, H, W) straight RGBA for a request with a transparent background.

    `image` ((B, 3, H, W) in [-1, 1], one per slot) and `mask_image` turn the batch into
    image-to-image or inpainting at the requests' `strength` (see `GessoPipeline.__call__`).
    A model with alpha decodes the whole batch with it; opaque requests' images then go on white.
    """
    first = requests[slots[0].request]
    images = pipe(
        [requests[s.request].model_prompt for s in slots],
        negative_prompt=[requests[s.request].negative for s in slots],
        num_inference_steps=first.steps,
        guidance_scale=first.guidance,
        seed=[s.seed for s in slots],
        width=first.size[0],
        height=first.size[1],
        image=image,
        mask_image=mask_image,
        strength=first.strength,
        output_type="pt",
        step_callback=step_callback,
        background="transparent" if pipe.has_alpha else "opaque",
    )
    if not pipe.has_alpha:
        return list(images)
    return [
        image if requests[slot.request].background == "transparent" else _on_white(image)
        for slot, image in zip(slots, images, strict=True)
    ]


def _on_white(straight: torch.Tensor) -> torch.Tensor:
    """(4, H, W) straight RGBA uint8 -> (3, H, W) RGB uint8 over white."""
    x = straight.float().unsqueeze(0) / 255.0
    premultiplied = torch.cat([x[:, :3] * x[:, 3:], x[:, 3:]], dim=1)
    return composite_on_white(premultiplied).mul(255.0).round().clamp(0, 255).to(torch.uint8)[0]


def count_images(batches: Iterable[list[ImageSlot]]) -> int:
    return sum(len(b) for b in batches)
