from __future__ import annotations

import torch

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}


def choose_device(requested: str) -> str:
    if requested != "auto":
        return requested
    if torch.cuda.is_available():
        return "cuda"
    if torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def choose_dtype(requested: str, *, device: str) -> torch.dtype:
    if requested == "auto":
        # bf16 halves memory and time on accelerators; on CPUs float32 is the faithful default.
        if device.startswith("cuda") and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float32
    if requested in ("float16", "fp16", "half"):
        raise ValueError("float16 gives NaN embeddings with this model; use bfloat16 or float32.")
    try:
        return DTYPES[requested]
    except KeyError:
        raise ValueError(
            f"Unknown dtype {requested!r}; use one of: auto, {', '.join(DTYPES)}."
        ) from None
