from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import pytest

from bench.media_factory import make_audio
from embeddings.conf import embeddings_settings
from embeddings.engine.base import EmbeddingModel
from embeddings.media.audio import split_clip
from embeddings.services import embed_clip, prepare_audio


def test_embed_clip_feeds_the_model_one_batch_of_segments_at_a_time(
    model: EmbeddingModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = embeddings_settings()
    config = dataclasses.replace(config, model=dataclasses.replace(config.model, batch_size=2))
    clip = prepare_audio(
        make_audio("flac", seconds=50.0, channels=1),
        start_offset_sec=0.0,
        model=model,
        config=config,
    )
    whole = model.embed_audio([segment.samples for segment in split_clip(clip)])
    batch_sizes: list[int] = []
    embed_audio = model.embed_audio

    def counting(waveforms: Sequence[np.ndarray]) -> np.ndarray:
        batch_sizes.append(len(waveforms))
        return embed_audio(waveforms)

    monkeypatch.setattr(model, "embed_audio", counting)

    embeddings = embed_clip(clip, model=model, config=config)

    assert batch_sizes == [2, 2, 1]
    assert [(e.start_sec, e.end_sec) for e in embeddings] == [
        (0.0, 10.0),
        (10.0, 20.0),
        (20.0, 30.0),
        (30.0, 40.0),
        (40.0, 50.0),
    ]
    np.testing.assert_allclose(np.stack([e.vector for e in embeddings]), whole, atol=1e-5)
