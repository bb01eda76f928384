from __future__ import annotations

from datetime import datetime, timedelta

from django.db import connection
from django.utils import timezone

from embeddings.models import KEY_PREFIX, LOOKUP_LENGTH, ApiKey, RateLimitWindow


def api_key_create(*, name: str, owner_id: int | None = None) -> tuple[ApiKey, str]:
    key, lookup, digest = ApiKey.generate()
    api_key = ApiKey.objects.create(name=name, lookup=lookup, digest=digest, owner_id=owner_id)
    return api_key, key


def api_key_find(key: str) -> ApiKey | None:
    if not key.startswith(KEY_PREFIX):
        return None
    lookup = key[len(KEY_PREFIX) : len(KEY_PREFIX) + LOOKUP_LENGTH]
    api_key = ApiKey.objects.active().filter(lookup=lookup).first()
    if api_key is None or not api_key.matches(key):
        return None
    ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=timezone.now())
    return api_key


def api_key_revoke(*, api_key: ApiKey) -> None:
    api_key.revoked_at = timezone.now()
    api_key.save(update_fields=["revoked_at"])


def rate_limit_consume(*, api_key: ApiKey, now: datetime | None = None) -> tuple[int, datetime]:
    """Count one request in the key's current one-minute window: (requests so far, window end)."""
    now = now or timezone.now()
    window_start = now.replace(second=0, microsecond=0)
    table = RateLimitWindow._meta.db_table
    with connection.cursor() as cursor:
        # One statement, so concurrent requests in any number of processes count exactly.
        cursor.execute(
            f"""
            INSERT INTO {table} (api_key_id, window_start, count) VALUES (%s, %s, 1)
            ON CONFLICT (api_key_id, window_start) DO UPDATE SET count = {table}.count + 1
            RETURNING count
            """,
            [api_key.pk, window_start],
        )
        (count,) = cursor.fetchone()
    if count == 1:
        RateLimitWindow.objects.filter(api_key=api_key, window_start__lt=window_start).delete()
    return count, window_start + timedelta(minutes=1)
