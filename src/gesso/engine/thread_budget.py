"""One process-wide budget of CPU threads for torch, shared by the work running at a time.

torch's intra-op thread count is global to the process, yet every Python thread that runs an op
opens a team of that many threads: a generation batch and a fine-tune running side by side at
the full count would put twice as many busy threads as cores. The budget splits the cores evenly
among the workloads running now and gives them back when one ends.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from typing import Callable, Iterator

import torch

log = logging.getLogger("gesso.engine")


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity, which containers narrow)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def total_threads(configured: int | None, environ: dict[str, str] | None = None) -> int:
    """The budget: the setting if given, else OMP_NUM_THREADS if set, else the available cores."""
    if configured is not None:
        return max(1, configured)
    env = os.environ if environ is None else environ
    text = env.get("OMP_NUM_THREADS", "").strip()
    if text.isascii() and text.isdigit() and int(text) > 0:
        return int(text)
    return available_cores()


def share(total: int, running: int) -> int:
    """Threads each of `running` concurrent workloads gets out of `total` (at least one)."""
    return max(1, total // max(1, running))


class ThreadBudget:
    """`with budget.running("fine-tune"):` around a workload's compute."""

    def __init__(self, total: int, apply: Callable[[int], None] = torch.set_num_threads):
        self.total = total
        self._apply = apply
        self._running: list[str] = []
        self._lock = threading.Lock()
        self._apply(total)

    @contextlib.contextmanager
    def running(self, workload: str) -> Iterator[int]:
        with self._lock:
            self._running.append(workload)
            threads = self._rebalance()
        try:
            yield threads
        finally:
            with self._lock:
                self._running.remove(workload)
                self._rebalance()

    def _rebalance(self) -> int:
        threads = share(self.total, len(self._running))
        self._apply(threads)
        if len(self._running) > 1:
            log.info("threads: %d each for %s (%d in all)", threads, ", ".join(self._running), self.total)
        return threads


_process_budget: ThreadBudget | None = None
_process_lock = threading.Lock()


def process_thread_budget(configured: int | None = None) -> ThreadBudget:
    """The process's one budget, made on the first call: every worker in a process must share it.
    `configured` is the `torch_threads` setting; a later call with another value keeps the first."""
    global _process_budget
    with _process_lock:
        if _process_budget is None:
            _process_budget = ThreadBudget(total_threads(configured))
        return _process_budget
