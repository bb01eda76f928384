from __future__ import annotations

import importlib.resources
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from embeddings.engine.openvino_encoders import compile_vision_tower
from embeddings.engine.registry import export_cache_dir
from embeddings.engine.sentence_transformer import SentenceTransformerModel
from tests.embeddings.tiny_models import gemma, load

# Square, landscape and portrait photos, with and without padding patches.
PHOTOS = ("astronaut.png", "coffee.png", "chelsea.png", "rocket.jpg")


def photo(name: str) -> Image.Image:
    with Image.open(importlib.resources.files("skimage") / "data" / name) as image:
        return image.convert("RGB")


@pytest.fixture(scope="module")
def torch_model(tiny_model_dir: Path) -> SentenceTransformerModel:
    return load(tiny_model_dir)


@pytest.fixture(scope="module")
def ir_cache(tiny_model_dir: Path) -> Path:
    # Where the engine keeps the session model's exports, so that its later loads read them.
    cache_dir = export_cache_dir(str(tiny_model_dir))
    compile_vision_tower(gemma(load(tiny_model_dir)), cache_dir=cache_dir, bf16=False)
    return cache_dir


def openvino_model(model_dir: Path, cache_dir: Path, *, bf16: bool) -> SentenceTransformerModel:
    model = load(model_dir)
    compile_vision_tower(gemma(model), cache_dir=cache_dir, bf16=bf16)
    return model


@pytest.mark.parametrize(("bf16", "min_cosine"), [(False, 0.999), (True, 0.99)])
def test_openvino_image_embeddings_match_torch(
    tiny_model_dir: Path,
    ir_cache: Path,
    torch_model: SentenceTransformerModel,
    bf16: bool,
    min_cosine: float,
) -> None:
    images = [photo(name) for name in PHOTOS]
    model = openvino_model(tiny_model_dir, ir_cache, bf16=bf16)

    cosines = np.sum(model.embed_images(images) * torch_model.embed_images(images), axis=1)

    assert cosines.min() >= min_cosine, dict(zip(PHOTOS, cosines.tolist(), strict=True))


def test_openvino_tower_takes_a_batch_of_frames(
    tiny_model_dir: Path, ir_cache: Path, torch_model: SentenceTransformerModel
) -> None:
    # Video frames reach the tower as one batch; here two photos at the same token budget.
    processor = torch_model._model[0].processor.image_processor
    inputs = processor(images=[photo("coffee.png"), photo("chelsea.png")], return_tensors="pt")
    model = openvino_model(tiny_model_dir, ir_cache, bf16=False)

    def features(model: SentenceTransformerModel) -> torch.Tensor:
        with torch.inference_mode():
            output = gemma(model).get_image_features(
                inputs["pixel_values"], inputs["image_position_ids"]
            )
        return torch.cat(output.pooler_output)

    expected = features(torch_model)
    actual = features(model)

    assert inputs["pixel_values"].shape[0] == 2
    assert actual.dtype == expected.dtype
    torch.testing.assert_close(actual, expected, rtol=1e-3, atol=1e-4)


def test_openvino_tower_leaves_text_and_audio_alone(
    tiny_model_dir: Path, ir_cache: Path, torch_model: SentenceTransformerModel
) -> None:
    texts = ["a photo of a cat sitting on a sofa", "rain on a tin roof"]
    clips = [np.sin(np.linspace(0, 2000, 16_000, dtype=np.float32)), np.zeros(8_000, np.float32)]
    model = openvino_model(tiny_model_dir, ir_cache, bf16=True)

    np.testing.assert_allclose(
        model.embed_texts(texts), torch_model.embed_texts(texts), rtol=0, atol=1e-6
    )
    np.testing.assert_allclose(
        model.embed_audio(clips), torch_model.embed_audio(clips), rtol=0, atol=1e-6
    )
