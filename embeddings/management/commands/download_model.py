from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from embeddings.conf import embeddings_settings


class Command(BaseCommand):
    help = (
        "Download the configured embedding model (EMBEDDINGS_MODEL) from the Hugging Face hub "
        "into the local cache, or into --target for copying to an offline machine."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--model", help="Hub id to download; defaults to EMBEDDINGS_MODEL.")
        parser.add_argument("--target", help="Directory to write the model to.")

    def handle(self, *args: Any, model: str | None, target: str | None, **options: Any) -> None:
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import HfHubHTTPError

        repo_id = model or embeddings_settings().model.source
        try:
            path = snapshot_download(repo_id, local_dir=target)
        except (HfHubHTTPError, OSError) as error:
            raise CommandError(
                f"Could not download {repo_id!r}: {error}. If the hub asks for a login, accept the "
                "model's licence on its page and set HF_TOKEN to an access token."
            ) from error
        self.stdout.write(f"Downloaded {repo_id} to {path}")
        if target:
            self.stdout.write(f"Set EMBEDDINGS_MODEL={path} to use this copy.")
