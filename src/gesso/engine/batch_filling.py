"""A partly filled batch waits a moment for compatible jobs before it runs.

Clients that send together do not arrive together: without the wait, the first request of a
burst runs alone while the rest queue behind it, and the burst stays split into uneven batches
from then on (each batch's clients come back while the next batch runs).
"""

from __future__ import annotations

import logging
import time
from typing import Callable

from gesso.jobs.image_jobs import ClaimedJob, JobQueue

log = logging.getLogger("gesso.worker")


def images_in(jobs: list[ClaimedJob]) -> int:
    return sum(job.request.n for job in jobs)


def top_up(
    queue: JobQueue, jobs: list[ClaimedJob], max_images: int, wait_s: float, idle: Callable[[float], bool]
) -> list[ClaimedJob]:
    """`jobs` (just claimed, one batch key) and the compatible jobs claimed within `wait_s` of
    now, up to `max_images` images in all. `idle(seconds)` sleeps up to that long, returns
    sooner when a job is queued, and returns False when the worker is stopping. A claim that
    fails ends the wait: the batch runs with what it has."""
    total = images_in(jobs)
    if wait_s <= 0 or total >= max_images:
        return jobs
    key = jobs[0].request.batch_key()
    poll_s = max(0.005, wait_s / 5)  # a worker in another process is never woken: it polls
    deadline = time.monotonic() + wait_s
    jobs = list(jobs)
    while total < max_images:
        left = deadline - time.monotonic()
        if left <= 0 or not idle(min(left, poll_s)):
            break
        try:
            more = queue.claim_batch(max_images - total, key)
        except Exception:
            log.exception("topping up a batch failed")
            break
        jobs += more
        total += images_in(more)
    return jobs
