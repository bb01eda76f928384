from __future__ import annotations

import os
import platform
from dataclasses import dataclass
from pathlib import Path

import torch

from embeddings.engine.openvino_encoders import Encoder, openvino_available

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}
# Encoders in bfloat16, the language model (every modality's last stage, and all of a text's
# work) in float32: the vision encoder alone, or the vision and audio encoders.
VISION_BFLOAT16 = "bfloat16-vision"
TOWERS_BFLOAT16 = "bfloat16-towers"
DTYPE_CHOICES = ("auto", *DTYPES, VISION_BFLOAT16, TOWERS_BFLOAT16)

# CPU feature flags (/proc/cpuinfo) that mean bfloat16 matrix products run natively:
# x86 AVX-512 BF16 and AMX, Arm's BF16 extension.
NATIVE_BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16", "bf16"})
# Below this image-token budget, bfloat16 moved some real photos' vectors under cosine 0.99.
MIN_BFLOAT16_IMAGE_TOKENS = 140


@dataclass(frozen=True)
class Precision:
    """The dtype of the vision encoder, the audio encoder and the language model."""

    vision: torch.dtype
    audio: torch.dtype
    language: torch.dtype

    @classmethod
    def named(cls, name: str) -> Precision:
        float32, bfloat16 = torch.float32, torch.bfloat16
        if name == VISION_BFLOAT16:
            return cls(vision=bfloat16, audio=float32, language=float32)
        if name == TOWERS_BFLOAT16:
            return cls(vision=bfloat16, audio=bfloat16, language=float32)
        dtype = DTYPES[name]
        return cls(vision=dtype, audio=dtype, language=dtype)

    def __str__(self) -> str:
        parts = {"vision": self.vision, "audio": self.audio, "language model": self.language}
        by_dtype: dict[str, list[str]] = {}
        for part, dtype in parts.items():
            by_dtype.setdefault(_name(dtype), []).append(part)
        if len(by_dtype) == 1:
            return next(iter(by_dtype))
        return "; ".join(f"{dtype}: {', '.join(names)}" for dtype, names in by_dtype.items())


def choose_device(requested: str) -> str:
    if requested != "auto":
        return requested
    if torch.cuda.is_available():
        return "cuda"
    if torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def choose_precision(
    requested: str,
    *,
    device: str,
    image_tokens: int | None = None,
    cpu_flags: frozenset[str] | None = None,
) -> Precision:
    """`auto`: bfloat16 on GPUs that have it. On a CPU with native bfloat16, the vision encoder
    in bfloat16 (images in under half the float32 time at cosine ≥ 0.99 from 140 image tokens
    up; docs/performance.md), the rest in float32: the audio encoder in bfloat16 moved real
    sounds to cosine 0.97, and text's fidelity in bfloat16 cannot be measured without the real
    weights. float32 elsewhere. `image_tokens` None is the model's default (280)."""
    if requested == "auto":
        if device.startswith("cuda") and torch.cuda.is_bf16_supported():
            return Precision.named("bfloat16")
        flags = cpu_flags if cpu_flags is not None else cpu_feature_flags()
        coarse = image_tokens is not None and image_tokens < MIN_BFLOAT16_IMAGE_TOKENS
        if device == "cpu" and flags & NATIVE_BF16_FLAGS and not coarse:
            return Precision.named(VISION_BFLOAT16)
        return Precision.named("float32")
    if requested in ("float16", "fp16", "half"):
        raise ValueError("float16 gives NaN embeddings with this model; use bfloat16 or float32.")
    if requested not in DTYPE_CHOICES:
        raise ValueError(f"Unknown dtype {requested!r}; use one of: {', '.join(DTYPE_CHOICES)}.")
    return Precision.named(requested)


RUNTIMES = ("auto", "torch", "openvino")


def choose_runtime(
    requested: str, *, encoder: Encoder, device: str, machine: str | None = None
) -> str:
    """ "openvino" or "torch" for the vision or audio encoder. `auto` takes OpenVINO for the
    vision encoder on x86-64 CPUs, where it was measured faster than torch at the same
    fidelity. The audio encoder stays on torch: on OpenVINO it was at most a little faster and
    held 2.3 GB more (docs/performance.md)."""
    if requested not in RUNTIMES:
        raise ValueError(
            f"Unknown {encoder} runtime {requested!r}; use one of: {', '.join(RUNTIMES)}."
        )
    if requested == "openvino" and device != "cpu":
        raise ValueError(f"OpenVINO runs the {encoder} encoder on the CPU, not on {device!r}.")
    if requested == "auto":
        x86 = (machine or platform.machine()).lower() in ("x86_64", "amd64")
        wins = encoder == "vision" and device == "cpu" and x86
        return "openvino" if wins and openvino_available() else "torch"
    return requested


def cpu_feature_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> frozenset[str]:
    """The CPU's feature flags ("flags" on x86, "Features" on Arm); none where unknown."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        name, _, value = line.partition(":")
        if name.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return frozenset()


def physical_cores(cpuinfo: Path = Path("/proc/cpuinfo")) -> int:
    """Cores this process may run on, counting hyper-threads of one core once where
    /proc/cpuinfo says which they are."""
    allowed = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    logical = len(allowed) if allowed is not None else (os.cpu_count() or 1)
    try:
        blocks = cpuinfo.read_text().split("\n\n")
    except OSError:
        return logical
    cores = set()
    for block in blocks:
        fields = dict(
            (name.strip(), value.strip())
            for name, _, value in (line.partition(":") for line in block.splitlines())
        )
        processor = fields.get("processor")
        if processor is None or (allowed is not None and int(processor) not in allowed):
            continue
        cores.add((fields.get("physical id"), fields.get("core id", processor)))
    return max(1, min(logical, len(cores) or logical))


def _name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")
