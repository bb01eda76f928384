from __future__ import annotations

import dataclasses
import io
import json
import os
import socket
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import huggingface_hub
import numpy as np
import pytest
import torch
from django.core.exceptions import ImproperlyConfigured
from PIL import Image
from transformers import AutoTokenizer

from bench.media_factory import make_image, sine
from bench.random_model import build_tiny_model
from embeddings.engine.base import ClipInput, EmbeddingModel, ModelUnavailable
from embeddings.engine.device import (
    Precision,
    choose_device,
    choose_precision,
    cpu_feature_flags,
    physical_cores,
)
from embeddings.engine.registry import get_model, model_status, warm_up
from embeddings.engine.sentence_transformer import SentenceTransformerModel
from embeddings.media.video import VideoClip


def test_model_is_loaded_once_per_process(model: EmbeddingModel) -> None:
    assert get_model() is model
    assert model_status()[0] == "ready"


def test_model_reports_dimension_and_sampling_rate(model: EmbeddingModel) -> None:
    assert model.dimension == 32
    assert model.sampling_rate == 16000


def test_embeddings_are_unit_float32_rows_in_input_order(model: EmbeddingModel) -> None:
    texts = ["a cat", "a dog on the beach", "rain"]

    batch = model.embed_texts(texts)
    one_by_one = np.stack([model.embed_texts([text])[0] for text in texts])

    assert batch.dtype == np.float32
    assert batch.shape == (3, model.dimension)
    np.testing.assert_allclose(np.linalg.norm(batch, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(batch, one_by_one, atol=1e-5)


def test_text_that_looks_like_a_url_or_path_is_embedded_as_text(
    model: EmbeddingModel, tmp_path: Path
) -> None:
    image_path = tmp_path / "cat.png"
    image_path.write_bytes(make_image("png"))

    # sentence-transformers would otherwise open the file or fetch the URL as an image.
    vectors = model.embed_texts([str(image_path), "http://169.254.169.254/latest/a.jpg"])

    assert vectors.shape == (2, model.dimension)


def test_audio_batch_matches_one_by_one(model: EmbeddingModel) -> None:
    clips = [sine(seconds, sampling_rate=16000)[0] for seconds in (1.0, 2.5, 4.0)]

    batch = model.embed_audio(clips)
    one_by_one = np.stack([model.embed_audio([clip])[0] for clip in clips])

    np.testing.assert_allclose(batch, one_by_one, atol=1e-5)


def test_concurrent_requests_get_the_same_vectors(model: EmbeddingModel) -> None:
    texts = [f"item number {index}" for index in range(24)]
    expected = model.embed_texts(texts)

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda text: model.embed_texts([text])[0], texts))

    np.testing.assert_allclose(np.stack(results), expected, atol=1e-5)


def test_truncate_text_keeps_whole_tokens_from_either_side(model: EmbeddingModel) -> None:
    text = "mountains covered with snow under a blue sky"

    head = model.truncate_text(text, max_tokens=4, side="end")
    tail = model.truncate_text(text, max_tokens=4, side="start")

    assert text.startswith(head) and text.endswith(tail)
    assert model.count_tokens(head) == 4
    assert model.count_tokens(tail) == 4
    assert model.truncate_text(text, max_tokens=500, side="end") == text


@pytest.mark.parametrize("token", ["<|image|>", "<|audio|>", "<|video|>", "<bos>", "<pad>"])
def test_special_tokens_in_text_are_counted_truncated_and_embedded_as_plain_text(
    model: EmbeddingModel, tiny_model_dir: Path, token: str
) -> None:
    text = f"{token} a cat {token}"
    plain = AutoTokenizer.from_pretrained(tiny_model_dir)(
        text, add_special_tokens=False, split_special_tokens=True
    )["input_ids"]

    head = model.truncate_text(text, max_tokens=3, side="end")

    assert model.count_tokens(text) == len(plain) > 2
    assert model.count_tokens(head) == 3
    assert model.embed_texts([text, head, token]).shape == (3, model.dimension)


