"""The expected wait shared across replicas: each worker writes its seconds per image to the
database; any replica combines the workers seen in the last minute (their throughputs add up),
ignores stale ones, and reads the rows at most every few seconds."""

from __future__ import annotations

import time

import pytest

from gesso.service.runtime.expected_wait import (
    ExpectedWait,
    SharedExpectedWait,
    combined_seconds_per_image,
)
from gesso.service.runtime.throughput_reporter import ThroughputReporter
from gesso.store.database import open_database
from gesso.store.tables import WorkerThroughput
from gesso.store.worker_throughput import live_throughputs, record_throughput


class Clock:
    def __init__(self, now: float = 1_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture()
def sessions(tmp_path):
    return open_database(f"sqlite:///{tmp_path / 'gesso.db'}")


def test_workers_side_by_side_add_their_throughputs():
    assert combined_seconds_per_image([]) is None
    assert combined_seconds_per_image([2.0]) == pytest.approx(2.0)
    assert combined_seconds_per_image([2.0, 2.0]) == pytest.approx(1.0)  # two equal workers: twice as fast
    assert combined_seconds_per_image([1.0, 3.0]) == pytest.approx(0.75)


def test_a_replica_without_a_worker_reads_the_live_workers_figures(sessions):
    clock = Clock()
    with sessions.begin() as session:
        record_throughput(session, "w1", 2.0, clock.now)
        record_throughput(session, "w2", 2.0, clock.now - 30)
        record_throughput(session, "gone", 0.01, clock.now - 61)  # stale: its worker died
    shared = SharedExpectedWait(sessions, clock=clock)
    assert shared.seconds_per_image == pytest.approx(1.0)
    assert shared.seconds_for(10) == pytest.approx(10.0)
    assert shared.seconds_for(0) == 0.0


def test_nothing_measured_refuses_nothing(sessions):
    shared = SharedExpectedWait(sessions, clock=Clock())
    assert shared.seconds_per_image is None and shared.seconds_for(10_000) == 0.0


def test_the_read_is_cached_briefly(sessions):
    clock = Clock()
    shared = SharedExpectedWait(sessions, clock=clock, cache_s=2.0)
    assert shared.seconds_for(10) == 0.0
    with sessions.begin() as session:
        record_throughput(session, "w1", 0.5, clock.now)
    clock.now += 1.0
    assert shared.seconds_for(10) == 0.0  # within the cache: the figure read a second ago
    clock.now += 1.5
    assert shared.seconds_for(10) == pytest.approx(5.0)


def test_a_worker_updates_its_own_row_and_its_own_figure_counts_as_it_is_now(sessions):
    clock = Clock()
    with sessions.begin() as session:
        record_throughput(session, "me", 100.0, clock.now)  # an old figure of this very worker
        record_throughput(session, "me", 4.0, clock.now)
        record_throughput(session, "other", 4.0, clock.now)
    with sessions() as session:
        assert sorted(live_throughputs(session, clock.now - 1)) == [4.0, 4.0]
    local = ExpectedWait()
    local.observe(images=2, seconds=2.0)  # 1 s per image now; its row says 4
    shared = SharedExpectedWait(sessions, local=local, owner="me", clock=clock)
    assert shared.seconds_per_image == pytest.approx(1.0 / (1.0 + 0.25))


def test_the_reporter_writes_after_a_run_and_removes_its_row_when_stopped(sessions):
    reporter = ThroughputReporter(sessions, "worker-a")
    reporter.write()  # nothing measured yet: nothing written
    with sessions() as session:
        assert session.get(WorkerThroughput, "worker-a") is None
    reporter.start()
    reporter.observe(images=4, seconds=2.0)

    def row():
        with sessions() as session:
            return session.get(WorkerThroughput, "worker-a")

    deadline = time.monotonic() + 10
    while row() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert row().seconds_per_image == pytest.approx(0.5)
    reporter.stop()
    assert row() is None
