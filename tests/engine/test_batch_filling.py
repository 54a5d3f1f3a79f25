"""Topping up a part-filled batch on the real SQL queue: what arrives in the window joins it."""

from __future__ import annotations

import threading
import time

from gesso.engine.batch_filling import MAX_PAUSES, images_in, top_up
from gesso.engine.worker_thread import WorkerThread
from tests.engine.test_worker import enqueue, make_worker, queue  # noqa: F401  (the fixture)


def test_jobs_queued_within_the_wait_join_the_batch_up_to_its_size(queue):  # noqa: F811
    enqueue(queue, "job_a")
    first = queue.claim_batch(3)
    loop = WorkerThread("test", poll_seconds=1.0)

    def arrivals() -> None:
        for job_id in ("job_b", "job_c", "job_d"):
            enqueue(queue, job_id)
            loop.wake()

    threading.Timer(0.05, arrivals).start()
    jobs = top_up(queue, first, 3, wait_s=5.0, idle=loop.idle)
    assert [job.id for job in jobs] == ["job_a", "job_b", "job_c"]  # full: it stops waiting
    assert [job.id for job in queue.claim_batch(3)] == ["job_d"]


def test_no_wait_or_a_full_batch_runs_as_claimed_and_a_stop_ends_the_wait(queue):  # noqa: F811
    enqueue(queue, "job_a", n=2)
    enqueue(queue, "job_b")
    first = queue.claim_batch(1)
    assert images_in(first) == 2
    never = lambda seconds: (_ for _ in ()).throw(AssertionError("waited"))  # noqa: E731
    assert top_up(queue, first, 2, wait_s=5.0, idle=never) == first
    assert top_up(queue, first, 4, wait_s=0.0, idle=never) == first
    assert top_up(queue, first, 4, wait_s=5.0, idle=lambda seconds: False) == first  # stopping
    assert [job.id for job in queue.claim_batch(4)] == ["job_b"]


def test_a_worker_that_is_never_woken_polls_within_the_wait(queue):  # noqa: F811
    enqueue(queue, "job_a")
    first = queue.claim_batch(4)
    slept: list[float] = []

    def idle(seconds: float) -> bool:
        slept.append(seconds)
        threading.Event().wait(seconds)
        return True

    assert top_up(queue, first, 4, wait_s=0.1, idle=idle) == first
    assert slept and all(0 < s <= 0.1 / 5 for s in slept)  # a fifth of the wait at most


def test_a_draining_worker_claims_nothing_more_for_its_batch(queue, tiny_pipeline):  # noqa: F811
    enqueue(queue, "job_a")
    worker = make_worker(queue, tiny_pipeline, [])
    worker.batch_wait_s = 5.0
    first = queue.claim_batch(4)
    enqueue(queue, "job_b")
    threading.Timer(0.05, worker.drain, args=(1.0,)).start()
    assert top_up(queue, first, 4, worker.batch_wait_s, worker._idle_for_more) == first
    assert [job.id for job in queue.claim_batch(4)] == ["job_b"]


def test_jobs_that_keep_arriving_keep_the_batch_waiting_past_one_pause(queue):  # noqa: F811
    enqueue(queue, "job_a")
    first = queue.claim_batch(8)
    loop = WorkerThread("test", poll_seconds=1.0)
    arrived = threading.Event()

    def arrivals() -> None:
        for k in range(4):  # one every 0.15 s: the last lands 0.6 s in, past a single 0.3 s pause
            threading.Event().wait(0.15)
            enqueue(queue, f"job_{k}")
            loop.wake()
        arrived.set()

    threading.Thread(target=arrivals).start()
    jobs = top_up(queue, first, 8, wait_s=0.3, idle=loop.idle)
    assert arrived.wait(5)
    assert [job.id for job in jobs] == ["job_a", "job_0", "job_1", "job_2", "job_3"]


def test_the_whole_wait_is_bounded_while_jobs_keep_arriving(queue):  # noqa: F811
    enqueue(queue, "job_a")
    first = queue.claim_batch(100)
    stop = threading.Event()

    def arrivals() -> None:
        k = 0
        while not stop.is_set():
            enqueue(queue, f"job_{k}")
            k += 1
            threading.Event().wait(0.01)

    threading.Thread(target=arrivals).start()
    started = time.monotonic()
    try:
        jobs = top_up(queue, first, 10_000, wait_s=0.05, idle=lambda s: threading.Event().wait(s) or True)
    finally:
        stop.set()
    assert time.monotonic() - started < MAX_PAUSES * 0.05 + 1.0  # ends although jobs still arrive
    assert len(jobs) > 5
