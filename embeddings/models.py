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


def new_task_id() -> str:
    # The shape of TwelveLabs' task ids (24 hex digits); random, so ids reveal nothing.
    return secrets.token_hex(12)


class EmbedTask(models.Model):
    """An asynchronous embedding task (`/embed/tasks` or `/embed-v2/tasks`), kept for
    EMBEDDINGS_TASK_RETENTION_DAYS. Its media file is kept only until the task ends."""

    class Api(models.TextChoices):
        V1 = "v1"
        V2 = "v2"

    class InputType(models.TextChoices):
        VIDEO = "video"
        AUDIO = "audio"

    class Status(models.TextChoices):
        PROCESSING = "processing"
        READY = "ready"
        FAILED = "failed"

    id = models.CharField(primary_key=True, max_length=24, default=new_task_id, editable=False)
    api = models.CharField(max_length=2, choices=Api)
    # A key sees only its own tasks; without keys required, keyless clients share theirs.
    api_key = models.ForeignKey(ApiKey, null=True, blank=True, on_delete=models.CASCADE)
    input_type = models.CharField(max_length=5, choices=InputType)
    model_name = models.CharField(max_length=100)
    status = models.CharField(max_length=10, choices=Status, default=Status.PROCESSING)
    media = models.FileField(upload_to="embed-tasks/", blank=True)
    input_url = models.CharField(max_length=2048, blank=True)
    input_filename = models.CharField(max_length=255, blank=True)
    start_sec = models.FloatField(default=0.0)
    end_sec = models.FloatField(null=True, blank=True)
    clip_sec = models.FloatField()
    options = models.JSONField(default=list)  # visual, audio, fused
    scopes = models.JSONField(default=list)  # clip, asset
    duration_sec = models.FloatField(null=True, blank=True)
    error_message = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Renewed while a worker runs the task; one left unrenewed lost its worker.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    lost_jobs = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["api_key", "api", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.input_type} task {self.id} ({self.status})"


class EmbedTaskSegment(models.Model):
    task = models.ForeignKey(EmbedTask, on_delete=models.CASCADE, related_name="segments")
    option = models.CharField(max_length=10)
    scope = models.CharField(max_length=10)
    start_sec = models.FloatField()
    end_sec = models.FloatField()
    # float32, little-endian: a quarter of the space of the same vector as JSON numbers.
    vector = models.BinaryField()

    class Meta:
        ordering = ["task", "id"]

    def __str__(self) -> str:
        return f"{self.option} {self.scope} {self.start_sec:.1f}-{self.end_sec:.1f} s"
