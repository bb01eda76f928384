from __future__ import annotations

import io
import wave
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
import torch
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from PIL import Image
from sentence_transformers import SentenceTransformer
from transformers import AutoModel, AutoProcessor
from transformers.video_utils import load_video

from bench.media_factory import make_image
from bench.video_factory import encodable, make_video
from embeddings.engine.base import EmbeddingModel
from embeddings.services import embed_image_with_text, embed_video

pytestmark = pytest.mark.django_db

MIN_COSINE = 0.9999


@pytest.fixture(autouse=True)
def _float32(settings) -> None:  # type: ignore[no-untyped-def]
    # Parity with the references, which run in float32; bfloat16's fidelity has its own tests.
    settings.EMBEDDINGS_DTYPE = "float32"


@pytest.fixture(scope="module")
def reference_st(tiny_model_dir: Path) -> SentenceTransformer:
    return SentenceTransformer(str(tiny_model_dir), device="cpu")


@pytest.fixture(scope="module")
def reference_transformers(tiny_model_dir: Path) -> tuple[Any, Any]:
    return AutoProcessor.from_pretrained(tiny_model_dir), AutoModel.from_pretrained(
        tiny_model_dir
    ).eval()


def transformers_embedding(reference: tuple[Any, Any], **inputs: Any) -> np.ndarray:
    processor, model = reference
    features = processor(**inputs, return_tensors="pt")
    for unused in processor.unused_input_names:
        features.pop(unused, None)
    return pooled_embedding(model, features)


def pooled_embedding(model: Any, features: Any) -> np.ndarray:
    with torch.inference_mode():
        tokens = model(**features).last_hidden_state
    mask = features["attention_mask"].unsqueeze(-1).to(tokens.dtype)
    pooled = (tokens * mask).sum(dim=1) / mask.sum(dim=1)
    return torch.nn.functional.normalize(pooled, dim=-1)[0].numpy()