def test_counting_special_tokens_while_images_are_embedded_disturbs_neither(
    model: EmbeddingModel,
) -> None:
    # Text splits special tokens, the processor keeps its image placeholders whole, and both
    # go through one tokenizer.
    image = Image.open(io.BytesIO(make_image("png"))).convert("RGB")
    expected_vector, expected_count = (
        model.embed_images([image])[0],
        model.count_tokens("<|image|>"),
    )

    with ThreadPoolExecutor(max_workers=4) as pool:
        counts = pool.map(lambda _: model.count_tokens("<|image|>"), range(2000))
        vectors = [model.embed_images([image])[0] for _ in range(20)]

    assert set(counts) == {expected_count}
    np.testing.assert_allclose(np.stack(vectors), [expected_vector] * 20, atol=1e-5)


def test_missing_model_is_unavailable_with_instructions(settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    settings.EMBEDDINGS_MODEL = str(tmp_path / "nowhere")

    with pytest.raises(ModelUnavailable, match="download_model"):
        get_model()
    assert model_status()[0] == "unavailable"


@pytest.mark.parametrize(
    ("modalities", "expected"),
    [
        (
            ["text", "image", "audio"],
            [
                ("embed_texts", {}),
                ("embed_images", {"image_tokens": 140}),  # the budget searches will use
                ("embed_audio", {}),
            ],
        ),
        (["text"], [("embed_texts", {})]),
    ],
)
def test_warm_up_loads_the_model_and_runs_each_modality_before_the_first_request(  # type: ignore[no-untyped-def]
    settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    modalities: list[str],
    expected: list[tuple[str, dict[str, object]]],
) -> None:
    settings.EMBEDDINGS_MODEL = str(build_tiny_model(tmp_path, seed=7))
    # Exporting this new model's encoders would take most of the test, and is not what it tests.
    settings.EMBEDDINGS_VISION_RUNTIME = settings.EMBEDDINGS_AUDIO_RUNTIME = "torch"
    settings.EMBEDDINGS_IMAGE_TOKENS = 140
    settings.EMBEDDINGS_MODALITIES = modalities
    assert model_status()[0] == "not_loaded"
    ran: list[tuple[str, dict[str, object]]] = []
    for method in ("embed_texts", "embed_images", "embed_audio"):
        real = getattr(SentenceTransformerModel, method)

        def recording(self, inputs, real=real, method=method, **options):  # type: ignore[no-untyped-def]
            ran.append((method, options))
            return real(self, inputs, **options)

        monkeypatch.setattr(SentenceTransformerModel, method, recording)

    warm_up()

    assert model_status()[0] == "ready"
    assert ran == expected


def test_a_text_only_server_loads_no_media_encoder_and_says_where_media_go(  # type: ignore[no-untyped-def]
    settings,
) -> None:
    texts = ["a cat", "rain on a window"]
    photo = Image.open(io.BytesIO(make_image("png", size=(640, 480))))
    clip = sine(2.0, sampling_rate=16000)[0]
    reference = get_model().embed_texts(texts)
    settings.EMBEDDINGS_MODALITIES = ["text"]

    model = get_model()

    network = model._model[0].model  # type: ignore[attr-defined]
    assert network.vision_tower is None and network.audio_tower is None
    np.testing.assert_allclose(model.embed_texts(texts), reference, atol=1e-6)
    for embed_media in (
        lambda: model.embed_images([photo]),
        lambda: model.embed_image_with_text(photo, "at night"),
        lambda: model.embed_audio([clip]),
        lambda: model.embed_video_clips([_clip((255, 0, 0))], option="visual"),
    ):
        with pytest.raises(ModelUnavailable, match=r"Add (image|audio) to EMBEDDINGS_MODALITIES"):
            embed_media()


def test_a_server_for_texts_and_images_embeds_them_as_one_for_everything_does(  # type: ignore[no-untyped-def]
    settings,
) -> None:
    photo = Image.open(io.BytesIO(make_image("png", size=(640, 480))))
    everything = get_model()
    references = everything.embed_images([photo]), everything.embed_texts(["a cat"])
    video = everything.embed_video_clips([_clip((0, 0, 255))], option="visual")
    settings.EMBEDDINGS_MODALITIES = ["image"]  # text comes with every model

    model = get_model()

    assert model.modalities == {"text", "image"}
    np.testing.assert_allclose(model.embed_images([photo]), references[0], atol=1e-6)
    np.testing.assert_allclose(model.embed_texts(["a cat"]), references[1], atol=1e-6)
    np.testing.assert_allclose(
        model.embed_video_clips([_clip((0, 0, 255))], option="visual"), video, atol=1e-6
    )
    with pytest.raises(ModelUnavailable, match="cannot embed audio"):
        model.embed_audio([sine(1.0, sampling_rate=16000)[0]])
    with pytest.raises(ModelUnavailable, match="cannot embed audio"):
        model.embed_video_clips([_clip((0, 0, 255))], option="fused")


def test_unknown_modalities_are_refused_with_the_choices(settings) -> None:  # type: ignore[no-untyped-def]
    settings.EMBEDDINGS_MODALITIES = ["text", "video"]

    with pytest.raises(ImproperlyConfigured, match="names video; use text, image, audio"):
        get_model()


def test_warm_up_without_a_model_logs_how_to_fix_it_and_does_not_raise(  # type: ignore[no-untyped-def]
    settings, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings.EMBEDDINGS_MODEL = str(tmp_path / "nowhere")

    warm_up()

    assert "download_model" in caplog.text
    assert model_status()[0] == "unavailable"


def test_unsupported_model_type_names_the_supported_ones(settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert"}))
    settings.EMBEDDINGS_MODEL = str(tmp_path)

    with pytest.raises(ModelUnavailable, match=r"type 'bert'.*embedding_gemma2"):
        get_model()


def test_choose_device_honours_an_override_and_falls_back_to_cpu() -> None:
    assert choose_device("cuda:1") == "cuda:1"
    expected = (
        "cuda"
        if torch.cuda.is_available()
        else "mps"
        if torch.backends.mps.is_available()
        else "cpu"
    )
    assert choose_device("auto") == expected


BF16_CPU = frozenset({"avx512f", "avx512_bf16", "avx512_vnni"})
OLDER_CPU = frozenset({"avx2", "fma"})
ALL_FLOAT32 = Precision.named("float32")
VISION_BF16 = Precision(vision=torch.bfloat16, audio=torch.float32, language=torch.float32)


def test_auto_precision_puts_the_vision_encoder_in_bfloat16_only_where_the_cpu_has_it() -> None:
    def auto(flags: frozenset[str], image_tokens: int | None = None) -> Precision:
        return choose_precision("auto", device="cpu", image_tokens=image_tokens, cpu_flags=flags)

    assert auto(BF16_CPU) == auto(frozenset({"bf16"})) == auto(BF16_CPU, 140) == VISION_BF16
    assert auto(OLDER_CPU) == ALL_FLOAT32
    # At 70 image tokens bfloat16 moved some real photos under cosine 0.99.
    assert auto(BF16_CPU, 70) == ALL_FLOAT32
    assert choose_precision("float32", device="cpu", cpu_flags=BF16_CPU) == ALL_FLOAT32
    assert choose_precision("bfloat16", device="cpu", cpu_flags=OLDER_CPU) == Precision(
        vision=torch.bfloat16, audio=torch.bfloat16, language=torch.bfloat16
    )
    assert choose_precision("bfloat16-towers", device="cpu") == Precision(
        vision=torch.bfloat16, audio=torch.bfloat16, language=torch.float32
    )
    assert str(VISION_BF16) == "bfloat16: vision; float32: audio, language model"
    assert str(ALL_FLOAT32) == "float32"


def test_unusable_precisions_are_refused_with_the_choices() -> None:
    with pytest.raises(ValueError, match="NaN"):
        choose_precision("float16", device="cuda")
    with pytest.raises(ValueError, match="auto, float32, bfloat16, bfloat16-vision, bfloat16-tow"):
        choose_precision("int8", device="cpu")


def test_cpu_flags_and_physical_cores_are_read_from_cpuinfo(tmp_path: Path) -> None:
    allowed = sorted(os.sched_getaffinity(0))
    # Each allowed logical CPU listed twice over as two hyper-threads of one core.
    blocks = [
        f"processor\t: {cpu}\nphysical id\t: 0\ncore id\t: {index // 2}\n"
        "flags\t\t: fpu avx512f avx512_bf16\n"
        for index, cpu in enumerate(allowed)
    ]
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("\n".join(blocks))

    assert "avx512_bf16" in cpu_feature_flags(cpuinfo)
    assert physical_cores(cpuinfo) == max(1, (len(allowed) + 1) // 2)
    assert cpu_feature_flags(tmp_path / "missing") == frozenset()
    assert physical_cores(tmp_path / "missing") == len(allowed)


def test_a_bfloat16_vision_encoder_keeps_images_close_and_sounds_and_texts_as_they_were(
    settings,
) -> None:  # type: ignore[no-untyped-def]
    photo = Image.open(io.BytesIO(make_image("png", size=(640, 480))))
    clip = sine(2.0, sampling_rate=16000)[0]
    settings.EMBEDDINGS_DTYPE = "float32"
    reference = get_model()
    image_ref, audio_ref = reference.embed_images([photo])[0], reference.embed_audio([clip])[0]
    text_ref = reference.embed_texts(["a cat"])[0]
    settings.EMBEDDINGS_DTYPE = "bfloat16-vision"

    model = get_model()

    network = model._model[0].model  # type: ignore[attr-defined]
    assert network.vision_tower.dtype == torch.bfloat16
    assert network.audio_tower.dtype == network.language_model.dtype == torch.float32
    assert float(model.embed_images([photo])[0] @ image_ref) >= 0.99
    np.testing.assert_allclose(model.embed_audio([clip])[0], audio_ref, atol=1e-6)
    np.testing.assert_allclose(model.embed_texts(["a cat"])[0], text_ref, atol=1e-6)


def test_the_image_token_budget_is_the_models_own_unless_asked(model: EmbeddingModel) -> None:
    photo = Image.open(io.BytesIO(make_image("png", size=(640, 480))))

    default = model.embed_images([photo])[0]
    at_70, at_140 = (model.embed_images([photo], image_tokens=n)[0] for n in (70, 140))
    composed_140 = model.embed_image_with_text(photo, "at night", image_tokens=140)

    np.testing.assert_allclose(default, at_70, atol=1e-6)  # the tiny model's processor says 70
    assert float(at_70 @ at_140) < 0.9999
    assert float(composed_140 @ model.embed_image_with_text(photo, "at night")) < 0.9999


def test_bfloat16_model_still_gives_float32_unit_vectors(settings) -> None:  # type: ignore[no-untyped-def]
    # Its encoders' weights are in bfloat16 when OpenVINO (auto on x86-64) exports them too.
    settings.EMBEDDINGS_DTYPE = "bfloat16"
    photo = Image.open(io.BytesIO(make_image("png", size=(640, 480))))
    model = get_model()

    vectors = np.concatenate(
        [
            model.embed_texts(["a cat"]),
            model.embed_images([photo]),
            model.embed_audio([sine(2.0, sampling_rate=16000)[0]]),
        ]
    )

    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_forward_passes_from_many_request_threads_all_run_on_one_model_thread(
    model: EmbeddingModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    # torch keeps an intra-op thread pool per calling thread; one thread means one pool.
    ran_on: set[str] = set()
    forward = model._model.forward  # type: ignore[attr-defined]

    def recording_forward(*args: object, **kwargs: object) -> object:
        ran_on.add(threading.current_thread().name)
        return forward(*args, **kwargs)

    monkeypatch.setattr(model._model, "forward", recording_forward)  # type: ignore[attr-defined]
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda i: model.embed_texts([f"text {i}"]), range(8)))

    assert len(ran_on) == 1
    assert ran_on.pop().startswith("embedding-model")


class ClosingListener:
    """A port that accepts connections, counts them and closes each at once: a hub that is
    down, as a client sees it."""

    def __init__(self) -> None:
        self.socket = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.socket.getsockname()[1]}"
        self.connections = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.socket.accept()
            except OSError:
                return
            self.connections += 1
            connection.close()


def test_a_model_that_is_not_here_fails_at_once_when_the_hub_cannot_be_reached(  # type: ignore[no-untyped-def]
    settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    hub = ClosingListener()
    monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", hub.url)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    settings.EMBEDDINGS_MODEL = "nobody/not-downloaded"

    with pytest.raises(ModelUnavailable, match="download_model"):
        get_model()

    # One look, not the hub client's minute of retries.
    assert hub.connections == 1
    hub.socket.close()


@pytest.mark.parametrize(("setting", "expected"), [(1, 1), (0, physical_cores())])
def test_forward_passes_run_on_the_configured_threads(
    settings, setting: int, expected: int
) -> None:  # type: ignore[no-untyped-def]
    settings.EMBEDDINGS_THREADS = setting

    model = get_model()

    assert model._runner.submit(torch.get_num_threads).result() == expected  # type: ignore[attr-defined]


def _clip(colour: tuple[int, int, int], *, seconds: float = 3.0, audio: bool = True) -> VideoClip:
    frames = np.empty((int(seconds), 48, 64, 3), dtype=np.uint8)
    frames[:] = colour
    return VideoClip(
        start_sec=0.0,
        end_sec=seconds,
        frames=frames,
        frame_times=tuple(float(t) for t in range(int(seconds))),
        audio=sine(seconds, sampling_rate=16000, frequency=330)[0] if audio else None,
    )


@pytest.mark.parametrize("option", ["visual", "fused"])
def test_video_clips_of_other_colours_get_other_vectors_and_the_same_clip_the_same(
    model: EmbeddingModel, option: ClipInput
) -> None:
    red, blue = _clip((255, 0, 0)), _clip((0, 0, 255))

    vectors = model.embed_video_clips([red, blue, red], option=option)

    assert vectors.shape == (3, 32)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(vectors[0], vectors[2], atol=1e-6)
    assert vectors[0] @ vectors[1] < 0.9999


def test_fused_video_takes_the_audio_and_falls_back_to_the_frames_without_it(
    model: EmbeddingModel,
) -> None:
    with_audio, silent = _clip((0, 255, 0)), _clip((0, 255, 0), audio=False)

    visual = model.embed_video_clips([with_audio], option="visual")[0]
    fused, fused_silent = model.embed_video_clips([with_audio, silent], option="fused")

    assert fused @ visual < 0.9999
    np.testing.assert_allclose(fused_silent, visual, atol=1e-6)


def test_more_tokens_a_frame_give_another_video_vector(model: EmbeddingModel) -> None:
    clip = _clip((255, 255, 0))
    clip = dataclasses.replace(clip, frames=np.repeat(np.repeat(clip.frames, 8, 1), 8, 2))

    default = model.embed_video_clips([clip], option="visual")[0]
    finer = model.embed_video_clips([clip], option="visual", frame_tokens=280)[0]

    assert default @ finer < 0.9999


def test_a_process_that_loads_no_model_imports_no_model_code() -> None:
    # Importing torch and transformers took 13 s on a 2-core machine: `manage.py migrate`,
    # `check` and a web process before its first search should not wait for it.
    code = (
        "import sys, django; django.setup();"
        "from django.urls import get_resolver; get_resolver().url_patterns;"
        "print(sorted({'torch', 'transformers', 'sentence_transformers'} & set(sys.modules)))"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code],
        cwd=Path(__file__).resolve().parents[2],
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "searchapp.settings"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert completed.returncode == 0, completed.stderr[-3000:]
    assert completed.stdout.splitlines()[-1] == "[]"
