"""Hypothesis profiles: `ci` (the default: derandomized, so every run tries the same inputs) and
`fuzz` (`make fuzz`: many more random inputs). QUANZU_HYPOTHESIS_PROFILE picks one."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", derandomize=True, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "fuzz", max_examples=3000, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("QUANZU_HYPOTHESIS_PROFILE", "ci"))
