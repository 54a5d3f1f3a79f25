"""A partly filled batch waits a moment for compatible jobs before it runs.

Clients that send together do not arrive together: without the wait, the first request of a
burst runs alone while the rest queue behind it, and the burst stays split into uneven batches
from then on (each batch's clients come back while the next batch runs). The wait is a pause
between arrivals: while jobs keep arriving the batch keeps waiting (up to `MAX_PAUSES` pauses
in all), so a lone request pays one pause and a returning crowd fills the batch.
"""

from __future__ import annotations

import logging
import time
from typing import Callable

from gesso.jobs.image_jobs import ClaimedJob, JobQueue

log = logging.getLogger("gesso.worker")

MAX_PAUSES = 10  # the whole wait of a batch whose jobs keep arriving, in pauses


def images_in(jobs: list[ClaimedJob]) -> int:
    return sum(job.request.n for job in jobs)


def top_up(
    queue: JobQueue, jobs: list[ClaimedJob], max_images: int, wait_s: float, idle: Callable[[float], bool]
) -> list[ClaimedJob]:
    """`jobs` (just claimed, one batch key) and the compatible jobs that arrive with no pause
    longer than `wait_s` between them, up to `max_images` images in all, waiting at most
    `MAX_PAUSES * wait_s`. `idle(seconds)` sleeps up to that long, returns sooner when a job is
    queued, and returns False when the worker is stopping. A claim that fails ends the wait:
    the batch runs with what it has."""
    total = images_in(jobs)
    if wait_s <= 0 or total >= max_images:
        return jobs
    key = jobs[0].request.batch_key()
    poll_s = max(0.005, wait_s / 5)  # a worker in another process is never woken: it polls
    now = time.monotonic()
    last_call, deadline = now + MAX_PAUSES * wait_s, now + wait_s
    jobs = list(jobs)
    while total < max_images:
        left = min(deadline, last_call) - time.monotonic()
        if left <= 0 or not idle(min(left, poll_s)):
            break
        try:
            more = queue.claim_batch(max_images - total, key)
        except Exception:
            log.exception("topping up a batch failed")
            break
        if more:
            deadline = time.monotonic() + wait_s
        jobs += more
        total += images_in(more)
    return jobs
