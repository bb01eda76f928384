from __future__ import annotations

from django.apps import AppConfig


class EmbeddingsConfig(AppConfig):
    name = "embeddings"
    verbose_name = "Embeddings API"

    def ready(self) -> None:
        from django.core.signals import request_started
        from django_tasks.signals import task_started

        from embeddings.warm_up import warm_up_once_in_background

        request_started.connect(warm_up_once_in_background, dispatch_uid="embeddings-warm-up")
        task_started.connect(warm_up_once_in_background, dispatch_uid="embeddings-warm-up")
