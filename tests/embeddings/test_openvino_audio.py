from __future__ import annotations

import io
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from bench.media_factory import make_image, noise, sine
from bench.real_media import real_sounds
from embeddings.engine import openvino_encoders, sentence_transformer
from embeddings.engine.openvino_encoders import OpenVINOAudioLayers
from embeddings.engine.registry import export_cache_dir, get_model
from embeddings.engine.sentence_transformer import SentenceTransformerModel
from tests.embeddings.tiny_models import gemma, load

SAMPLING_RATE = 16_000
# Clip length in seconds -> attention chunks (12 frames of 40 ms) the encoder cuts it into:
# less than one chunk, exactly one, one and a bit, several, and the longest segment the engine
# embeds (EMBEDDINGS_AUDIO_SEGMENT_SEC), whose last chunk is part padding.
CHUNKS = {0.1: 1, 0.48: 1, 0.5: 2, 1.0: 3, 10.0: 21}
FAITHFUL = 0.999


def clip(seconds: float, seed: int = 0) -> np.ndarray:
    tone = sine(seconds, sampling_rate=SAMPLING_RATE, frequency=300.0 + 100 * seed)[0]
    return tone + noise(seconds, sampling_rate=SAMPLING_RATE, seed=seed)[0]


def cosines(vectors: np.ndarray, references: np.ndarray) -> list[float]:
    return np.sum(vectors * references, axis=1).tolist()


@pytest.fixture(scope="module")
def torch_model(tiny_model_dir: Path) -> SentenceTransformerModel:
    return load(tiny_model_dir)


@pytest.fixture(scope="module")
def openvino_model(tiny_model_dir: Path) -> SentenceTransformerModel:
    # Exported where the engine keeps the session model's exports, so its later loads read them.
    model = load(tiny_model_dir, openvino_audio_cache=export_cache_dir(str(tiny_model_dir)))
    assert model.audio_runtime == "openvino f32"
    return model


@pytest.fixture
def stack_inputs(monkeypatch: pytest.MonkeyPatch) -> list[tuple[torch.Size, torch.Size]]:
    """The shapes of the hidden states and the mask of each call of the OpenVINO layers."""
    calls: list[tuple[torch.Size, torch.Size]] = []
    forward = OpenVINOAudioLayers.forward

    def watched(
        self: OpenVINOAudioLayers,
        hidden_states: torch.Tensor,
        attention_mask: torch.Tensor,
        *args: Any,
        **kwargs: Any,
    ) -> torch.Tensor:
        calls.append((hidden_states.shape, attention_mask.shape))
        return forward(self, hidden_states, attention_mask, *args, **kwargs)

    monkeypatch.setattr(OpenVINOAudioLayers, "forward", watched)
    return calls


def test_openvino_audio_matches_torch_on_real_sounds(
    openvino_model: SentenceTransformerModel, torch_model: SentenceTransformerModel
) -> None:
    # Desktop sounds and spoken words of different lengths, in one padded batch.
    sounds = real_sounds(8, sampling_rate=SAMPLING_RATE)

    found = cosines(openvino_model.embed_audio(sounds), torch_model.embed_audio(sounds))

    assert len(sounds) == 8 and len({len(sound) for sound in sounds}) > 1
    assert min(found) >= FAITHFUL, found


@pytest.mark.parametrize(("seconds", "chunks"), CHUNKS.items())
def test_openvino_audio_matches_torch_on_a_clip(
    seconds: float,
    chunks: int,
    openvino_model: SentenceTransformerModel,
    torch_model: SentenceTransformerModel,
    stack_inputs: list[tuple[torch.Size, torch.Size]],
) -> None:
    waveform = [clip(seconds)]

    (found,) = cosines(openvino_model.embed_audio(waveform), torch_model.embed_audio(waveform))

    ((hidden_states, mask),) = stack_inputs
    assert hidden_states[0] == 1 and mask[2] == chunks
    assert found >= FAITHFUL


