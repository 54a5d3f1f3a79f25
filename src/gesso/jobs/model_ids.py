"""Model ids of fine-tuned models: `ft:<base>:<tenant>:<suffix>:<job>` (OpenAI's shape), and the
rule for the suffix a caller chooses."""

from __future__ import annotations

import re

FINE_TUNED_PREFIX = "ft:"
SUFFIX_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
SUFFIX_RULE = "1-40 of a-z, 0-9, '-', '_' and start with a letter or digit"


def is_fine_tuned(name: str) -> bool:
    return name.startswith(FINE_TUNED_PREFIX)


def fine_tuned_model_name(base_model: str, tenant_name: str, suffix: str, job_id: str) -> str:
    """`ft:gesso-base:acme:brand:ftjob_...` (an empty suffix leaves `::`)."""
    return f"{FINE_TUNED_PREFIX}{base_model}:{tenant_name}:{suffix}:{job_id}"


def base_model_of(name: str) -> str:
    """The base model a fine-tuned model's id names (a base model's name is itself)."""
    if not is_fine_tuned(name):
        return name
    return name[len(FINE_TUNED_PREFIX):].split(":", 1)[0]


def is_valid_suffix(suffix: str) -> bool:
    """Whether `suffix` may name a fine-tuned model: SUFFIX_RULE (so never empty)."""
    return SUFFIX_PATTERN.match(suffix) is not None
