from __future__ import annotations

from pathlib import Path

from django.conf import settings

from bench.random_model import build_full_size_model, build_tiny_model


def model_directory(size: str) -> Path:
    """A random-weight model of the real architecture ("full") or the tests' tiny one, cached;
    any other value is the directory of a real checkpoint."""
    if size not in ("full", "tiny"):
        return Path(size)
    directory = Path(settings.DATA_DIR) / "bench" / f"{size}-size-model"
    if not (directory / "modules.json").exists():
        directory.mkdir(parents=True, exist_ok=True)
        build = build_full_size_model if size == "full" else build_tiny_model
        build(directory)
    return directory
