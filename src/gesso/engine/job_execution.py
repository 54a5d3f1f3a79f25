"""Run a group of compatible claimed jobs on one pipeline: plan batches, sample, encode.

Text-to-image jobs go through the engine's `plan_batches` / `run_batch`; edits and variations
use the same plan and pass each slot's input image (and mask) alongside its prompt.
"""

from __future__ import annotations

from typing import Callable

import torch

from gesso.engine.batching import ImageSlot, plan_batches, run_batch
from gesso.engine.generation_request import GenerationRequest
from gesso.engine.image_encoding import encode_image, image_tensor, mask_tensor
from gesso.engine.jobs import OUTPUT_FORMATS, ClaimedJob, FinishedImage
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
) -> dict[str, list[FinishedImage]]:
    """Run jobs that share one `batch_key`; returns each job's encoded images by job id.

    `on_batch(size)` is told the size of every pipeline call. `should_abort` is asked before
    every denoising step; True raises BatchAborted. Raises whatever the pipeline raises; the
    caller decides what a failure means for the jobs.
    """
    specs = [job.spec for job in jobs]
    if len({spec.batch_key() for spec in specs}) != 1:
        raise ValueError("execute_jobs needs jobs that share one batch key")
    requests = [spec.generation_request(job.id) for job, spec in zip(jobs, specs)]
    results: dict[str, list[FinishedImage]] = {job.id: [] for job in jobs}
    for slots in plan_batches(requests, max_batch_images):
        callback = _abortable(_preview_callback(pipe, jobs, slots, wants_partials, on_partial), should_abort)
        if specs[0].kind == "generate":
            images = run_batch(pipe, requests, slots, step_callback=callback)
        else:
            images = _run_image_batch(pipe, jobs, requests, slots, callback)
        if on_batch is not None:
            on_batch(len(slots))
        for slot, image in zip(slots, images):
            job = jobs[slot.request]
            spec = job.spec
            results[job.id].append(
                FinishedImage(
                    index=slot.index,
                    seed=slot.seed,
                    data=encode_image(image, spec.output_format, spec.output_compression),
                    content_type=OUTPUT_FORMATS[spec.output_format],
                    width=int(image.shape[-1]),
                    height=int(image.shape[-2]),
                )
            )
    return results


def _run_image_batch(
    pipe: GessoPipeline,
    jobs: list[ClaimedJob],
    requests: list[GenerationRequest],
    slots: list[ImageSlot],
    callback: Callable | None,
) -> torch.Tensor:
    first = jobs[slots[0].request].spec
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
        strength=first.strength,
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
        if jobs[slot.request].spec.partial_images > 0 and wants_partials(jobs[slot.request])
    ]
    if on_partial is None or not watched:
        return None

    def callback(step: int, total: int, denoised: torch.Tensor) -> None:
        for position, slot in watched:
            job = jobs[slot.request]
            steps = partial_steps(total, job.spec.partial_images)
            if step in steps:
                preview = pipe.decode_latents(denoised[position : position + 1])[0]
                on_partial(job, slot.index, steps.index(step), preview)

    return callback
