from __future__ import annotations

from embeddings.models import EmbedTask
from embeddings.services import VideoScope
from embeddings.task_services import TaskInputType

# What the embedding tasks' request parsing and their OpenAPI document share.
MAX_PAGE_LIMIT, DEFAULT_PAGE_LIMIT = 50, 10
TASK_STATUSES = tuple(EmbedTask.Status.values)
TASK_INPUTS: tuple[TaskInputType, ...] = ("audio", "video")
# TwelveLabs' v1 scope "video" is the whole input: this project's "asset".
V1_SCOPES: dict[str, VideoScope] = {"clip": "clip", "video": "asset"}
# v1 tasks embed what a video holds; Marengo 2.7 called its visual vectors "visual-text".
V1_RETRIEVE_OPTIONS: dict[str, str] = {
    "visual": "visual",
    "visual-text": "visual",
    "audio": "audio",
}
