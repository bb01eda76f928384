from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVectorField
from django.db import models
from pgvector.django import VectorField


class Modality(models.TextChoices):
    IMAGE = "image", "Image"
    AUDIO = "audio", "Audio"
    VIDEO = "video", "Video"
    TEXT = "text", "Text"


class Status(models.TextChoices):
    PENDING = "pending", "Pending"
    PROCESSING = "processing", "Processing"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"
    # The model could not be loaded: not the item's fault, so no attempt is used up; the worker
    # queues waiting items again once it has the model (services/jobs.py).
    WAITING = "waiting", "Waiting for the model"


class Item(models.Model):
    modality = models.CharField(max_length=5, choices=Modality.choices)
    file = models.FileField(upload_to="items/%Y/%m/", blank=True)
    thumbnail = models.ImageField(upload_to="thumbnails/%Y/%m/", blank=True)
    # A display-size rendition of an image too large (or of a type browsers do not show) to
    # put on the item page as it is; db_default for rows inserted by SQL (the benchmarks).
    preview = models.ImageField(upload_to="previews/%Y/%m/", blank=True, db_default="")
    text = models.TextField(blank=True)
    original_filename = models.CharField(max_length=255, blank=True)
    content_hash = models.CharField(max_length=64, unique=True, editable=False)
    title = models.CharField(max_length=255, blank=True)
    description = models.TextField(blank=True)
    tags = ArrayField(models.CharField(max_length=64), default=list, blank=True)
    source_url = models.URLField(max_length=2000, blank=True)
    mime_type = models.CharField(max_length=100, blank=True)
    size_bytes = models.PositiveBigIntegerField(default=0)
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    duration_sec = models.FloatField(null=True, blank=True)
    # Of audio: the peak level (0 to WAVEFORM_TOP) of each of WAVEFORM_BARS equal stretches,
    # computed while the worker decodes the clip (searchapp/waveforms.py).
    waveform = ArrayField(models.PositiveSmallIntegerField(), null=True, blank=True, editable=False)
    hidden = models.BooleanField(default=False)
    # Hidden by its uploader, who may still open it and show it again; a curator's hide
    # (staff, the admin) stands against the uploader (searchapp/access.py).
    hidden_by_owner = models.BooleanField(default=False, db_default=False, editable=False)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    error_message = models.TextField(blank=True)
    embedded_with = models.CharField(max_length=255, blank=True, editable=False)
    embedded_at = models.DateTimeField(null=True, blank=True, editable=False)
    # The job embedding the item renews this while it runs (services/jobs.py, ItemLease); an item
    # processing whose heartbeat stopped lost its worker, and lost_jobs counts how often.
    heartbeat_at = models.DateTimeField(null=True, blank=True, editable=False)
    # db_default too, for rows inserted by SQL (the benchmarks).
    lost_jobs = models.PositiveSmallIntegerField(default=0, db_default=0, editable=False)
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    search_document = SearchVectorField(null=True, editable=False)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            GinIndex(fields=["search_document"], name="item_search_document"),
            GinIndex(fields=["tags"], name="item_tags"),
            models.Index(fields=["status", "hidden", "modality"], name="item_listing"),
            models.Index(fields=["embedded_with"], name="item_embedded_with"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(modality="text", text__gt="")
                | (~models.Q(modality="text") & ~models.Q(file="")),
                name="item_has_content",
            ),
        ]

    def __str__(self) -> str:
        return self.display_title

    @property
    def display_title(self) -> str:
        if self.title:
            return self.title
        if self.original_filename:
            return self.original_filename
        return self.text[:80]


class ItemEmbedding(models.Model):
    """One vector per item, per audio segment, or per video clip and kind (the clip's frames,
    its sound), made by one model.

    `model_key` names the model that made the vector, so a model switch can re-embed in the
    background while search keeps using the old vectors. `modality`, `hidden` and `tags` repeat
    the item's, so that filtered searches are answered from this table's HNSW index alone.
    """

    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="embeddings")
    model_key = models.CharField(max_length=255)
    segment = models.PositiveIntegerField(default=0)
    start_sec = models.FloatField(null=True, blank=True)
    end_sec = models.FloatField(null=True, blank=True)
    modality = models.CharField(max_length=5, choices=Modality.choices)
    hidden = models.BooleanField(default=False)
    tags = ArrayField(models.CharField(max_length=64), default=list, blank=True)
    embedding = VectorField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["item", "model_key", "segment"], name="one_vector_per_item_segment_model"
            ),
        ]
        indexes = [models.Index(fields=["model_key", "item"], name="embedding_model_item")]

    def __str__(self) -> str:
        return f"{self.item_id} #{self.segment} ({self.model_key})"


class QueryFile(models.Model):
    """A file searched with (dropped, pasted, picked or recorded), kept for a while under an
    unguessable key so that its search is a URL: paging, filters, reload and shared links find
    it again. Its vector is kept, not its bytes; the preview shows what was searched."""

    key = models.CharField(max_length=43, unique=True, editable=False)
    name = models.CharField(max_length=255, blank=True)
    # Words searched with the image as one input ("this, but at night"), if any.
    words = models.TextField(blank=True)
    modality = models.CharField(max_length=5, choices=Modality.choices)
    model_key = models.CharField(max_length=255)
    embedding = VectorField()
    # Of a clip: the seconds searched with, and whether the clip went on past them.
    audio_sec = models.FloatField(null=True, blank=True)
    audio_cut = models.BooleanField(default=False)
    preview = models.BinaryField(blank=True)
    preview_type = models.CharField(max_length=50, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    def __str__(self) -> str:
        return self.name or self.key


class Tag(models.Model):
    """A tag that at least one item has (services/items.py keeps the list), so that listing the
    library's tags reads this small table instead of every item."""

    name = models.CharField(max_length=64, unique=True)

    def __str__(self) -> str:
        return self.name


class NearDuplicate(models.Model):
    """Two items whose vectors from one model are nearly the same (services/duplicates.py).

    Stored once per pair, the lower id first, with the cosine similarity of the items' vectors
    (an audio item's segments averaged), when it is at least SEARCH_DUPLICATE_MIN_SCORE.
    """

    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="+")
    other = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="+")
    model_key = models.CharField(max_length=255)
    score = models.FloatField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["item", "other", "model_key"], name="one_near_duplicate_per_pair_model"
            ),
            models.CheckConstraint(
                condition=models.Q(item__lt=models.F("other")), name="near_duplicate_lower_first"
            ),
        ]
        indexes = [models.Index(fields=["model_key", "other"], name="near_duplicate_other")]

    def __str__(self) -> str:
        return f"{self.item_id} ≈ {self.other_id} ({self.score:.3f})"
