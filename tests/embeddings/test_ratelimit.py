from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from embeddings.models import RateLimitWindow
from embeddings.ratelimit import rate_limit_consume

pytestmark = pytest.mark.django_db

MOMENT = timezone.now().replace(second=30, microsecond=0)


def test_each_scope_is_counted_apart() -> None:
    counts = [rate_limit_consume(scope=scope, limit=2, now=MOMENT) for scope in "aab"]

    assert [count.used for count in counts] == [1, 2, 1]


def test_a_count_over_the_limit_says_when_to_retry() -> None:
    for _ in range(2):
        rate_limit_consume(scope="a", limit=1, now=MOMENT)

    count = rate_limit_consume(scope="a", limit=1, now=MOMENT)

    assert count.exceeded
    assert count.resets_at == MOMENT.replace(second=0) + timedelta(minutes=1)
    assert count.headers["X-Ratelimit-Used"] == "1"
    assert count.headers["X-Ratelimit-Remaining"] == "0"
    assert 1 <= int(count.headers["Retry-After"]) <= 60


def test_a_new_window_starts_again_and_clears_every_ended_window() -> None:
    for scope in ("a", "b"):
        rate_limit_consume(scope=scope, limit=1, now=MOMENT)

    count = rate_limit_consume(scope="a", limit=1, now=MOMENT + timedelta(minutes=1))

    assert count.used == 1 and not count.exceeded
    assert list(RateLimitWindow.objects.values_list("scope", flat=True)) == ["a"]
