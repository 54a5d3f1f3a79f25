"""Between a Ray fine-tune's driver and its rank 0: the requested action one way, events the other.

A small actor (no CPU of its own) per job. The driver sets the action it reads from the job's
row (pause, cancel); rank 0 reads it between steps and pushes events, whose files are sealed
before they leave the worker, so the actor and Ray's object store only ever hold ciphertext.
"""

from __future__ import annotations


class JobChannel:
    def __init__(self) -> None:
        self._action: str | None = None
        self._events: list[dict] = []

    def request(self, action: str | None) -> None:
        self._action = action

    def action(self) -> str | None:
        return self._action

    def push(self, event: dict) -> None:
        self._events.append(event)

    def drain(self) -> list[dict]:
        events, self._events = self._events, []
        return events


def open_channel():  # noqa: ANN201 - a Ray actor handle
    """A channel actor on the cluster this process joined."""
    import ray

    return ray.remote(num_cpus=0)(JobChannel).remote()
