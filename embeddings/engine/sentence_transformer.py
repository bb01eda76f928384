from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import torch
from PIL.Image import Image

from embeddings.engine.base import EmbeddingModel, ModelUnavailable, TruncateSide, l2_normalise

REQUIRED_MODALITIES = ("text", "image", "audio")


class SentenceTransformerModel(EmbeddingModel):
    """A multimodal sentence-transformers model (EmbeddingGemma 2 and its kind).

    The model directory holds the transformers files plus the sentence-transformers
    `modules.json` (Transformer -> Pooling -> Normalize), as in the hub repository.
    """

    def __init__(self, *, source: str, device: str, dtype: torch.dtype, batch_size: int) -> None:
        super().__init__(source=source)
        from sentence_transformers import SentenceTransformer

        self.device = device
        self.dtype = dtype
        self.batch_size = batch_size
        self._model = SentenceTransformer(source, device=device, model_kwargs={"dtype": dtype})
        self._model.eval()
        self._check_modalities()
        processor = self._model[0].processor
        self._tokenizer = processor.tokenizer
        self._sampling_rate = int(processor.feature_extractor.sampling_rate)
        self._dimension = int(self._model.get_embedding_dimension())
        # Every forward pass runs on this one thread, one at a time: the model is shared by all
        # request threads, and torch's intra-op thread pool is per calling thread, so calls
        # from many threads would keep several pools spinning against each other.
        self._runner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="embedding-model")

    def _check_modalities(self) -> None:
        missing = [m for m in REQUIRED_MODALITIES if m not in self._model.modalities]
        if missing:
            raise ModelUnavailable(
                f"The model at {self.source!r} cannot embed {', '.join(missing)} "
                f"(it supports {', '.join(self._model.modalities)}). If it should, its processor "
                "did not load: check that torchvision is installed (pip install torchvision)."
            )

    @property
    def dimension(self) -> int:
        return self._dimension

    @property
    def sampling_rate(self) -> int:
        return self._sampling_rate

    def count_tokens(self, text: str) -> int:
        return len(self._tokenizer(text, add_special_tokens=False)["input_ids"])

    def truncate_text(self, text: str, *, max_tokens: int, side: TruncateSide) -> str:
        offsets = self._tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)[
            "offset_mapping"
        ]
        if len(offsets) <= max_tokens:
            return text
        if side == "end":
            return text[: offsets[max_tokens - 1][1]] if max_tokens else ""
        return text[offsets[-max_tokens][0] :] if max_tokens else ""

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        # Wrapped in dicts so sentence-transformers never takes a text for a media URL or path.
        return self._encode([{"text": text} for text in texts], batch_size=self.batch_size)

    def embed_images(self, images: Sequence[Image]) -> np.ndarray:
        # sentence-transformers 6.2 merges a list of images into one sample, so one call each.
        return self._stack([self._encode([{"image": image}], batch_size=1) for image in images])

    def embed_audio(self, waveforms: Sequence[np.ndarray]) -> np.ndarray:
        clips = [
            {
                "audio": {
                    "array": np.asarray(w, dtype=np.float32),
                    "sampling_rate": self.sampling_rate,
                }
            }
            for w in waveforms
        ]
        return self._encode(clips, batch_size=self.batch_size)

    def _stack(self, parts: list[np.ndarray]) -> np.ndarray:
        if not parts:
            return np.empty((0, self.dimension), dtype=np.float32)
        return np.concatenate(parts)

    def _encode(self, inputs: list[dict[str, Any]], *, batch_size: int) -> np.ndarray:
        if not inputs:
            return np.empty((0, self.dimension), dtype=np.float32)
        return self._runner.submit(self._encode_here, inputs, batch_size).result()

    def _encode_here(self, inputs: list[dict[str, Any]], batch_size: int) -> np.ndarray:
        with torch.inference_mode():
            vectors = self._model.encode(
                inputs,
                batch_size=batch_size,
                convert_to_numpy=False,
                convert_to_tensor=True,
                show_progress_bar=False,
            )
        return l2_normalise(vectors.float().cpu().numpy())
