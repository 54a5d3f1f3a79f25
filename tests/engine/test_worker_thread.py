"""The thread under both workers: `wake()` ends an idle sleep, `stop()` ends the loop."""

from __future__ import annotations

import threading

from gesso.engine.worker_thread import WorkerThread


def test_wake_ends_the_idle_sleep_and_stop_ends_the_loop():
    thread = WorkerThread("test-worker", poll_seconds=3600.0)  # only a wake can end the sleep
    rounds: list[int] = []
    woke = threading.Event()

    def loop() -> None:
        while not thread.stopping.is_set():
            thread.idle()
            rounds.append(1)
            woke.set()

    thread.start(loop)
    assert thread.alive
    thread.wake()
    assert woke.wait(30), "wake() did not end the idle sleep"
    thread.stop(30)
    assert not thread.alive and rounds
