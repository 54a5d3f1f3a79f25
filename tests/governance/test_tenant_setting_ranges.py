"""Every organisation setting a client may set has a range; a value outside it is refused naming
the setting, and nothing non-finite is ever stored."""

from __future__ import annotations

import pytest

from gesso.governance.tenant_policy import (
    MAX_RETENTION_DAYS,
    SETTING_NAMES,
    SETTING_RANGES,
    SettingsChange,
    TenantSettings,
    checked_settings,
)


def test_every_setting_has_a_documented_range():
    assert set(SETTING_RANGES) == set(SETTING_NAMES) == set(SettingsChange.model_fields)


@pytest.mark.parametrize(
    ("changes", "field"),
    [({"image_retention_days": float("inf")}, "image_retention_days"),
     ({"image_retention_days": MAX_RETENTION_DAYS + 1}, "image_retention_days"),
     ({"job_retention_days": 0}, "job_retention_days"), ({"job_retention_days": True}, "job_retention_days"),
     ({"semantic_threshold": float("nan")}, "semantic_threshold"), ({"low_semantic_threshold": 0}, "low_semantic_threshold"),
     ({"blocked_terms": ["a\ud800"]}, "blocked_terms"), ({"blocked_terms": ["x" * 201]}, "blocked_terms"),
     ({"blocked_concepts": ["ok"] * 501}, "blocked_concepts"), ({"blocked_concepts": ["  "]}, "blocked_concepts"),
     ({"prompt_mode": None}, "prompt_mode"), ({"model_approval_required": 1}, "model_approval_required"),
     ({"colour": "red"}, "colour")],
)
def test_a_setting_outside_its_range_is_refused_naming_it(changes, field):
    with pytest.raises(ValueError, match=f"^{field}: "):
        checked_settings(TenantSettings(), changes)


def test_only_the_given_settings_change():
    current = TenantSettings(prompt_mode="store", image_retention_days=3.0)
    after = checked_settings(current, {"job_retention_days": 7, "blocked_terms": [" bomb ", "bomb", "gun"]})
    assert after.prompt_mode == "store" and after.image_retention_days == 3.0
    assert after.job_retention_days == 7.0 and after.blocked_terms == ["bomb", "gun"]
    assert checked_settings(after, {"image_retention_days": None}).image_retention_days is None
