from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from twelvelabs import (
    AudioInputRequest,
    AudioSegmentation,
    AudioSegmentationFixed,
    ImageInputRequest,
    MediaSource,
    MultiInputMediaSource,
    MultiInputRequest,
    TextImageInputRequest,
    TextInputRequest,
    TwelveLabs,
    VideoInputRequest,
    VideoSegmentation_Fixed,
    VideoSegmentationFixedFixed,
)
from twelvelabs.errors import BadRequestError, ContentTooLargeError

from bench.media_factory import make_audio, make_image
from bench.video_factory import make_video
from embeddings.keys import api_key_create

pytestmark = pytest.mark.django_db(transaction=True)

MODEL = "Marengo-retrieval-2.7"


@pytest.fixture
def sdk(live_server, monkeypatch: pytest.MonkeyPatch) -> Iterator[TwelveLabs]:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("TWELVELABS_BASE_URL", f"{live_server.url}/v1.3")
    with httpx.Client(timeout=60) as http:
        yield TwelveLabs(api_key=api_key_create(name="sdk")[1], httpx_client=http)


@pytest.fixture
def media_files(tmp_path: Path) -> dict[str, Path]:
    image = tmp_path / "cat.png"
    image.write_bytes(make_image("png"))
    audio = tmp_path / "rain.mp3"
    audio.write_bytes(make_audio("mp3", seconds=12.0))
    return {"image": image, "audio": audio}


def unit(values: list[float] | None) -> np.ndarray:
    assert values is not None
    vector = np.asarray(values)
    assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-5)
    return vector


def test_sdk_text(sdk: TwelveLabs, model) -> None:  # type: ignore[no-untyped-def]
    result = sdk.embed.create(model_name=MODEL, text="rain on a tin roof")

    assert result.model_name == MODEL
    assert unit(result.text_embedding.segments[0].float_).shape == (model.dimension,)


def test_sdk_image_file(sdk: TwelveLabs, media_files: dict[str, Path], model) -> None:  # type: ignore[no-untyped-def]
    with media_files["image"].open("rb") as image:
        result = sdk.embed.create(model_name=MODEL, image_file=image)

    assert unit(result.image_embedding.segments[0].float_).shape == (model.dimension,)


def test_sdk_image_url(sdk: TwelveLabs, file_server, settings, model) -> None:  # type: ignore[no-untyped-def]
    base, files = file_server
    files["/cat.webp"] = make_image("webp")
    settings.EMBEDDINGS_URL_ALLOWLIST = ["127.0.0.1"]

    result = sdk.embed.create(model_name=MODEL, image_url=f"{base}/cat.webp")

    assert unit(result.image_embedding.segments[0].float_).shape == (model.dimension,)


def test_sdk_audio_file_with_offset(sdk: TwelveLabs, media_files: dict[str, Path]) -> None:
    with media_files["audio"].open("rb") as audio:
        result = sdk.embed.create(model_name=MODEL, audio_file=audio, audio_start_offset_sec=2)

    segments = result.audio_embedding.segments
    assert len(segments) == 1
    assert segments[0].start_offset_sec == pytest.approx(2.0)
    unit(segments[0].float_)


def test_sdk_audio_url(sdk: TwelveLabs, file_server, settings) -> None:  # type: ignore[no-untyped-def]
    base, files = file_server
    files["/speech.flac"] = make_audio("flac", seconds=25.0)
    settings.EMBEDDINGS_URL_ALLOWLIST = ["127.0.0.0/8"]

    result = sdk.embed.create(model_name=MODEL, audio_url=f"{base}/speech.flac")

    segments = result.audio_embedding.segments
    assert len(segments) == 3
    assert segments[-1].end_offset_sec == pytest.approx(25.0, abs=0.05)


def test_sdk_mixed_call_gives_one_dimension(sdk: TwelveLabs, media_files: dict[str, Path]) -> None:
    with media_files["image"].open("rb") as image, media_files["audio"].open("rb") as audio:
        result = sdk.embed.create(
            model_name=MODEL, text="a cat", image_file=image, audio_file=audio
        )

    dimensions = {
        unit(result.text_embedding.segments[0].float_).shape,
        unit(result.image_embedding.segments[0].float_).shape,
        *(unit(segment.float_).shape for segment in result.audio_embedding.segments),
    }
    assert len(dimensions) == 1


def test_sdk_sees_bad_input_as_a_400(sdk: TwelveLabs) -> None:
    from twelvelabs.errors import BadRequestError

    with pytest.raises(BadRequestError) as raised:
        sdk.embed.create(model_name="no-such-model", text="x")

    assert raised.value.body["code"] == "parameter_invalid"


def source(path: Path) -> MediaSource:
    return MediaSource(base_64_string=base64.b64encode(path.read_bytes()).decode())


def test_sdk_embed_v2_text(sdk: TwelveLabs, model) -> None:  # type: ignore[no-untyped-def]
    result = sdk.embed.v_2.create(
        input_type="text", model_name="marengo3.0", text=TextInputRequest(input_text="a red car")
    )

    (item,) = result.data
    assert unit(item.embedding).shape == (model.dimension,)
    assert item.embedding_scope is None
    assert result.usage is not None and result.usage.truncated is False


