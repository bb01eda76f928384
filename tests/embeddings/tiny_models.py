"""The tiny model loaded as the engine loads it, for tests that compare its runtimes."""

from __future__ import annotations

from pathlib import Path

from transformers import EmbeddingGemma2Model

from embeddings.engine.device import Precision, physical_cores
from embeddings.engine.sentence_transformer import SentenceTransformerModel


def load(model_dir: Path, *, dtype: str = "float32", **openvino: Path) -> SentenceTransformerModel:
    """`openvino`: openvino_vision_cache and openvino_audio_cache, as SentenceTransformerModel
    takes them."""
    return SentenceTransformerModel(
        source=str(model_dir),
        device="cpu",
        precision=Precision.named(dtype),
        batch_size=8,
        threads=physical_cores(),
        **openvino,
    )


def gemma(model: SentenceTransformerModel) -> EmbeddingGemma2Model:
    return model._model[0].model
