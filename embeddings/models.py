from __future__ import annotations

import hashlib
import hmac
import secrets

from django.conf import settings
from django.db import models

KEY_PREFIX = "ask_"
LOOKUP_LENGTH = 8


def digest_key(key: str) -> str:
    # Keys carry 256 random bits, so a fast hash is as safe as a slow one here.
    return hashlib.sha256(key.encode()).hexdigest()


class ApiKeyQuerySet(models.QuerySet["ApiKey"]):
    def active(self) -> ApiKeyQuerySet:
        return self.filter(revoked_at__isnull=True)


class ApiKey(models.Model):
    name = models.CharField(max_length=100)
    lookup = models.CharField(max_length=LOOKUP_LENGTH, unique=True, editable=False)
    digest = models.CharField(max_length=64, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ApiKeyQuerySet.as_manager()

    class Meta:
        verbose_name = "API key"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({KEY_PREFIX}{self.lookup}…)"

    def matches(self, key: str) -> bool:
        return hmac.compare_digest(self.digest, digest_key(key))

    @staticmethod
    def generate() -> tuple[str, str, str]:
        """A new key with its lookup part and digest; the key itself is never stored."""
        secret = secrets.token_urlsafe(32)
        key = f"{KEY_PREFIX}{secret}"
        return key, secret[:LOOKUP_LENGTH], digest_key(key)


class RateLimitWindow(models.Model):
    """Requests counted in one minute for one client of a limit."""

    # Who is counted for what: "api-key:12", "search:address:192.0.2.7", "file-search:user:3".
    scope = models.CharField(max_length=100)
    window_start = models.DateTimeField(db_index=True)
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["scope", "window_start"], name="one_window_per_scope"),
        ]

    def __str__(self) -> str:
        return f"{self.scope}: {self.count} requests from {self.window_start:%H:%M}"
