"""End the `gesso` process without the interpreter's teardown.

Once torch, diffusers and transformers are loaded, Python's own shutdown (freeing every module
and object one by one) takes about a second, longer than generating one image. When a command
has finished, nothing is left for that teardown to do: exit handlers are run here (logging
flushes its handlers in one), the standard streams are flushed, and the process ends. Where a
thread other than the main one is still running, the ordinary exit is kept, since it waits for
such threads.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
from typing import NoReturn


def exit_status(code: object) -> int:
    """The process status `sys.exit(code)` would give: None is 0, an int itself, anything
    else 1 (its text is written on stderr, as Python does)."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    sys.stderr.write(f"{code}\n")
    return 1


def exit_without_teardown(code: object) -> NoReturn:
    """Run the exit handlers, flush stdout and stderr, and end the process with `code`'s status;
    `sys.exit(code)` instead while a non-daemon thread other than this one is alive."""
    current = threading.current_thread()
    if any(t is not current and not t.daemon for t in threading.enumerate()):
        sys.exit(code)
    status = exit_status(code)
    atexit._run_exitfuncs()  # no public equivalent; the interpreter calls the same at exit
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe or stream: nothing more can be written
            pass
    os._exit(status)
