from __future__ import annotations

import importlib.resources
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from transformers import EmbeddingGemma2Model

from bench.random_model import build_tiny_model
from embeddings.engine import openvino_vision, sentence_transformer
from embeddings.engine.device import Precision, choose_vision_runtime, physical_cores
from embeddings.engine.openvino_vision import (
    OpenVINOEncoder,
    OpenVINOVisionError,
    compile_vision_tower,
)
from embeddings.engine.registry import get_model
from embeddings.engine.sentence_transformer import SentenceTransformerModel

# Square, landscape and portrait photos, with and without padding patches.
PHOTOS = ("astronaut.png", "coffee.png", "chelsea.png", "rocket.jpg")


def photo(name: str) -> Image.Image:
    with Image.open(importlib.resources.files("skimage") / "data" / name) as image:
        return image.convert("RGB")


def load(model_dir: Path) -> SentenceTransformerModel:
    return SentenceTransformerModel(
        source=str(model_dir),
        device="cpu",
        precision=Precision.named("float32"),
        batch_size=8,
        threads=physical_cores(),
    )


def gemma(model: SentenceTransformerModel) -> EmbeddingGemma2Model:
    return model._model[0].model


@pytest.fixture(scope="module")
def torch_model(tiny_model_dir: Path) -> SentenceTransformerModel:
    return load(tiny_model_dir)


@pytest.fixture(scope="module")
def ir_cache(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    cache_dir = tmp_path_factory.mktemp("openvino")
    compile_vision_tower(gemma(load(tiny_model_dir)), cache_dir=cache_dir, bf16=False)
    return cache_dir


def openvino_model(model_dir: Path, cache_dir: Path, *, bf16: bool) -> SentenceTransformerModel:
    model = load(model_dir)
    compile_vision_tower(gemma(model), cache_dir=cache_dir, bf16=bf16)
    return model


def test_compile_vision_tower_reads_the_cached_ir(
    tiny_model_dir: Path, ir_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = {path.name: path.stat().st_mtime_ns for path in ir_cache.iterdir()}

    def export_again(tower: object) -> None:
        raise AssertionError("the cached IR was exported again")

    monkeypatch.setattr(openvino_vision, "_export", export_again)
    model = openvino_model(tiny_model_dir, ir_cache, bf16=False)

    assert isinstance(gemma(model).vision_tower.encoder, OpenVINOEncoder)
    assert {path.name: path.stat().st_mtime_ns for path in ir_cache.iterdir()} == before
    assert sorted(Path(name).suffix for name in before) == [".bin", ".xml"]


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


def test_compile_vision_tower_failure_leaves_torch_in_place(
    tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def export(tower: object) -> None:
        raise RuntimeError("unsupported operation")

    monkeypatch.setattr(openvino_vision, "_export", export)
    model = gemma(load(tiny_model_dir))
    encoder = model.vision_tower.encoder

    with pytest.raises(OpenVINOVisionError, match="unsupported operation"):
        compile_vision_tower(model, cache_dir=tmp_path, bf16=False)

    assert model.vision_tower.encoder is encoder
    assert list(tmp_path.iterdir()) == []


def test_auto_runs_the_vision_encoder_on_openvino_only_on_x86_cpus() -> None:
    assert choose_vision_runtime("auto", device="cpu", machine="x86_64") == "openvino"
    assert choose_vision_runtime("auto", device="cpu", machine="aarch64") == "torch"
    assert choose_vision_runtime("auto", device="cuda", machine="x86_64") == "torch"
    assert choose_vision_runtime("torch", device="cpu", machine="x86_64") == "torch"
    with pytest.raises(ValueError, match="on the CPU"):
        choose_vision_runtime("openvino", device="cuda")
    with pytest.raises(ValueError, match="auto, torch, openvino"):
        choose_vision_runtime("tensorrt", device="cpu")


def test_the_configured_model_exports_its_vision_encoder_beside_itself_once(
    settings, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    settings.EMBEDDINGS_MODEL = str(build_tiny_model(tmp_path / "model", seed=3))
    settings.EMBEDDINGS_VISION_RUNTIME = "openvino"
    settings.EMBEDDINGS_DTYPE = "bfloat16-vision"

    model = get_model()

    assert model.vision_runtime == "openvino bf16"  # type: ignore[attr-defined]
    exported = sorted(path.suffix for path in (tmp_path / "model" / "exports").iterdir())
    assert exported == [".bin", ".xml"]
    assert model.embed_images([photo("coffee.png")]).shape == (1, 32)


def test_a_vision_encoder_openvino_cannot_take_stays_on_torch(
    settings, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:  # type: ignore[no-untyped-def]
    def refuse(*args: object, **kwargs: object) -> None:
        raise OpenVINOVisionError("OpenVINO could not take the vision encoder: unsupported op")

    monkeypatch.setattr(sentence_transformer, "compile_vision_tower", refuse)
    settings.EMBEDDINGS_VISION_RUNTIME = "openvino"
    settings.EMBEDDINGS_THREADS = 1  # another model than the session's

    model = get_model()

    assert model.vision_runtime == "torch"  # type: ignore[attr-defined]
    assert "stays on torch" in caplog.text and "unsupported op" in caplog.text
    assert model.embed_images([photo("coffee.png")]).shape == (1, 32)
