"""The samplers Gesso offers, each a diffusers flow-matching scheduler."""

from __future__ import annotations

from diffusers import DPMSolverMultistepScheduler, FlowMatchEulerDiscreteScheduler
from diffusers.schedulers.scheduling_utils import SchedulerMixin

SAMPLERS = ("euler", "dpm")


def make_scheduler(name: str, shift: float = 1.0) -> SchedulerMixin:
    """`euler`: first-order flow-matching Euler; `dpm`: DPM-Solver++ (2M) on flow sigmas,
    which reaches the same quality in fewer steps."""
    if name == "euler":
        return FlowMatchEulerDiscreteScheduler(num_train_timesteps=1000, shift=shift)
    if name == "dpm":
        return DPMSolverMultistepScheduler(
            num_train_timesteps=1000,
            use_flow_sigmas=True,
            prediction_type="flow_prediction",
            flow_shift=shift,
            solver_order=2,
        )
    raise ValueError(unknown_sampler(name))


def unknown_sampler(name: str) -> str:
    """The one-line error for a sampler name that is not in SAMPLERS."""
    return f"unknown sampler {name!r}; choose from {', '.join(SAMPLERS)}"


def sampler_name(scheduler: SchedulerMixin) -> str:
    """The SAMPLERS name of a scheduler made by `make_scheduler` (else its class name)."""
    for name, cls in (("euler", FlowMatchEulerDiscreteScheduler), ("dpm", DPMSolverMultistepScheduler)):
        if isinstance(scheduler, cls):
            return name
    return type(scheduler).__name__