def test_sdk_embed_v2_image_and_text_image(  # type: ignore[no-untyped-def]
    sdk: TwelveLabs, media_files: dict[str, Path], file_server, settings
) -> None:
    base, files = file_server
    files["/cat.png"] = media_files["image"].read_bytes()
    settings.EMBEDDINGS_URL_ALLOWLIST = ["127.0.0.1"]

    by_url = sdk.embed.v_2.create(
        input_type="image",
        model_name="marengo3.0",
        image=ImageInputRequest(media_source=MediaSource(url=f"{base}/cat.png")),
    )
    inline = sdk.embed.v_2.create(
        input_type="image",
        model_name="marengo3.0",
        image=ImageInputRequest(media_source=source(media_files["image"])),
    )
    composed = sdk.embed.v_2.create(
        input_type="text_image",
        model_name="marengo3.0",
        text_image=TextImageInputRequest(
            media_source=source(media_files["image"]), input_text="at night"
        ),
    )

    np.testing.assert_allclose(by_url.data[0].embedding, inline.data[0].embedding, atol=1e-5)
    assert by_url.metadata is not None and by_url.metadata.input_url == f"{base}/cat.png"
    assert float(unit(composed.data[0].embedding) @ unit(inline.data[0].embedding)) < 0.9999
    assert composed.metadata is not None and composed.metadata.input_type == "text_image"


def test_sdk_embed_v2_audio(sdk: TwelveLabs, media_files: dict[str, Path]) -> None:
    result = sdk.embed.v_2.create(
        input_type="audio",
        model_name="marengo3.0",
        audio=AudioInputRequest(
            media_source=source(media_files["audio"]),
            start_sec=2,
            segmentation=AudioSegmentation(
                strategy="fixed", fixed=AudioSegmentationFixed(duration_sec=4)
            ),
            embedding_option=["audio"],
            embedding_scope=["clip", "asset"],
        ),
    )

    spans = [(item.embedding_scope, item.start_sec, item.end_sec) for item in result.data]
    assert spans == [
        ("clip", 2.0, 6.0),
        ("clip", 6.0, 10.0),
        ("clip", 10.0, pytest.approx(12.0, abs=0.05)),
        ("asset", 2.0, pytest.approx(12.0, abs=0.05)),
    ]
    assert result.metadata is not None and result.metadata.input_type == "audio"


def test_sdk_embed_v2_multi_input(sdk: TwelveLabs, media_files: dict[str, Path]) -> None:
    image = source(media_files["image"])
    result = sdk.embed.v_2.create(
        input_type="multi_input",
        model_name="marengo3.0",
        multi_input=MultiInputRequest(
            input_text="a cat like <@cat> beside <@other>",
            media_sources=[
                MultiInputMediaSource(
                    name="cat", media_type="image", base_64_string=image.base_64_string
                ),
                MultiInputMediaSource(
                    name="other", media_type="image", base_64_string=image.base_64_string
                ),
            ],
        ),
    )

    (item,) = result.data
    unit(item.embedding)
    assert result.metadata is not None and result.metadata.input_type == "multi_input"


def test_sdk_embed_v2_refusals_are_its_errors(sdk: TwelveLabs, settings) -> None:  # type: ignore[no-untyped-def]
    settings.EMBEDDINGS_MAX_UPLOAD_BYTES = 100
    big = MediaSource(base_64_string=base64.b64encode(b"x" * 300).decode())

    with pytest.raises(BadRequestError) as bad:
        sdk.embed.v_2.create(
            input_type="text",
            model_name="marengo3.0",
            embedding_dimension=512,
            text=TextInputRequest(input_text="x"),
        )
    with pytest.raises(ContentTooLargeError) as too_large:
        sdk.embed.v_2.create(
            input_type="image", model_name="marengo3.0", image=ImageInputRequest(media_source=big)
        )

    assert bad.value.body["code"] == "parameter_invalid"
    assert too_large.value.body.error.code == "file_too_large"


def test_sdk_embed_v2_video(sdk: TwelveLabs) -> None:
    video = base64.b64encode(make_video("mp4", seconds=4.0)).decode()

    result = sdk.embed.v_2.create(
        input_type="video",
        model_name="marengo3.0",
        video=VideoInputRequest(
            media_source=MediaSource(base_64_string=video),
            segmentation=VideoSegmentation_Fixed(fixed=VideoSegmentationFixedFixed(duration_sec=2)),
            embedding_option=["visual", "audio"],
            embedding_scope=["clip", "asset"],
            embedding_type=["fused_embedding"],
        ),
    )

    spans = [(item.embedding_option, item.embedding_scope, item.start_sec) for item in result.data]
    assert spans == [("fused", "clip", 0.0), ("fused", "clip", 2.0), ("fused", "asset", 0.0)]
    assert result.metadata is not None and result.metadata.input_type == "video"
    unit(result.data[-1].embedding)
