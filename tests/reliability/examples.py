from __future__ import annotations

from hypothesis import HealthCheck, settings


def fixed_examples(max_examples: int) -> settings:
    """Hypothesis settings for tests that must try the same examples on every run."""
    return settings(
        max_examples=max_examples,
        deadline=None,
        derandomize=True,
        database=None,  # no replay of examples saved by earlier runs
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
