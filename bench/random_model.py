"""A randomly initialised EmbeddingGemma 2 saved in the hub repository's layout.

The real checkpoint cannot be downloaded here, so tests and benchmarks build this model with
the real config, tokenizer, processor and sentence-transformers module classes, save it to a
directory and load it through the production path. The tiny one is for tests; the full-size
one has the real architecture (default sub-configs, 768-d output), so its compute cost is the
real model's, whatever the weights.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import TypedDict

import torch
from sentence_transformers import SentenceTransformer
from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import (
    EmbeddingGemma2Config,
    EmbeddingGemma2Model,
    EmbeddingGemma2Processor,
    Gemma4AudioFeatureExtractor,
    Gemma4ImageProcessor,
    PreTrainedTokenizerFast,
)
from transformers.models.embedding_gemma2.video_processing_embedding_gemma2 import (
    EmbeddingGemma2VideoProcessor,
)

EMBEDDING_DIM = 32
MAX_SOFT_TOKENS = 70

SPECIAL_TOKENS = {
    "pad_token": "<pad>",
    "eos_token": "<eos>",
    "bos_token": "<bos>",
    "unk_token": "<unk>",
    "image_token": "<|image|>",
    "boi_token": "<|image>",
    "eoi_token": "<image|>",
    "audio_token": "<|audio|>",
    "boa_token": "<|audio>",
    "eoa_token": "<audio|>",
}
VIDEO_TOKEN = "<|video|>"

CORPUS = [
    "a photo of a cat sitting on a sofa",
    "a dog running on the beach at sunset",
    "the sound of rain falling on a tin roof",
    "birdsong in the forest early in the morning",
    "a red car parked in front of an old house",
    "piano music played softly in a concert hall",
    "mountains covered with snow under a blue sky",
    "people talking in a busy cafe",
]


def build_tokenizer() -> PreTrainedTokenizerFast:
    specials = [*SPECIAL_TOKENS.values(), VIDEO_TOKEN]
    backend = Tokenizer(models.BPE(unk_token=None))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    backend.train_from_iterator(CORPUS, trainer=trainer)
    return PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=backend,
        extra_special_tokens={
            name: token
            for name, token in SPECIAL_TOKENS.items()
            if name.startswith(("image", "boi", "eoi", "audio", "boa", "eoa"))
        },
        **{
            name: SPECIAL_TOKENS[name]
            for name in ("pad_token", "eos_token", "bos_token", "unk_token")
        },
    )


FULL_SIZE_VOCABULARY = 262_144
FULL_SIZE_EMBEDDING_DIM = 768
FULL_SIZE_MAX_SOFT_TOKENS = 280  # the image processor default


def build_config(
    tokenizer: PreTrainedTokenizerFast, *, dimension: int = EMBEDDING_DIM
) -> EmbeddingGemma2Config:
    return EmbeddingGemma2Config(
        text_config={
            "vocab_size": len(tokenizer),
            "hidden_size": 16,
            "intermediate_size": 32,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "num_key_value_heads": 1,
            "head_dim": 8,
            "global_head_dim": 8,
            "hidden_size_per_layer_input": 8,
            "embedding_dim": dimension,
            "sliding_window_pattern": 2,
            **_text_token_ids(tokenizer),
        },
        vision_config={
            "model_type": "gemma4_vision",
            "hidden_size": 16,
            "intermediate_size": 32,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "num_key_value_heads": 2,
            "head_dim": 8,
            "position_embedding_size": 1024,
        },
        audio_config={
            "model_type": "gemma4_audio",
            "hidden_size": 16,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "subsampling_conv_channels": [128, 8],
            "output_proj_dims": 16,
        },
        **_media_token_ids(tokenizer),
    )


def build_full_size_config(tokenizer: PreTrainedTokenizerFast) -> EmbeddingGemma2Config:
    return EmbeddingGemma2Config(
        text_config={"vocab_size": FULL_SIZE_VOCABULARY, **_text_token_ids(tokenizer)},
        vision_config={"model_type": "gemma4_vision"},
        audio_config={"model_type": "gemma4_audio"},
        **_media_token_ids(tokenizer),
    )


class MediaTokenIds(TypedDict):
    boi_token_id: int
    eoi_token_id: int
    image_token_id: int
    video_token_id: int
    boa_token_id: int
    eoa_token_index: int
    audio_token_id: int


def _text_token_ids(tokenizer: PreTrainedTokenizerFast) -> dict[str, int]:
    token_id = partial(_token_id, tokenizer)
    return {
        "pad_token_id": token_id("<pad>"),
        "eos_token_id": token_id("<eos>"),
        "bos_token_id": token_id("<bos>"),
    }


def _media_token_ids(tokenizer: PreTrainedTokenizerFast) -> MediaTokenIds:
    token_id = partial(_token_id, tokenizer)
    return {
        "boi_token_id": token_id("<|image>"),
        "eoi_token_id": token_id("<image|>"),
        "image_token_id": token_id("<|image|>"),
        "video_token_id": token_id(VIDEO_TOKEN),
        "boa_token_id": token_id("<|audio>"),
        "eoa_token_index": token_id("<audio|>"),
        "audio_token_id": token_id("<|audio|>"),
    }


def _token_id(tokenizer: PreTrainedTokenizerFast, token: str) -> int:
    token_id = tokenizer.convert_tokens_to_ids(token)
    assert isinstance(token_id, int)
    return token_id


def build_tiny_model(directory: Path, *, seed: int = 0, dimension: int = EMBEDDING_DIM) -> Path:
    """`dimension`: the vectors' (another model, for switching a library between models)."""
    return _build(directory, seed=seed, full_size=False, dimension=dimension)


def build_full_size_model(directory: Path, *, seed: int = 0) -> Path:
    return _build(directory, seed=seed, full_size=True, dimension=FULL_SIZE_EMBEDDING_DIM)


def _build(directory: Path, *, seed: int, full_size: bool, dimension: int) -> Path:
    torch.manual_seed(seed)
    tokenizer = build_tokenizer()
    processor = EmbeddingGemma2Processor(
        feature_extractor=Gemma4AudioFeatureExtractor(),
        image_processor=Gemma4ImageProcessor(
            max_soft_tokens=FULL_SIZE_MAX_SOFT_TOKENS if full_size else MAX_SOFT_TOKENS
        ),
        tokenizer=tokenizer,
        video_processor=EmbeddingGemma2VideoProcessor(),
    )
    config = (
        build_full_size_config(tokenizer)
        if full_size
        else build_config(tokenizer, dimension=dimension)
    )
    model = EmbeddingGemma2Model(config).eval()  # type: ignore[no-untyped-call]
    model.save_pretrained(directory)
    processor.save_pretrained(directory)

    transformer = Transformer(str(directory))
    sentence_model = SentenceTransformer(
        modules=[transformer, Pooling(dimension, pooling_mode="mean"), Normalize()]
    )
    sentence_model.save(str(directory))
    return directory