def test_openvino_audio_takes_clips_of_different_lengths_in_one_batch(
    openvino_model: SentenceTransformerModel,
    torch_model: SentenceTransformerModel,
    stack_inputs: list[tuple[torch.Size, torch.Size]],
) -> None:
    # The shorter clips are padded to the longest, and the mask keeps the padding out.
    clips = [clip(seconds, seed) for seed, seconds in enumerate(CHUNKS)]
    one_by_one = np.concatenate([torch_model.embed_audio([waveform]) for waveform in clips])

    found = cosines(openvino_model.embed_audio(clips), one_by_one)

    ((hidden_states, mask),) = stack_inputs
    assert hidden_states[0] == len(clips) and mask[2] == max(CHUNKS.values())
    assert min(found) >= FAITHFUL, dict(zip(CHUNKS, found, strict=True))


def test_openvino_audio_leaves_text_and_image_vectors_as_they_were(
    openvino_model: SentenceTransformerModel, torch_model: SentenceTransformerModel
) -> None:
    texts = ["a photo of a cat sitting on a sofa", "rain on a tin roof"]
    photo = Image.open(io.BytesIO(make_image("png", size=(640, 480))))

    for embed in (
        lambda model: model.embed_texts(texts),
        lambda model: model.embed_images([photo]),
    ):
        np.testing.assert_allclose(embed(openvino_model), embed(torch_model), rtol=0, atol=1e-6)


def test_the_audio_encoder_runs_in_float32_beside_a_bfloat16_vision_encoder(
    settings,
    tiny_model_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:  # type: ignore[no-untyped-def]
    import openvino
    from openvino.properties import hint

    bf16_hints: dict[str, bool] = {}
    compile_stack = openvino_encoders._compile_stack

    def watched(stack: Any, **options: Any) -> Any:
        bf16_hints[stack.encoder] = options["bf16"]
        return compile_stack(stack, **options)

    monkeypatch.setattr(openvino_encoders, "_compile_stack", watched)
    caplog.set_level(logging.INFO, logger="embeddings.engine.registry")
    settings.EMBEDDINGS_DTYPE = "bfloat16-vision"
    settings.EMBEDDINGS_VISION_RUNTIME = "openvino"
    settings.EMBEDDINGS_AUDIO_RUNTIME = "openvino"
    sounds = real_sounds(4, sampling_rate=SAMPLING_RATE)

    model = get_model()

    assert bf16_hints == {"vision": True, "audio": False}
    assert model.vision_runtime == "openvino bf16"  # type: ignore[attr-defined]
    assert model.audio_runtime == "openvino f32"  # type: ignore[attr-defined]
    compiled = gemma(model).audio_tower.layers[0].compiled  # type: ignore[arg-type]
    assert compiled.get_property(hint.inference_precision) == openvino.Type.f32
    assert "vision encoder on openvino bf16, audio encoder on openvino f32" in caplog.text
    exported = {path.name.split("-")[0] for path in (tiny_model_dir / "exports").glob("*.xml")}
    assert exported == {"vision", "audio"}
    found = cosines(model.embed_audio(sounds), load(tiny_model_dir).embed_audio(sounds))
    assert min(found) >= FAITHFUL, found


def test_a_server_without_audio_compiles_no_audio_encoder(
    settings, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:  # type: ignore[no-untyped-def]
    def compile_audio_tower(*args: object, **kwargs: object) -> None:
        raise AssertionError("an audio encoder was compiled")

    monkeypatch.setattr(sentence_transformer, "compile_audio_tower", compile_audio_tower)
    caplog.set_level(logging.INFO, logger="embeddings.engine.registry")
    settings.EMBEDDINGS_MODALITIES = ["text", "image"]
    settings.EMBEDDINGS_VISION_RUNTIME = "torch"
    settings.EMBEDDINGS_AUDIO_RUNTIME = "openvino"

    model = get_model()

    assert gemma(model).audio_tower is None  # type: ignore[arg-type]
    assert "vision encoder on torch, audio encoder on (not loaded)" in caplog.text
