from __future__ import annotations

from django.utils import timezone

from embeddings.models import KEY_PREFIX, LOOKUP_LENGTH, ApiKey


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
