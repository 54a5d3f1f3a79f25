"""Which database errors pass with time (a lock, a lost connection), and retrying through them.

SQLite says "database is locked" when its busy timeout runs out while another connection holds
the write lock; a server database raises OperationalError for lost connections and lock or
statement timeouts. Those are worth a retry (or a 503 to a client); a schema error is not.
"""

from __future__ import annotations

import logging
import time
from typing import Callable, TypeVar

from sqlalchemy.exc import DBAPIError, DisconnectionError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

T = TypeVar("T")
log = logging.getLogger("gesso.store")

_SQLITE_TRANSIENT = ("database is locked", "database table is locked", "database is busy",
                     "unable to open database file", "disk i/o error")


def is_transient(exc: BaseException) -> bool:
    """True for errors that a later attempt may not meet: locks, timeouts, lost connections."""
    if isinstance(exc, (DisconnectionError, PoolTimeout)):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    if not isinstance(exc, OperationalError):
        return False
    if type(exc.orig).__module__.startswith("sqlite3"):
        message = str(exc.orig).lower()
        return any(text in message for text in _SQLITE_TRANSIENT)
    return True  # a server database: connection, lock-wait or statement timeout


def retry_transient(
    action: Callable[[], T],
    *,
    what: str,
    budget_s: float,
    first_delay_s: float = 0.25,
    max_delay_s: float = 5.0,
    should_stop: Callable[[], bool] = lambda: False,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run `action`, retrying with exponential backoff while it fails with a transient error and
    `budget_s` seconds have not passed (or `should_stop()` says to give up). Raises the last
    error when the budget is spent, and any other error at once."""
    deadline = time.monotonic() + budget_s
    delay = first_delay_s
    while True:
        try:
            return action()
        except Exception as exc:
            if not is_transient(exc) or time.monotonic() + delay > deadline or should_stop():
                raise
            log.warning("%s failed (%s); retrying in %.2fs", what, str(exc).splitlines()[0][:120], delay)
            sleep(delay)
            delay = min(max_delay_s, delay * 2)
