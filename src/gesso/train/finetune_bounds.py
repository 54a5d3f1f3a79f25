"""The ranges a fine-tune's hyperparameters may take, and the cap on a run's total work.

One table, read by the API schema (so /openapi.json shows the bounds), by job creation and by
`gesso finetune create`: a value outside it is refused before any job exists. The step cap keeps
one tenant's run from holding the single fine-tune slot of a server for days.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class NumberRange:
    """`low <= value <= high` (or `low < value` when `low_open`); `integer` refuses fractions."""

    low: float
    high: float
    integer: bool = True
    low_open: bool = False

    def contains(self, value: object) -> bool:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        if self.integer and not isinstance(value, int):
            return False
        above = value > self.low if self.low_open else value >= self.low
        return above and value <= self.high  # NaN fails both comparisons

    def describe(self) -> str:
        kind = "an integer" if self.integer else "a number"
        if self.low_open:
            return f"{kind} in ({self.low:g}, {self.high:g}]"
        return f"{kind} between {self.low:g} and {self.high:g}"


HYPERPARAMETER_RANGES: dict[str, NumberRange] = {
    "n_epochs": NumberRange(1, 1000),
    "batch_size": NumberRange(1, 256),
    "learning_rate_multiplier": NumberRange(0, 100, integer=False, low_open=True),
    "rank": NumberRange(1, 128),
}
TRIGGER_MAX_CHARS = 64
SEED_RANGE = NumberRange(0, 2**31 - 1)


class HyperparameterOutOfRange(ValueError):
    """A hyperparameter outside its range; `name` is the hyperparameter (`n_epochs`, ...)."""

    def __init__(self, name: str, message: str):
        super().__init__(message)
        self.name = name


def check_hyperparameter(name: str, value: object) -> None:
    """Raise HyperparameterOutOfRange unless `value` lies in `name`'s range ("auto"/None aside)."""
    if value is None or value == "auto":
        return
    if name == "trigger":
        check_trigger(value)
        return
    bound = HYPERPARAMETER_RANGES[name]
    if not bound.contains(value):
        raise HyperparameterOutOfRange(name, f"{name} must be {bound.describe()} or \"auto\", got {value!r}")


def check_trigger(value: object) -> None:
    if not isinstance(value, str):
        raise HyperparameterOutOfRange("trigger", "trigger must be a string")
    if len(value) > TRIGGER_MAX_CHARS or any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise HyperparameterOutOfRange(
            "trigger", f"trigger must be one line of at most {TRIGGER_MAX_CHARS} printable characters")


def steps_per_epoch(images: int, batch_size: int) -> int:
    return max(1, math.ceil(images / max(batch_size, 1)))


def check_total_steps(n_epochs: int, batch_size: int, images: int, max_steps: int) -> int:
    """The run's optimiser steps (epochs x steps per epoch); HyperparameterOutOfRange naming
    `n_epochs` when that is over `max_steps`."""
    total = n_epochs * steps_per_epoch(images, batch_size)
    if total > max_steps:
        raise HyperparameterOutOfRange(
            "n_epochs",
            f"{n_epochs} epoch(s) of {images} image(s) at batch_size {batch_size} is {total} steps, over this "
            f"server's limit of {max_steps}: lower n_epochs or raise batch_size")
    return total


def epochs_within(max_steps: int, images: int, batch_size: int, wanted: int) -> int:
    """The default epoch count ("auto") lowered so the run fits `max_steps` (at least 1)."""
    return max(1, min(wanted, max_steps // steps_per_epoch(images, batch_size)))


def check_run_hyperparameters(
    n_epochs: int, batch_size: int, learning_rate_multiplier: float, rank: int, trigger: str,
    images: int, max_steps: int,
) -> None:
    """Every hyperparameter of a resolved run in range and its total work under `max_steps`
    (the CLI's check; the API checks the same table in its schema and at job creation)."""
    values = {"n_epochs": n_epochs, "batch_size": batch_size, "learning_rate_multiplier": learning_rate_multiplier,
              "rank": rank, "trigger": trigger}
    for name, value in values.items():
        check_hyperparameter(name, value)
    check_total_steps(n_epochs, batch_size, images, max_steps)
