"""Runs EmbeddingGemma 2's vision encoder with OpenVINO on the CPU.

Only the encoder layers move (nearly all of an image's cost): the patch embedding, the pooling
and the float32 standardisation stay in torch, in transformers' own code, so images and video
frames take the same path as before and the precision hint never touches the standardisation.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import nn
from transformers.modeling_outputs import BaseModelOutputWithPast

if TYPE_CHECKING:
    import openvino
    from transformers import EmbeddingGemma2Model

logger = logging.getLogger(__name__)

IR_VERSION = "1"  # bump when the exported graph's inputs or outputs change
INPUT_NAMES = ("inputs_embeds", "attention_mask", "pixel_position_ids")


class OpenVINOVisionError(RuntimeError):
    """The vision encoder could not be exported, loaded or compiled; torch can still run it."""


def openvino_available() -> bool:
    return importlib.util.find_spec("openvino") is not None


def compile_vision_tower(
    model: EmbeddingGemma2Model,
    *,
    cache_dir: Path,
    bf16: bool,
    threads: int | None = None,
) -> None:
    """Replace the model's vision encoder with an OpenVINO one, compiled for this CPU.

    The IR is saved under `cache_dir`, named by a hash of the encoder's weights and config, and
    reused by later loads. `bf16` sets OpenVINO's inference precision (bf16 or f32); `threads`
    defaults to OpenVINO's choice.
    """
    if not openvino_available():
        raise OpenVINOVisionError("openvino is not installed (pip install openvino)")
    tower = model.vision_tower
    if tower is None:
        raise OpenVINOVisionError("the model has no vision tower")
    try:
        compiled = _compile(_load_or_export(tower, cache_dir), bf16=bf16, threads=threads)
    except Exception as error:
        raise OpenVINOVisionError(f"OpenVINO could not take the vision encoder: {error}") from error
    tower.encoder = OpenVINOEncoder(compiled)


class OpenVINOEncoder(nn.Module):
    """Stands in for `Gemma4VisionEncoder`: same inputs, same `last_hidden_state`.

    Each call makes its own infer request, so calls from several threads are safe; the engine
    makes them from one thread anyway.
    """

    def __init__(self, compiled: openvino.CompiledModel) -> None:
        super().__init__()
        self.compiled = compiled

    def forward(
        self,
        inputs_embeds: torch.Tensor,
        attention_mask: torch.Tensor,
        pixel_position_ids: torch.Tensor,
        **kwargs: object,
    ) -> BaseModelOutputWithPast:
        inputs = {
            "inputs_embeds": inputs_embeds.float().contiguous().numpy(),
            "attention_mask": attention_mask.contiguous().numpy(),
            "pixel_position_ids": pixel_position_ids.contiguous().numpy(),
        }
        hidden_states = self.compiled.create_infer_request().infer(inputs, share_inputs=True)[0]
        return BaseModelOutputWithPast(
            last_hidden_state=torch.from_numpy(hidden_states).to(inputs_embeds.dtype)
        )


class _EncoderGraph(nn.Module):
    def __init__(self, encoder: nn.Module) -> None:
        super().__init__()
        self.encoder = encoder

    def forward(
        self,
        inputs_embeds: torch.Tensor,
        attention_mask: torch.Tensor,
        pixel_position_ids: torch.Tensor,
    ) -> torch.Tensor:
        return self.encoder(
            inputs_embeds=inputs_embeds,
            attention_mask=attention_mask,
            pixel_position_ids=pixel_position_ids,
        ).last_hidden_state


def _load_or_export(tower: nn.Module, cache_dir: Path) -> openvino.Model:
    import openvino

    path = cache_dir / f"vision-encoder-{_fingerprint(tower)}.xml"
    started = time.monotonic()
    if path.exists():
        ir = openvino.Core().read_model(path)
        action = "read from"
    else:
        ir = _export(tower)
        _save_atomically(ir, path)
        action = "exported to"
    logger.info("OpenVINO vision encoder %s %s in %.1f s", action, path, time.monotonic() - started)
    return ir


def _export(tower: nn.Module) -> openvino.Model:
    import openvino

    batch = torch.export.Dim("batch")
    patches = torch.export.Dim("patches")
    dynamic = {0: batch, 1: patches}
    with torch.no_grad():
        program = torch.export.export(
            _EncoderGraph(tower.encoder).eval(),
            _example_inputs(tower),
            dynamic_shapes=(dynamic, dynamic, dynamic),
        )
    ir = openvino.convert_model(program)
    for port, name in zip(ir.inputs, INPUT_NAMES, strict=True):
        port.get_tensor().set_names({name})
    return ir


def _example_inputs(tower: nn.Module) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    # Two images of a 6x6-patch grid padded to 45 patches, as the image processor lays them out:
    # padding patches sit at position (-1, -1). Two, so that export keeps the batch size free.
    side, padded = 6, 45
    xs, ys = torch.meshgrid(torch.arange(side), torch.arange(side), indexing="xy")
    grid = torch.stack([xs.flatten(), ys.flatten()], dim=-1)
    positions = torch.cat([grid, torch.full((padded - side * side, 2), -1)]).expand(2, -1, -1)
    attention_mask = (positions != -1).any(dim=-1)
    hidden_size = tower.config.hidden_size
    weight = tower.patch_embedder.input_proj.weight
    inputs_embeds = torch.randn(2, padded, hidden_size, dtype=weight.dtype)
    return inputs_embeds, attention_mask, positions.contiguous()


def _fingerprint(tower: nn.Module) -> str:
    import openvino
    import transformers

    digest = hashlib.blake2b(digest_size=12)
    for text in (IR_VERSION, openvino.__version__, transformers.__version__):
        digest.update(text.encode())
    digest.update(tower.config.to_json_string().encode())
    for name, tensor in tower.encoder.state_dict().items():
        digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)}".encode())
        digest.update(tensor.detach().contiguous().reshape(-1).view(torch.uint8).numpy())
    return digest.hexdigest()


def _save_atomically(ir: openvino.Model, path: Path) -> None:
    import openvino

    path.parent.mkdir(parents=True, exist_ok=True)
    # Other processes may load the same model at once: each writes its own files, and the .xml
    # (what readers look for) appears only after its .bin is complete.
    with tempfile.TemporaryDirectory(dir=path.parent) as staging:
        staged = Path(staging) / path.name
        openvino.save_model(ir, staged, compress_to_fp16=False)
        os.replace(staged.with_suffix(".bin"), path.with_suffix(".bin"))
        os.replace(staged, path)


def _compile(ir: openvino.Model, *, bf16: bool, threads: int | None) -> openvino.CompiledModel:
    import openvino
    from openvino import properties
    from openvino.properties import hint

    config: dict[str, object] = {
        hint.inference_precision: openvino.Type.bf16 if bf16 else openvino.Type.f32,
        hint.performance_mode: hint.PerformanceMode.LATENCY,
    }
    if threads is not None:
        config[properties.inference_num_threads] = threads
    return openvino.Core().compile_model(ir, "CPU", config)
