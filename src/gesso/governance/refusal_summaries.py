"""Repeated refusals become summaries, so a flood of bad requests cannot flood the audit log.

Refusals are grouped by (tenant, actor, source address, status, code). The first of a group in a
window is recorded as it is; the repeats are counted, and a summary record with the count is
due when the window closes or every `summary_every` repeats. At most `max_groups` groups are
tracked at once; past that, new groups fold into one overflow group per status, so memory and
the number of records stay bounded whatever a caller sends.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

SAMPLE_PATHS = 5
OVERFLOW = "*"


@dataclass(frozen=True)
class RefusalGroup:
    tenant_id: str | None
    actor: str
    source: str
    status: int
    code: str


@dataclass(frozen=True)
class RefusalRecord:
    """One refusal to record as it is."""

    group: RefusalGroup
    method: str
    path: str


@dataclass(frozen=True)
class RefusalSummary:
    """`count` refusals of `group` since `since` that were not recorded one by one."""

    group: RefusalGroup
    count: int
    since: float
    until: float
    paths: tuple[str, ...]


@dataclass
class _Window:
    started: float
    repeats: int = 0
    repeats_since: float = 0.0
    paths: list[str] = field(default_factory=list)


class RefusalAggregator:
    """Thread-safe; `observe` and `flush` return what the caller should write to the audit log."""

    def __init__(self, window_s: float = 60.0, summary_every: int = 100, max_groups: int = 1000):
        self.window_s = max(0.0, window_s)
        self.summary_every = max(1, summary_every)
        self.max_groups = max(1, max_groups)
        self._windows: dict[RefusalGroup, _Window] = {}  # insertion order = window start order
        self._lock = threading.Lock()

    def observe(
        self, group: RefusalGroup, method: str, path: str, now: float | None = None
    ) -> list[RefusalRecord | RefusalSummary]:
        """One refusal; returns the records now due (the refusal itself if first in its window,
        summaries of windows that closed or filled)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            due: list[RefusalRecord | RefusalSummary] = self._close_expired(now)
            if group not in self._windows and len(self._windows) >= self.max_groups:
                group = RefusalGroup(None, OVERFLOW, OVERFLOW, group.status, group.code)
            window = self._windows.get(group)
            if window is None:
                self._windows[group] = _Window(started=now)
                due.append(RefusalRecord(group, method, path))
                return due
            if window.repeats == 0:
                window.repeats_since = now
            window.repeats += 1
            if path not in window.paths and len(window.paths) < SAMPLE_PATHS:
                window.paths.append(path)
            if window.repeats >= self.summary_every:
                due.append(self._summary(group, window, now))
                window.repeats, window.paths = 0, []
            return due

    def flush(self, now: float | None = None, everything: bool = False) -> list[RefusalSummary]:
        """Summaries of windows that have closed (all windows with `everything`, at shutdown)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            if not everything:
                return self._close_expired(now)
            due = [self._summary(g, w, now) for g, w in self._windows.items() if w.repeats]
            self._windows.clear()
            return due

    def _close_expired(self, now: float) -> list[RefusalSummary]:
        due = []
        while self._windows:
            group, window = next(iter(self._windows.items()))
            if now - window.started < self.window_s:
                break
            del self._windows[group]
            if window.repeats:
                due.append(self._summary(group, window, now))
        return due

    @staticmethod
    def _summary(group: RefusalGroup, window: _Window, now: float) -> RefusalSummary:
        return RefusalSummary(group, window.repeats, window.repeats_since, now, tuple(window.paths))
