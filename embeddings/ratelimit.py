from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection
from django.utils import timezone

from embeddings.models import RateLimitWindow

WINDOW = timedelta(minutes=1)


@dataclass(frozen=True, kw_only=True)
class RateLimitCount:
    """One client's requests in the current one-minute window, this one included."""

    limit: int
    used: int
    resets_at: datetime

    @property
    def exceeded(self) -> bool:
        return self.used > self.limit

    @property
    def retry_after_sec(self) -> int:
        return max(1, math.ceil((self.resets_at - timezone.now()).total_seconds()))

    @property
    def headers(self) -> dict[str, str]:
        """TwelveLabs' rate-limit headers, and Retry-After once over the limit."""
        headers = {
            "X-Ratelimit-Limit": str(self.limit),
            "X-Ratelimit-Remaining": str(max(self.limit - self.used, 0)),
            "X-Ratelimit-Used": str(min(self.used, self.limit)),
            "X-Ratelimit-Reset": str(int(self.resets_at.timestamp())),
        }
        if self.exceeded:
            headers["Retry-After"] = str(self.retry_after_sec)
        return headers


def rate_limit_consume(*, scope: str, limit: int, now: datetime | None = None) -> RateLimitCount:
    """Count one request of `scope` (who is counted for what) in its current window."""
    now = now or timezone.now()
    window_start = now.replace(second=0, microsecond=0)
    table = RateLimitWindow._meta.db_table
    with connection.cursor() as cursor:
        # One statement, so concurrent requests in any number of processes count exactly; it
        # also clears every client's ended windows, which are never read again.
        cursor.execute(
            f"""
            WITH ended AS (DELETE FROM {table} WHERE window_start < %s)
            INSERT INTO {table} (scope, window_start, count) VALUES (%s, %s, 1)
            ON CONFLICT (scope, window_start) DO UPDATE SET count = {table}.count + 1
            RETURNING count
            """,
            [window_start, scope, window_start],
        )
        (count,) = cursor.fetchone()
    return RateLimitCount(limit=limit, used=count, resets_at=window_start + WINDOW)
