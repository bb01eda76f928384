from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import torch
from PIL.Image import Image
from sentence_transformers.util import batch_to_device
from transformers.video_utils import VideoMetadata

from embeddings.conf import ModelSettings
from embeddings.engine.base import (
    MODALITIES,
    ClipInput,
    EmbeddingModel,
    Modality,
    ModelUnavailable,
    Part,
    TruncateSide,
    l2_normalise,
)
from embeddings.engine.device import (
    Precision,
    choose_device,
    choose_precision,
    choose_runtime,
    physical_cores,
)
from embeddings.engine.openvino_encoders import (
    Encoder,
    OpenVINOEncoderError,
    compile_audio_tower,
    compile_vision_tower,
)
from embeddings.engine.registry import export_cache_dir
from embeddings.errors import InputError

if TYPE_CHECKING:
    from transformers import EmbeddingGemma2Model

    from embeddings.media.video import VideoClip

logger = logging.getLogger(__name__)

REQUIRED_MODALITIES = ("text", "image", "audio")
# The sub-model of each modality that has its own encoder.
ENCODERS: dict[Modality, str] = {"image": "vision", "audio": "audio"}

Featurize = Callable[[list[Any]], dict[str, Any]]


class SentenceTransformerModel(EmbeddingModel):
    """A multimodal sentence-transformers model (EmbeddingGemma 2 and its kind).

    The model directory holds the transformers files plus the sentence-transformers
    `modules.json` (Transformer -> Pooling -> Normalize), as in the hub repository.
    """

    def __init__(
        self,
        *,
        source: str,
        device: str,
        precision: Precision,
        batch_size: int,
        threads: int,
        modalities: Collection[Modality] = MODALITIES,
        openvino_vision_cache: Path | None = None,
        openvino_audio_cache: Path | None = None,
        local_files_only: bool = False,
    ) -> None:
        """With `openvino_vision_cache` or `openvino_audio_cache`, that encoder runs on
        OpenVINO, exported there once (torch where that fails). The image and audio encoders
        load only for the `modalities` that name them."""
        super().__init__(source=source, modalities=modalities)
        from sentence_transformers import SentenceTransformer

        self.device = device
        self.precision = precision
        self.batch_size = batch_size
        self.threads = threads
        self._model = SentenceTransformer(
            source,
            device=device,
            model_kwargs={"dtype": precision.language},
            # transformers builds no encoder for a sub-config that is None and skips its weights.
            config_kwargs={
                f"{encoder}_config": None
                for modality, encoder in ENCODERS.items()
                if modality not in self.modalities
            },
            local_files_only=local_files_only,
        )
        self._model.eval()
        self._check_modalities()
        self.vision_runtime = self._runtime("image", openvino_vision_cache)
        self.audio_runtime = self._runtime("audio", openvino_audio_cache)
        self._set_encoder_dtypes()
        processor = self._processor
        self._tokenizer = processor.tokenizer
        self._image_start_id = self._tokenizer.convert_tokens_to_ids(processor.boi_token)
        self._image_end_id = self._tokenizer.convert_tokens_to_ids(processor.eoi_token)
        # Each call sets the padding and whether special tokens are split in the Rust tokenizer
        # it shares with the processor; request threads count tokens while the model thread
        # tokenises, so one call at a time.
        self._tokenizer_lock = threading.Lock()
        self._sampling_rate = int(processor.feature_extractor.sampling_rate)
        dimension = self._model.get_embedding_dimension()
        if dimension is None:
            raise ModelUnavailable(f"The model at {source!r} does not say its embedding size.")
        self._dimension = dimension
        # Every forward pass runs on this one thread, one at a time: the model is shared by all
        # request threads, and torch's intra-op thread pool is per calling thread, so calls
        # from many threads would keep several pools spinning against each other.
        self._runner = ThreadPoolExecutor(
            max_workers=1,
            thread_name_prefix="embedding-model",
            initializer=torch.set_num_threads,
            initargs=(threads,),
        )

    @property
    def _processor(self) -> Any:
        """The transformers processor: its class, and so its attributes, come with the model."""
        return self._model[0].processor

    @property
    def _network(self) -> EmbeddingGemma2Model:
        return cast("EmbeddingGemma2Model", self._model[0].model)

    def _check_modalities(self) -> None:
        missing = [m for m in REQUIRED_MODALITIES if m not in self._model.modalities]
        if missing:
            supported = ", ".join(map(str, self._model.modalities))
            raise ModelUnavailable(
                f"The model at {self.source!r} cannot embed {', '.join(missing)} "
                f"(it supports {supported}). If it should, its processor "
                "did not load: check that torchvision is installed (pip install torchvision)."
            )

    def _runtime(self, modality: Modality, openvino_cache: Path | None) -> str:
        """What runs the modality's encoder: OpenVINO where asked and able, else torch."""
        if openvino_cache is None or modality not in self.modalities:
            return "torch"
        network = self._network
        try:
            if modality == "audio":
                return compile_audio_tower(network, cache_dir=openvino_cache, threads=self.threads)
            bf16 = self.precision.vision == torch.bfloat16
            return compile_vision_tower(
                network, cache_dir=openvino_cache, bf16=bf16, threads=self.threads
            )
        except OpenVINOEncoderError as error:
            logger.warning("The %s encoder stays on torch: %s", ENCODERS[modality], error)
            return "torch"

    def _set_encoder_dtypes(self) -> None:
        network = self._network
        for names, dtype in (
            (("vision_tower", "embed_vision"), self.precision.vision),
            (("audio_tower", "embed_audio"), self.precision.audio),
        ):
            for name in names:
                encoder = getattr(network, name, None)
                if encoder is not None:
                    encoder.to(dtype)

    @property
    def dimension(self) -> int:
        return self._dimension

    @property
    def sampling_rate(self) -> int:
        return self._sampling_rate

    def count_tokens(self, text: str) -> int:
        return len(self._tokenize(text, add_special_tokens=False)["input_ids"])

    def truncate_text(self, text: str, *, max_tokens: int, side: TruncateSide) -> str:
        offsets = self._tokenize(text, add_special_tokens=False, return_offsets_mapping=True)[
            "offset_mapping"
        ]
        if len(offsets) <= max_tokens:
            return text
        if side == "end":
            return text[: offsets[max_tokens - 1][1]] if max_tokens else ""
        return text[offsets[-max_tokens][0] :] if max_tokens else ""

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        return self._embed(list(texts), self._text_features, batch_size=self.batch_size)

    def embed_images(
        self, images: Sequence[Image], *, image_tokens: int | None = None
    ) -> np.ndarray:
        self._require("image")
        # sentence-transformers 6.2 merges a list of images into one sample, so one batch each.
        return self._embed(
            [{"image": image} for image in images],
            partial(self._preprocess, image_tokens=image_tokens),
            batch_size=1,
        )

    def embed_audio(self, waveforms: Sequence[np.ndarray]) -> np.ndarray:
        self._require("audio")
        clips = [
            {
                "audio": {
                    "array": np.asarray(w, dtype=np.float32),
                    "sampling_rate": self.sampling_rate,
                }
            }
            for w in waveforms
        ]
        return self._embed(clips, self._preprocess, batch_size=self.batch_size)

    def embed_video_clips(
        self, clips: Sequence[VideoClip], *, option: ClipInput, frame_tokens: int | None = None
    ) -> np.ndarray:
        self._require("image")
        if option == "fused":
            self._require("audio")
        # A clip is already hundreds of frame tokens, so one clip a forward pass.
        return self._embed(
            list(clips),
            partial(self._video_features, option=option, frame_tokens=frame_tokens),
            batch_size=1,
        )

    def embed_interleaved(
        self, parts: Sequence[Part], *, image_tokens: int | None = None
    ) -> np.ndarray:
        if not any(isinstance(part, Image) for part in parts):
            return cast(np.ndarray, self.embed_texts([" ".join(cast(Sequence[str], parts))])[0])
        self._require("image")
        vectors = self._embed(
            [tuple(parts)],
            partial(self._interleaved_features, image_tokens=image_tokens),
            batch_size=1,
        )
        return cast(np.ndarray, vectors[0])

    def _require(self, modality: Modality) -> None:
        if modality not in self.modalities:
            loaded = ",".join(sorted(self.modalities))
            raise ModelUnavailable(
                f"This server does not load the {ENCODERS[modality]} encoder, so it cannot embed "
                f"{modality} inputs (EMBEDDINGS_MODALITIES is {loaded}). "
                f"Add {modality} to EMBEDDINGS_MODALITIES, or send {modality} inputs to a server "
                "that loads it."
            )

    def _tokenize(self, texts: str | list[str], **options: Any) -> Any:
        # User text is plain text. The processor takes <|image|>, <|audio|> or <|video|> in text
        # for media it was not given (and raises), and passes other special tokens such as <eos>
        # on as control tokens; so texts skip it, and every special token in them is read as the
        # characters it is made of.
        with self._tokenizer_lock:
            return self._tokenizer(texts, split_special_tokens=True, **options)

    def _text_features(self, texts: list[str]) -> dict[str, Any]:
        return {**self._tokenize(texts, padding=True, return_tensors="pt"), "modality": "text"}

    def _interleaved_features(
        self, inputs: list[tuple[Part, ...]], *, image_tokens: int | None
    ) -> dict[str, Any]:
        # The processor's layout for "<|image|> words <|image|>" (the model takes text and media
        # interleaved in one sequence; the processor joins images by a space), but the words are
        # tokenised as plain text: the images' own tokens come from the image-only input, and
        # the words go in between them.
        ((*parts,),) = inputs
        images = [part for part in parts if isinstance(part, Image)]
        features = self._preprocess(
            [{"image": images if len(images) > 1 else images[0]}], image_tokens=image_tokens
        )
        ids = features["input_ids"][0].tolist()
        starts = [index for index, token in enumerate(ids) if token == self._image_start_id]
        ends = [index + 1 for index, token in enumerate(ids) if token == self._image_end_id]
        blocks = iter([ids[start:end] for start, end in zip(starts, ends, strict=True)])
        sequence = ids[: starts[0]]
        for index, part in enumerate(parts):
            space = " " if index else ""
            if isinstance(part, str):
                sequence += self._tokenize(space + part, add_special_tokens=False)["input_ids"]
            else:
                if space:
                    sequence += self._tokenize(space, add_special_tokens=False)["input_ids"]
                sequence += next(blocks)
        input_ids = torch.tensor([sequence + ids[ends[-1] :]])
        return {
            **features,
            "input_ids": input_ids,
            "attention_mask": torch.ones_like(input_ids),
        }

    def _video_features(
        self, clips: list[VideoClip], *, option: ClipInput, frame_tokens: int | None
    ) -> dict[str, Any]:
        (clip,) = clips
        # The frames were sampled when the file was decoded.
        options: dict[str, Any] = {"do_sample_frames": False}
        if frame_tokens is not None:
            options["max_soft_tokens"] = frame_tokens
        if option == "visual" or clip.audio is None:
            return self._preprocess([{"video": clip.frames}], options={"video": options})
        return self._fused_features(clip, options)

    def _fused_features(self, clip: VideoClip, options: dict[str, Any]) -> dict[str, Any]:
        # The processor's own layout for a video with its audio track ("mm:ss <frame> mm:ss
        # <that second's audio> ..."), which needs each frame's time in the clip; the audio is
        # the clip's, already decoded, as `audio_from_video_indices` lets a caller pass it.
        processor = self._processor
        times = [time - clip.start_sec for time in clip.frame_times]
        step = times[1] - times[0] if len(times) > 1 else 1.0
        metadata = VideoMetadata(
            total_num_frames=len(times),
            fps=1 / step,
            duration=clip.duration_sec,
            frames_indices=list(range(len(times))),
        )
        try:
            with self._tokenizer_lock:
                features = processor(
                    text=[processor.video_token],
                    videos=[clip.frames],
                    audio=[clip.audio],
                    audio_from_video_indices=[0],
                    load_audio_from_video=True,
                    videos_kwargs={**options, "add_timestamps": True, "video_metadata": [metadata]},
                    return_tensors="pt",
                )
        except ValueError as error:
            raise InputError(f"the model cannot read this video clip: {error}") from error
        for unused in processor.unused_input_names:
            features.pop(unused, None)
        return {**features, "modality": "video"}

    def _preprocess(
        self,
        inputs: list[dict[str, Any]],
        *,
        image_tokens: int | None = None,
        options: dict[str, dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        options = dict(options or {})
        if image_tokens is not None:
            options["image"] = {"max_soft_tokens": image_tokens}
        try:
            with self._tokenizer_lock:  # the processor tokenises its media placeholders
                return self._model.preprocess(inputs, processing_kwargs=options)
        except ValueError as error:
            raise InputError(f"the model cannot read this input: {error}") from error

    def _embed(self, inputs: list[Any], featurize: Featurize, *, batch_size: int) -> np.ndarray:
        if not inputs:
            return np.empty((0, self.dimension), dtype=np.float32)
        return self._runner.submit(self._embed_here, inputs, featurize, batch_size).result()

    def _embed_here(self, inputs: list[Any], featurize: Featurize, batch_size: int) -> np.ndarray:
        parts = []
        with torch.inference_mode():
            for start in range(0, len(inputs), batch_size):
                features = featurize(inputs[start : start + batch_size])
                output = self._model(batch_to_device(features, self._model.device))
                parts.append(output["sentence_embedding"].float().cpu().numpy())
        return l2_normalise(np.concatenate(parts))


def load_sentence_transformer(config: ModelSettings, local_files_only: bool) -> EmbeddingModel:
    """The registry's loader for this family: device, precision, threads and runtimes chosen
    from the settings."""
    device = choose_device(config.device)
    threads = config.threads or physical_cores()
    vision_cache = _openvino_cache(config.source, config.vision_runtime, "vision", device)
    audio_cache = _openvino_cache(config.source, config.audio_runtime, "audio", device)
    _one_inter_op_thread()
    model = SentenceTransformerModel(
        source=config.source,
        device=device,
        precision=choose_precision(config.dtype, device=device, image_tokens=config.image_tokens),
        batch_size=config.batch_size,
        threads=threads,
        modalities=config.modalities,
        openvino_vision_cache=vision_cache,
        openvino_audio_cache=audio_cache,
        local_files_only=local_files_only,
    )
    logger.info(
        "Loaded %s on %s in %s with %d threads for %s, vision encoder on %s, audio encoder on %s",
        config.source,
        device,
        model.precision,
        threads,
        ", ".join(sorted(model.modalities)),
        model.vision_runtime if "image" in model.modalities else "(not loaded)",
        model.audio_runtime if "audio" in model.modalities else "(not loaded)",
    )
    return model


def _openvino_cache(source: str, requested: str, encoder: Encoder, device: str) -> Path | None:
    """Where the encoder's OpenVINO export is kept, or None where torch runs it."""
    if choose_runtime(requested, encoder=encoder, device=device) == "openvino":
        return export_cache_dir(source)
    return None


def _one_inter_op_thread() -> None:
    # Forward passes run one at a time on one thread (SentenceTransformerModel), so a pool for
    # running independent operators side by side would only compete with the intra-op threads.
    if torch.get_num_interop_threads() != 1:
        try:
            torch.set_num_interop_threads(1)
        except RuntimeError:  # only possible before the first parallel work in the process
            logger.info("torch's inter-op pool was already started; left as it is")