def api_vector(client: Client, modality: str, **fields: Any) -> np.ndarray:
    response = client.post("/v1.3/embed", {"model_name": "embeddinggemma-2", **fields})
    assert response.status_code == 200, response.content
    return np.asarray(response.json()[f"{modality}_embedding"]["segments"][0]["float"])


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def wav_16k_mono(seconds: float) -> tuple[bytes, np.ndarray]:
    rng = np.random.default_rng(7)
    t = np.arange(int(16000 * seconds)) / 16000
    signal = 0.3 * np.sin(2 * np.pi * 330 * t) + 0.05 * rng.standard_normal(t.size)
    pcm = (signal * 32767).astype("<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(16000)
        writer.writeframes(pcm.tobytes())
    return buffer.getvalue(), pcm.astype(np.float32) / 32768


TEXT = "a dog running on the beach at sunset"


def test_text_matches_sentence_transformers(
    api_client: Client, reference_st: SentenceTransformer
) -> None:
    expected = reference_st.encode(TEXT)

    assert cosine(api_vector(api_client, "text", text=TEXT), expected) >= MIN_COSINE


def test_text_matches_transformers(
    api_client: Client, reference_transformers: tuple[Any, Any]
) -> None:
    expected = transformers_embedding(reference_transformers, text=[TEXT])

    assert cosine(api_vector(api_client, "text", text=TEXT), expected) >= MIN_COSINE


def test_text_with_special_tokens_matches_transformers_reading_them_as_plain_text(
    api_client: Client, reference_transformers: tuple[Any, Any]
) -> None:
    processor, model = reference_transformers
    text = "<|image|> a <|audio|> dog <|video|><eos>"
    features = processor.tokenizer([text], split_special_tokens=True, return_tensors="pt")
    expected = pooled_embedding(model, features)

    actual = api_vector(api_client, "text", text=text, text_truncate="none")

    assert cosine(actual, expected) >= MIN_COSINE


def test_image_matches_sentence_transformers(
    api_client: Client, reference_st: SentenceTransformer
) -> None:
    png = make_image("png", size=(120, 90))
    expected = reference_st.encode(Image.open(io.BytesIO(png)).convert("RGB"))

    actual = api_vector(api_client, "image", image_file=SimpleUploadedFile("a.png", png))

    assert cosine(actual, expected) >= MIN_COSINE


def test_image_matches_transformers(
    api_client: Client, reference_transformers: tuple[Any, Any]
) -> None:
    png = make_image("png", size=(120, 90))
    image = Image.open(io.BytesIO(png)).convert("RGB")
    expected = transformers_embedding(reference_transformers, images=[image])

    actual = api_vector(api_client, "image", image_file=SimpleUploadedFile("a.png", png))

    assert cosine(actual, expected) >= MIN_COSINE


def test_audio_matches_sentence_transformers(
    api_client: Client, reference_st: SentenceTransformer
) -> None:
    wav, samples = wav_16k_mono(3.0)
    expected = reference_st.encode({"array": samples, "sampling_rate": 16000})

    actual = api_vector(api_client, "audio", audio_file=SimpleUploadedFile("a.wav", wav))

    assert cosine(actual, expected) >= MIN_COSINE


def test_audio_matches_transformers(
    api_client: Client, reference_transformers: tuple[Any, Any]
) -> None:
    wav, samples = wav_16k_mono(3.0)
    expected = transformers_embedding(reference_transformers, audio=[samples])

    actual = api_vector(api_client, "audio", audio_file=SimpleUploadedFile("a.wav", wav))

    assert cosine(actual, expected) >= MIN_COSINE


def test_an_image_with_words_matches_transformers_given_both_in_one_input(
    reference_transformers: tuple[Any, Any],
) -> None:
    png = make_image("png", size=(120, 90))
    image = Image.open(io.BytesIO(png)).convert("RGB")
    expected = transformers_embedding(
        reference_transformers, text=["<|image|> at sunset"], images=[[image]]
    )

    actual = embed_image_with_text(png, "at sunset").vector

    assert cosine(actual, expected) >= MIN_COSINE
    image_alone = transformers_embedding(reference_transformers, images=[image])
    assert cosine(actual, image_alone) < MIN_COSINE


@pytest.mark.parametrize("order", [(0, 1, 0), (1, 0, 0)])
def test_words_and_images_interleaved_match_transformers_given_them_in_one_input(
    reference_transformers: tuple[Any, Any], model: EmbeddingModel, order: tuple[int, ...]
) -> None:
    photos = [
        Image.open(io.BytesIO(make_image("png", size=size))).convert("RGB")
        for size in ((120, 90), (64, 64))
    ]
    first, second, third = (photos[index] for index in order)
    expected = transformers_embedding(
        reference_transformers,
        text=["a person wearing <|image|> and holding <|image|> <|image|>"],
        images=[[first, second, third]],
    )

    actual = model.embed_interleaved(["a person wearing", first, "and holding", second, third])

    assert cosine(actual, expected) >= MIN_COSINE


def test_words_with_an_image_read_special_tokens_as_plain_text(
    reference_transformers: tuple[Any, Any],
) -> None:
    processor, model = reference_transformers
    png = make_image("png", size=(120, 90))
    image = Image.open(io.BytesIO(png)).convert("RGB")
    words = "<|image|> at <eos><|audio|> night"
    features = processor(text=["<|image|>"], images=[[image]], return_tensors="pt")
    for unused in processor.unused_input_names:
        features.pop(unused, None)
    plain = processor.tokenizer(" " + words, split_special_tokens=True, return_tensors="pt")
    features["input_ids"] = torch.cat([features["input_ids"], plain["input_ids"]], dim=1)
    features["attention_mask"] = torch.ones_like(features["input_ids"])
    expected = pooled_embedding(model, features)

    actual = embed_image_with_text(png, words, truncate="none").vector

    assert cosine(actual, expected) >= MIN_COSINE


def decoded_audio(path: Path) -> np.ndarray:
    """The file's audio track as 16 kHz mono, decoded here rather than by the service."""
    resampler = av.AudioResampler(format="flt", layout="mono", rate=16000)
    with av.open(str(path)) as container:
        frames = [*container.decode(audio=0), None]
        return np.concatenate(
            [
                chunk.to_ndarray().reshape(-1)
                for frame in frames
                for chunk in resampler.resample(frame)
            ]
        )


# transformers' PyAV reader needs a frame count in the header, which WebM and MKV lack.
@pytest.mark.parametrize(
    "fmt",
    [
        "mp4",
        "mov",
        pytest.param(
            "mp4-av1", marks=pytest.mark.skipif(not encodable("mp4-av1"), reason="no AV1")
        ),
    ],
)
def test_video_frames_match_transformers_sampling_the_file_itself(
    reference_transformers: tuple[Any, Any], tmp_path: Path, fmt: str
) -> None:
    path = tmp_path / f"video.{fmt}"
    make_video(fmt, seconds=6.0, fps=10, colour_sec=1.5, size=(120, 90), path=path)
    # transformers decodes every frame and samples them at the video processor's 1 a second.
    frames, metadata = load_video(str(path), backend="pyav")
    expected = transformers_embedding(
        reference_transformers, videos=[frames], videos_kwargs={"video_metadata": [metadata]}
    )

    (actual,) = embed_video(path, options=("visual",), clip_sec=6.0)

    assert cosine(actual.vector, expected) >= MIN_COSINE


def test_fused_video_matches_transformers_interleaving_frames_and_audio(
    reference_transformers: tuple[Any, Any], tmp_path: Path
) -> None:
    path = tmp_path / "video.mp4"
    make_video("mp4", seconds=6.0, fps=10, colour_sec=1.5, size=(120, 90), path=path)
    frames, metadata = load_video(str(path), backend="pyav")
    expected = transformers_embedding(
        reference_transformers,
        text=["<|video|>"],
        videos=[frames],
        audio=[decoded_audio(path)],
        audio_from_video_indices=[0],
        load_audio_from_video=True,
        videos_kwargs={"video_metadata": [metadata], "add_timestamps": True},
    )

    (actual,) = embed_video(path, options=("fused",), clip_sec=6.0)

    assert cosine(actual.vector, expected) >= MIN_COSINE
    visual = transformers_embedding(
        reference_transformers, videos=[frames], videos_kwargs={"video_metadata": [metadata]}
    )
    assert cosine(actual.vector, visual) < MIN_COSINE
