"""What the vision and audio encoders share on OpenVINO: the export kept beside the model, the
fallback to torch, and the choice of runtime."""

from __future__ import annotations

import io
import logging
import shutil
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import openvino
import pytest
from PIL import Image

from bench.media_factory import make_image, sine
from embeddings.engine import openvino_encoders
from embeddings.engine.base import ModelUnavailable
from embeddings.engine.device import choose_runtime
from embeddings.engine.openvino_encoders import Encoder, compile_vision_tower
from embeddings.engine.registry import export_cache_dir, get_model
from embeddings.engine.sentence_transformer import SentenceTransformerModel
from tests.embeddings.tiny_models import gemma, load

ENCODERS: tuple[Encoder, ...] = ("vision", "audio")
EMBED: dict[Encoder, Callable[[SentenceTransformerModel], np.ndarray]] = {
    "vision": lambda model: model.embed_images(
        [Image.open(io.BytesIO(make_image("png", size=(640, 480))))]
    ),
    "audio": lambda model: model.embed_audio([sine(2.0, sampling_rate=16_000)[0]]),
}


def load_on_openvino(
    model_dir: Path, encoder: Encoder, cache_dir: Path
) -> SentenceTransformerModel:
    return load(model_dir, **{f"openvino_{encoder}_cache": cache_dir})


def runtime(model: SentenceTransformerModel, encoder: Encoder) -> str:
    return getattr(model, f"{encoder}_runtime")


def watch_fingerprints(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The fingerprint of each export asked for, in order, as loads look for it."""
    fingerprints: list[str] = []
    fingerprint = openvino_encoders._fingerprint
    monkeypatch.setattr(
        openvino_encoders,
        "_fingerprint",
        lambda stack: fingerprints.append(fingerprint(stack)) or fingerprints[-1],
    )
    return fingerprints


def shared_export(model_dir: Path, encoder: Encoder, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The .xml of the encoder's export beside the tiny model, which the test processes share:
    exported by the first load that needs it."""
    with monkeypatch.context() as patch:
        fingerprints = watch_fingerprints(patch)
        shared_exports = export_cache_dir(str(model_dir))
        load_on_openvino(model_dir, encoder, shared_exports)
    return shared_exports / f"{encoder}-encoder-{fingerprints[0]}.xml"


@pytest.mark.parametrize("encoder", ENCODERS)
def test_an_exported_encoder_is_read_back_on_later_loads(
    encoder: Encoder, tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    xml = shared_export(tiny_model_dir, encoder, monkeypatch)
    # Each export is a whole pair. Other test processes may be exporting other encoders beside
    # it, so this test reads its encoder's pair back from its own folder.
    pair = [tmp_path / xml.name, tmp_path / xml.with_suffix(".bin").name]
    for path in pair:
        shutil.copy2(xml.with_name(path.name), path)
    before = [path.stat().st_mtime_ns for path in pair]

    def export_again(stack: object) -> None:
        raise AssertionError("the cached IR was exported again")

    monkeypatch.setattr(openvino_encoders, "_export", export_again)
    model = load_on_openvino(tiny_model_dir, encoder, tmp_path)

    assert runtime(model, encoder) == "openvino f32"
    assert [path.stat().st_mtime_ns for path in pair] == before


def test_loads_at_once_export_once_and_the_others_read_the_export(
    tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    xml = shared_export(tiny_model_dir, "vision", monkeypatch)
    fingerprints = watch_fingerprints(monkeypatch)
    exports: list[str] = []

    def export(stack: object) -> openvino.Model:
        exports.append(threading.current_thread().name)
        # Exporting until the other load asks for the same export.
        deadline = time.monotonic() + 30
        while len(fingerprints) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        return openvino.Core().read_model(xml)

    monkeypatch.setattr(openvino_encoders, "_export", export)
    towers = [gemma(load(tiny_model_dir)) for _ in range(2)]
    with ThreadPoolExecutor(max_workers=2) as pool:
        runtimes = list(
            pool.map(
                lambda tower: compile_vision_tower(tower, cache_dir=tmp_path, bf16=False), towers
            )
        )

    assert len(fingerprints) == 2
    assert len(exports) == 1
    assert runtimes == ["openvino f32"] * 2


@pytest.mark.parametrize("encoder", ENCODERS)
def test_an_encoder_openvino_cannot_export_stays_on_torch_with_a_warning(
    encoder: Encoder,
    tiny_model_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def export(stack: object) -> None:
        raise RuntimeError("unsupported operation")

    monkeypatch.setattr(openvino_encoders, "_export", export)

    model = load_on_openvino(tiny_model_dir, encoder, tmp_path)

    assert runtime(model, encoder) == "torch"
    (warning,) = [record for record in caplog.records if record.levelno == logging.WARNING]
    assert warning.getMessage() == (
        f"The {encoder} encoder stays on torch: "
        f"OpenVINO could not take the {encoder} encoder: unsupported operation"
    )
    assert [path for path in tmp_path.iterdir() if path.suffix in (".xml", ".bin")] == []
    embed = EMBED[encoder]
    np.testing.assert_allclose(embed(model), embed(load(tiny_model_dir)), rtol=0, atol=1e-6)


@pytest.mark.parametrize("encoder", ENCODERS)
def test_auto_runs_only_the_vision_encoder_on_openvino_and_only_on_x86_cpus(
    encoder: Encoder,
) -> None:
    def choose(requested: str, device: str, machine: str | None = None) -> str:
        return choose_runtime(requested, encoder=encoder, device=device, machine=machine)

    assert choose("auto", "cpu", "x86_64") == ("openvino" if encoder == "vision" else "torch")
    assert choose("openvino", "cpu", "x86_64") == "openvino"
    assert choose("auto", "cpu", "aarch64") == "torch"
    assert choose("auto", "cuda", "x86_64") == "torch"
    assert choose("torch", "cpu", "x86_64") == "torch"
    with pytest.raises(ValueError, match=f"runs the {encoder} encoder on the CPU"):
        choose("openvino", "cuda")


@pytest.mark.parametrize("encoder", ENCODERS)
def test_an_unknown_runtime_is_refused_with_the_choices(settings, encoder: Encoder) -> None:  # type: ignore[no-untyped-def]
    setattr(settings, f"EMBEDDINGS_{encoder.upper()}_RUNTIME", "tensorrt")

    with pytest.raises(
        ModelUnavailable, match=f"Unknown {encoder} runtime 'tensorrt'; use one of: auto, torch"
    ):
        get_model()
