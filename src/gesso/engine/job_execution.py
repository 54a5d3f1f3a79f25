"""Run a group of compatible claimed jobs on one pipeline: plan batches, sample, hand back pixels.

Each job's request goes to `plan_batches` / `run_batch` as the job row holds it; edits and
variations pass each slot's input image (and mask) alongside. The images are handed back as
pixels: delivery stamps them and encodes them once.
"""

from __future__ import annotations

from typing import Callable

import torch

from gesso.engine.batching import ImageSlot, plan_batches, run_batch
from gesso.engine.image_encoding import image_tensor, mask_tensor, pixels_of
from gesso.jobs.generation_request import GenerationRequest
from gesso.jobs.image_jobs import ClaimedJob, FinishedImage, FinishedJob
from gesso.model.pipeline_gesso import GessoPipeline

# (job, image index in the job, partial index, uint8 image (3, H, W))
PartialSink = Callable[[ClaimedJob, int, int, torch.Tensor], None]


class BatchAborted(Exception):
    """`should_abort` said stop (a shutdown whose grace period ran out); the jobs did not fail."""


def partial_steps(total_steps: int, partial_images: int) -> list[int]:
    """The steps after which to send previews: `partial_images` evenly spaced before the end.

    Short schedules give fewer (OpenAI likewise may finish before all partials are sent).
    """
    steps = {round(total_steps * (i + 1) / (partial_images + 1)) for i in range(partial_images)}
    return sorted(s for s in steps if 1 <= s < total_steps)


def execute_jobs(
    pipe: GessoPipeline,
    jobs: list[ClaimedJob],
    max_batch_images: int,
    wants_partials: Callable[[ClaimedJob], bool] = lambda job: False,
    on_partial: PartialSink | None = None,
    on_batch: Callable[[int], None] | None = None,
    should_abort: Callable[[], bool] = lambda: False,
) -> list[FinishedJob]:
    """Run jobs that share one `batch_key`; returns each job with its images, in job order.

    `on_batch(size)` is told the size of every pipeline call. `should_abort` is asked before
    every denoising step; True raises BatchAborted. Raises whatever the pipeline raises; the
    caller decides what a failure means for the jobs.
    """
    requests = [job.request for job in jobs]
    if len({request.batch_key() for request in requests}) != 1:
        raise ValueError("execute_jobs needs jobs that share one batch key")
    images_of: dict[str, list[FinishedImage]] = {job.id: [] for job in jobs}
    for slots in plan_batches(requests, max_batch_images):
        callback = _abortable(_preview_callback(pipe, jobs, slots, wants_partials, on_partial), should_abort)
        if requests[0].kind == "generate":
            images = run_batch(pipe, requests, slots, step_callback=callback)
        else:
            images = _run_image_batch(pipe, jobs, requests, slots, callback)
        if on_batch is not None:
            on_batch(len(slots))
        for slot, image in zip(slots, images):
            images_of[jobs[slot.request].id].append(FinishedImage(slot.index, slot.seed, pixels_of(image)))
    return [FinishedJob(job, images_of[job.id]) for job in jobs]


def _run_image_batch(
    pipe: GessoPipeline,
    jobs: list[ClaimedJob],
    requests: list[GenerationRequest],
    slots: list[ImageSlot],
    callback: Callable | None,
) -> list[torch.Tensor]:
    first = jobs[slots[0].request].request
    images, masks = [], []
    for slot in slots:
        job = jobs[slot.request]
        if job.image is None:
            raise ValueError(f"job {job.id} has no input image")
        images.append(image_tensor(job.image, first.size))
        if first.has_mask:
            if job.mask is None:
                raise ValueError(f"job {job.id} has no mask")
            masks.append(mask_tensor(job.mask, first.size))
    return run_batch(
        pipe,
        requests,
        slots,
        step_callback=callback,
        image=torch.cat(images),  # (B, 3, H, W)
        mask_image=torch.cat(masks) if masks else None,  # (B, 1, H, W)
    )


def _abortable(
    callback: Callable[[int, int, torch.Tensor], None] | None, should_abort: Callable[[], bool]
) -> Callable[[int, int, torch.Tensor], None]:
    if should_abort():
        raise BatchAborted()

    def step(step: int, total: int, denoised: torch.Tensor) -> None:
        if should_abort():
            raise BatchAborted()
        if callback is not None:
            callback(step, total, denoised)

    return step


def _preview_callback(
    pipe: GessoPipeline,
    jobs: list[ClaimedJob],
    slots: list[ImageSlot],
    wants_partials: Callable[[ClaimedJob], bool],
    on_partial: PartialSink | None,
) -> Callable[[int, int, torch.Tensor], None] | None:
    """A step callback that decodes previews only for the slots whose job asked for them."""
    watched = [
        (position, slot)
        for position, slot in enumerate(slots)
        if jobs[slot.request].request.partial_images > 0 and wants_partials(jobs[slot.request])
    ]
    if on_partial is None or not watched:
        return None

    def callback(step: int, total: int, denoised: torch.Tensor) -> None:
        for position, slot in watched:
            job = jobs[slot.request]
            steps = partial_steps(total, job.request.partial_images)
            if step in steps:
                preview = pipe.decode_latents(denoised[position : position + 1])[0]
                on_partial(job, slot.index, steps.index(step), preview)

    return callback
