"""Switch off every hub download and telemetry path before any ML library is imported.

`gesso/__init__.py` calls `force_offline()` first thing, so the switches are in the environment
before transformers, diffusers, huggingface_hub (or Ray, W&B, Gradio if an operator adds them) read
them. The egress guard (`governance/egress_guard.py`) backs this up at the socket level.
"""

import os
from typing import Mapping

OFFLINE_ENV = {
    # Hugging Face hub, transformers, datasets, diffusers: no downloads, telemetry or token lookup.
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "HF_HUB_DISABLE_IMPLICIT_TOKEN": "1",
    # Generic opt-outs that several libraries honour.
    "DISABLE_TELEMETRY": "1",
    "DO_NOT_TRACK": "1",
    "SCARF_NO_ANALYTICS": "true",
    "ANONYMIZED_TELEMETRY": "False",
    # Tools an operator may bring alongside Gesso at scale.
    "RAY_USAGE_STATS_ENABLED": "0",
    "WANDB_MODE": "disabled",
    "GRADIO_ANALYTICS_ENABLED": "False",
}


def force_offline() -> None:
    """Set every switch in OFFLINE_ENV, overriding what the environment had."""
    for key, value in OFFLINE_ENV.items():
        os.environ[key] = value


def offline_gaps(environ: Mapping[str, str] | None = None) -> list[str]:
    """Names of the switches missing or set otherwise (an empty list when fully offline)."""
    environ = os.environ if environ is None else environ
    return [key for key, value in OFFLINE_ENV.items() if environ.get(key) != value]
