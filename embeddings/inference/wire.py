"""How the model's calls and their arrays travel between tiers: a JSON header, then the arrays'
raw bytes, in the header's order. Nothing is pickled, and a body is read only as far as its
header says, each array's size checked against what is left before it is read."""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Sequence
from typing import Any

import numpy as np

from embeddings.errors import InputError

CONTENT_TYPE = "application/x-embeddings-call"
# The secret the tiers share (EMBEDDINGS_INFERENCE_SECRET) travels in this header.
SECRET_HEADER = "X-Inference-Secret"
# The only element types the model's inputs and outputs have: pixels, samples, vectors.
DTYPES: dict[str, np.dtype[Any]] = {"uint8": np.dtype(np.uint8), "float32": np.dtype("<f4")}
_LENGTH = struct.Struct(">I")
MAX_HEADER_BYTES = 1 << 20
MAX_ARRAYS = 1024
MAX_DIMENSIONS = 4


def encode(header: dict[str, Any], arrays: Sequence[np.ndarray] = ()) -> bytes:
    """The body that carries `header` and `arrays` (pixels as uint8, anything else as float32)."""
    names = ["uint8" if array.dtype == np.uint8 else "float32" for array in arrays]
    described = [
        {"dtype": name, "shape": list(array.shape)}
        for name, array in zip(names, arrays, strict=True)
    ]
    head = json.dumps({**header, "arrays": described}).encode()
    return b"".join(
        [
            _LENGTH.pack(len(head)),
            head,
            *(
                np.ascontiguousarray(array, dtype=DTYPES[name]).tobytes()
                for name, array in zip(names, arrays, strict=True)
            ),
        ]
    )


def decode(body: bytes) -> tuple[dict[str, Any], list[np.ndarray]]:
    """The header and the arrays of a body; InputError for anything that is not one exactly."""
    if len(body) < _LENGTH.size:
        raise InputError("the call's body is shorter than its header's length.")
    (head_length,) = _LENGTH.unpack_from(body)
    if head_length > MAX_HEADER_BYTES or _LENGTH.size + head_length > len(body):
        raise InputError("the call's header length is beyond the body or the limit.")
    try:
        header = json.loads(body[_LENGTH.size : _LENGTH.size + head_length])
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InputError(f"the call's header is not JSON: {error}") from None
    except RecursionError:
        raise InputError("the call's header nests too deeply.") from None
    if not isinstance(header, dict) or not isinstance(header.get("arrays", []), list):
        raise InputError("the call's header is not an object with a list of arrays.")
    described = header.pop("arrays", [])
    if len(described) > MAX_ARRAYS:
        raise InputError(f"a call carries at most {MAX_ARRAYS} arrays.")
    offset = _LENGTH.size + head_length
    arrays = []
    for entry in described:
        dtype, shape = _array_form(entry)
        size = dtype.itemsize * math.prod(shape)
        if offset + size > len(body):
            raise InputError("the call's arrays are longer than its body.")
        arrays.append(
            np.frombuffer(body, dtype=dtype, count=size // dtype.itemsize, offset=offset).reshape(
                shape
            )
        )
        offset += size
    if offset != len(body):
        raise InputError("the call's body is longer than its arrays.")
    return header, arrays


def _array_form(entry: object) -> tuple[np.dtype[Any], tuple[int, ...]]:
    if not isinstance(entry, dict) or entry.get("dtype") not in DTYPES:
        raise InputError(f"each array is uint8 or float32: {str(entry)[:100]}")
    shape = entry.get("shape")
    if (
        not isinstance(shape, list)
        or len(shape) > MAX_DIMENSIONS
        or not all(
            isinstance(size, int) and not isinstance(size, bool) and 0 <= size < 2**31
            for size in shape
        )
    ):
        raise InputError(
            f"an array's shape is a list of at most {MAX_DIMENSIONS} sizes: {str(shape)[:100]}"
        )
    return DTYPES[entry["dtype"]], tuple(shape)
