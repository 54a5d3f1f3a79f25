"""Repeated refusals: the first is recorded, the repeats become summaries with their count;
memory is bounded however many sources and paths a caller uses."""

from __future__ import annotations

from gesso.governance.rate_limits import SourceRateLimiter
from gesso.governance.refusal_summaries import OVERFLOW, RefusalAggregator, RefusalGroup, RefusalRecord, RefusalSummary


def group(source: str = "10.0.0.1", status: int = 401) -> RefusalGroup:
    return RefusalGroup(None, "unknown key", source, status, "unauthenticated")


def test_first_refusal_is_recorded_and_repeats_become_a_summary_when_the_window_closes():
    aggregator = RefusalAggregator(window_s=60, summary_every=100)
    due = aggregator.observe(group(), "GET", "/v1/models", now=0.0)
    assert due == [RefusalRecord(group(), "GET", "/v1/models")]
    for i in range(1, 31):
        assert aggregator.observe(group(), "GET", f"/v1/x{i % 3}", now=float(i)) == []
    assert aggregator.flush(now=59.0) == []  # the window is still open
    [summary] = aggregator.flush(now=61.0)
    assert isinstance(summary, RefusalSummary) and summary.count == 30
    assert set(summary.paths) == {"/v1/x0", "/v1/x1", "/v1/x2"}
    # the next refusal opens a new window and is recorded again
    assert aggregator.observe(group(), "GET", "/v1/models", now=62.0)[0] == RefusalRecord(group(), "GET", "/v1/models")


def test_a_summary_is_due_every_n_repeats_without_waiting_for_the_window():
    aggregator = RefusalAggregator(window_s=3600, summary_every=10)
    written = [item for i in range(101) for item in aggregator.observe(group(), "GET", "/v1/models", now=float(i))]
    assert len(written) == 11  # 1 record + 10 summaries of 10: bounded, nothing uncounted
    assert sum(item.count for item in written if isinstance(item, RefusalSummary)) == 100


def test_many_sources_fold_into_one_overflow_group():
    aggregator = RefusalAggregator(window_s=60, summary_every=1000, max_groups=5)
    written = [item for i in range(1000) for item in aggregator.observe(group(f"10.0.{i // 256}.{i % 256}"), "GET", "/v1", now=1.0)]
    assert len(written) == 6  # five groups' first records and the overflow group's first
    assert written[-1].group.source == OVERFLOW
    [overflow] = aggregator.flush(now=1.0, everything=True)
    assert overflow.count == 1000 - 6


def test_failed_authentications_are_limited_per_source_with_bounded_memory():
    limiter = SourceRateLimiter(per_minute=3, max_sources=100)
    assert [limiter.retry_after("a", now=0.0) for _ in range(4)] == [0, 0, 0, 20]
    assert limiter.retry_after("b", now=0.0) == 0  # another address has its own bucket
    assert limiter.retry_after("a", now=20.0) == 0  # refilled at 3 a minute
    for i in range(1000):
        limiter.retry_after(f"host{i}", now=0.0)
    assert len(limiter) == 100
