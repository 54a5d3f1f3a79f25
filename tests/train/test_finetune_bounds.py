"""The one table of fine-tune hyperparameter ranges and the cap on a run's total steps."""

import math

import pytest

from gesso.train.finetune_bounds import (
    HyperparameterOutOfRange,
    check_hyperparameter,
    check_run_hyperparameters,
    check_total_steps,
    epochs_within,
)


@pytest.mark.parametrize(("name", "value"), [
    ("n_epochs", 10**9), ("n_epochs", 0), ("n_epochs", 2.0), ("n_epochs", True), ("n_epochs", "10"),
    ("batch_size", 257), ("rank", 129), ("rank", -1),
    ("learning_rate_multiplier", 0), ("learning_rate_multiplier", math.nan), ("learning_rate_multiplier", math.inf),
    ("learning_rate_multiplier", 101), ("trigger", "x" * 65), ("trigger", "a\nb"), ("trigger", 3),
])
def test_values_outside_their_range_are_refused_by_name(name, value):
    with pytest.raises(HyperparameterOutOfRange) as refused:
        check_hyperparameter(name, value)
    assert refused.value.name == name and name in str(refused.value)


@pytest.mark.parametrize(("name", "value"), [
    ("n_epochs", 1), ("n_epochs", 1000), ("n_epochs", "auto"), ("batch_size", None), ("rank", 128),
    ("learning_rate_multiplier", 0.01), ("learning_rate_multiplier", 100), ("trigger", "acme"),
])
def test_values_inside_their_range_pass(name, value):
    check_hyperparameter(name, value)


def test_total_work_is_capped_and_auto_epochs_shrink_to_fit():
    assert check_total_steps(25, 4, 16, 100) == 100
    with pytest.raises(HyperparameterOutOfRange) as refused:
        check_total_steps(26, 4, 16, 100)
    assert refused.value.name == "n_epochs" and "104 steps" in str(refused.value)
    assert epochs_within(100, 16, 1, wanted=10) == 6
    assert epochs_within(100, 10_000, 1, wanted=10) == 1  # never below one epoch (then refused)


def test_the_cli_check_covers_every_hyperparameter():
    check_run_hyperparameters(10, 4, 1.0, 8, "", images=16, max_steps=1000)
    with pytest.raises(HyperparameterOutOfRange):
        check_run_hyperparameters(10**9, 4, 1.0, 8, "", images=16, max_steps=10**12)
