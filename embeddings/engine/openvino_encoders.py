"""Runs EmbeddingGemma 2's vision and audio encoders with OpenVINO on the CPU.

Only each encoder's stack of layers moves (nearly all of an input's cost). The vision
encoder's patch embedding, pooling and float32 standardisation, and the audio encoder's
subsampling convolution, relative position encoding, attention mask and output projection (one
matrix product, against over a hundred in the layers) stay in torch, in transformers' own code:
images, video frames and sounds take the same path as before, and the precision hint never
touches the standardisation.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

import torch
from torch import nn
from torch.export import Dim
from transformers.modeling_outputs import BaseModelOutputWithPast

from embeddings.locking import file_lock

if TYPE_CHECKING:
    import openvino
    from transformers import EmbeddingGemma2Model, PretrainedConfig

logger = logging.getLogger(__name__)

IR_VERSION = "2"  # bump when an exported graph's inputs or outputs change

Encoder = Literal["vision", "audio"]


class OpenVINOEncoderError(RuntimeError):
    """An encoder could not be exported, loaded or compiled; torch can still run it."""


def openvino_available() -> bool:
    return importlib.util.find_spec("openvino") is not None


def compile_vision_tower(
    model: EmbeddingGemma2Model,
    *,
    cache_dir: Path,
    bf16: bool,
    threads: int | None = None,
) -> str:
    """Replace the model's vision encoder with an OpenVINO one, compiled for this CPU, and say
    what runs it now ("openvino bf16" or "openvino f32").

    The IR is saved under `cache_dir`, named by a hash of the encoder's weights and config, and
    reused by later loads. `bf16` sets OpenVINO's inference precision (bf16 or f32); `threads`
    defaults to OpenVINO's choice.
    """
    tower = _tower(model, "vision")
    stack = _Stack(
        encoder="vision",
        config=tower.config,
        graph=_Graph(tower.encoder, _run_vision_encoder),
        example_inputs=lambda: _vision_example(tower.config),
        dynamic_shapes=_vision_dynamic_shapes(),
    )
    tower.encoder = OpenVINOVisionEncoder(
        _compile_stack(stack, cache_dir=cache_dir, bf16=bf16, threads=threads)
    )
    return _runtime_name(bf16)


def compile_audio_tower(
    model: EmbeddingGemma2Model, *, cache_dir: Path, threads: int | None = None
) -> str:
    """Replace the model's audio encoder layers with OpenVINO ones, compiled for this CPU with
    float32 inference precision whatever the vision encoder's (the audio encoder in bfloat16
    moved real sounds to cosine 0.954 to 0.972), and say what runs them now ("openvino f32").
    The IR is cached as the vision encoder's is.
    """
    tower = _tower(model, "audio")
    stack = _Stack(
        encoder="audio",
        config=tower.config,
        graph=_Graph(tower.layers, _run_audio_layers),
        example_inputs=lambda: _audio_example(tower),
        dynamic_shapes=_audio_dynamic_shapes(),
    )
    compiled = _compile_stack(stack, cache_dir=cache_dir, bf16=False, threads=threads)
    # Gemma4AudioModel.forward calls each module of `layers` in turn, with the hidden states,
    # the blocked mask and the position embeddings it built: a list of one module that runs all
    # the layers is called once, with those same arguments.
    tower.layers = nn.ModuleList([OpenVINOAudioLayers(compiled)])
    return _runtime_name(False)


class OpenVINOLayers(nn.Module):
    """A compiled stack of layers called with torch tensors, in the graph's input order.

    Each call makes its own infer request, so calls from several threads are safe; the engine
    makes them from one thread anyway.
    """

    def __init__(self, compiled: openvino.CompiledModel) -> None:
        super().__init__()
        self.compiled = compiled

    def run(self, *inputs: torch.Tensor) -> torch.Tensor:
        """The graph's output, in the dtype of the first input (the hidden states)."""
        arrays = [
            (tensor.float() if tensor.is_floating_point() else tensor).contiguous().numpy()
            for tensor in inputs
        ]
        output = self.compiled.create_infer_request().infer(arrays, share_inputs=True)[0]
        return torch.from_numpy(output).to(inputs[0].dtype)


class OpenVINOVisionEncoder(OpenVINOLayers):
    """Stands in for `Gemma4VisionEncoder`: same inputs, same `last_hidden_state`."""

    def forward(
        self,
        inputs_embeds: torch.Tensor,
        attention_mask: torch.Tensor,
        pixel_position_ids: torch.Tensor,
        **kwargs: object,
    ) -> BaseModelOutputWithPast:
        return BaseModelOutputWithPast(
            last_hidden_state=self.run(inputs_embeds, attention_mask, pixel_position_ids)
        )


class OpenVINOAudioLayers(OpenVINOLayers):
    """Stands in for every `Gemma4AudioLayer` at once: same inputs, the last one's output."""

    def forward(
        self,
        hidden_states: torch.Tensor,
        attention_mask: torch.Tensor,
        position_embeddings: torch.Tensor,
        **kwargs: object,
    ) -> torch.Tensor:
        return self.run(hidden_states, attention_mask, position_embeddings)


@dataclass(frozen=True)
class _Stack:
    """What one encoder exports: a graph of its layers, inputs shaped like the real ones, and
    which of their sizes vary."""

    encoder: Encoder
    config: PretrainedConfig
    graph: nn.Module
    example_inputs: Callable[[], tuple[torch.Tensor, ...]]
    dynamic_shapes: tuple[dict[int, Any] | None, ...]


class _Graph(nn.Module):
    """What is exported of an encoder: `call(layers, *inputs)`, taking and giving float32 (what
    OpenVINOLayers feeds it) and computing in the dtype of the layers' weights."""

    def __init__(self, layers: nn.Module, call: Callable[..., torch.Tensor]) -> None:
        super().__init__()
        self.layers = layers
        self.call = call

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        dtype = next(self.layers.parameters()).dtype
        inputs = tuple(
            tensor.to(dtype) if tensor.is_floating_point() else tensor for tensor in inputs
        )
        return self.call(self.layers, *inputs).float()


def _run_vision_encoder(
    encoder: nn.Module,
    inputs_embeds: torch.Tensor,
    attention_mask: torch.Tensor,
    pixel_position_ids: torch.Tensor,
) -> torch.Tensor:
    output = encoder(
        inputs_embeds=inputs_embeds,
        attention_mask=attention_mask,
        pixel_position_ids=pixel_position_ids,
    )
    return cast(torch.Tensor, output.last_hidden_state)


def _run_audio_layers(
    layers: nn.ModuleList,
    hidden_states: torch.Tensor,
    attention_mask: torch.Tensor,
    position_embeddings: torch.Tensor,
) -> torch.Tensor:
    for layer in layers:
        hidden_states = layer(
            hidden_states, attention_mask=attention_mask, position_embeddings=position_embeddings
        )
    return hidden_states


def _vision_example(config: PretrainedConfig) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    # Two images of a 6x6-patch grid padded to 45 patches, as the image processor lays them out:
    # padding patches sit at position (-1, -1). Two, so that export keeps the batch size free.
    side, padded = 6, 45
    xs, ys = torch.meshgrid(torch.arange(side), torch.arange(side), indexing="xy")
    grid = torch.stack([xs.flatten(), ys.flatten()], dim=-1)
    positions = torch.cat([grid, torch.full((padded - side * side, 2), -1)]).expand(2, -1, -1)
    attention_mask = (positions != -1).any(dim=-1)
    inputs_embeds = torch.randn(2, padded, config.hidden_size)
    return inputs_embeds, attention_mask, positions.contiguous()


def _vision_dynamic_shapes() -> tuple[dict[int, Any], ...]:
    dynamic = {0: Dim("batch"), 1: Dim("patches")}
    return dynamic, dynamic, dynamic


def _audio_example(tower: Any) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    # Two clips of three attention chunks, the last one partly filled: more than one of each,
    # so that export keeps the batch size and the number of chunks free. The mask is the
    # model's 5-D blocked one, (batch, 1, chunks, chunk size, context size).
    config = tower.config
    chunk = config.attention_chunk_size
    context = chunk + config.attention_context_left - 1 + config.attention_context_right
    hidden_states = torch.randn(2, 2 * chunk + 1, config.hidden_size)
    attention_mask = torch.zeros(2, 1, 3, chunk, context)
    return hidden_states, attention_mask, tower.rel_pos_enc(hidden_states)


def _audio_dynamic_shapes() -> tuple[dict[int, Any] | None, ...]:
    # The attention cuts the frames into ceil(frames / chunk size) chunks, the mask's third
    # size, a relation named dimensions cannot state: Dim.DYNAMIC lets export derive it, and
    # still refuses to fix any of these sizes to the example's. Export notes the example's
    # sizes as lower bounds (its guards assume no size is 1), but the OpenVINO graph leaves
    # every size free: one clip of under one chunk comes out as in torch (the tests check it).
    # The position embeddings' shape comes from the config alone.
    dynamic = Dim.DYNAMIC
    return {0: dynamic, 1: dynamic}, {0: dynamic, 2: dynamic}, None


def _compile_stack(
    stack: _Stack, *, cache_dir: Path, bf16: bool, threads: int | None
) -> openvino.CompiledModel:
    try:
        return _compile(_load_or_export(stack, cache_dir), bf16=bf16, threads=threads)
    except Exception as error:
        raise OpenVINOEncoderError(
            f"OpenVINO could not take the {stack.encoder} encoder: {error}"
        ) from error


def _tower(model: EmbeddingGemma2Model, encoder: Encoder) -> Any:
    if not openvino_available():
        raise OpenVINOEncoderError("openvino is not installed (pip install openvino)")
    tower = getattr(model, f"{encoder}_tower", None)
    if tower is None:
        raise OpenVINOEncoderError(f"the model has no {encoder} tower")
    return tower


def _runtime_name(bf16: bool) -> str:
    return f"openvino {'bf16' if bf16 else 'f32'}"


def _load_or_export(stack: _Stack, cache_dir: Path) -> openvino.Model:
    import openvino

    path = cache_dir / f"{stack.encoder}-encoder-{_fingerprint(stack)}.xml"
    started = time.monotonic()
    cache_dir.mkdir(parents=True, exist_ok=True)
    # Processes that load at once (make run's web server and worker) export once: the others
    # wait, then read the export, instead of each spending minutes of the same cores on it.
    with file_lock(path.with_suffix(".lock")):
        if path.exists():
            ir = openvino.Core().read_model(path)
            action = "read from"
        else:
            ir = _export(stack)
            _save_atomically(ir, path)
            action = "exported to"
    logger.info(
        "OpenVINO %s encoder %s %s in %.1f s",
        stack.encoder,
        action,
        path,
        time.monotonic() - started,
    )
    return ir


def _export(stack: _Stack) -> openvino.Model:
    import openvino

    with torch.no_grad():
        program = torch.export.export(
            stack.graph.eval(),
            stack.example_inputs(),
            # The graph takes its inputs as one *inputs argument, whose shapes are one tuple.
            dynamic_shapes=(stack.dynamic_shapes,),
        )
    return openvino.convert_model(program)


def _fingerprint(stack: _Stack) -> str:
    import openvino
    import transformers

    digest = hashlib.blake2b(digest_size=12)
    for text in (IR_VERSION, openvino.__version__, transformers.__version__):
        digest.update(text.encode())
    digest.update(stack.config.to_json_string().encode())
    for name, tensor in stack.graph.state_dict().items():
        digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)}".encode())
        digest.update(tensor.detach().contiguous().reshape(-1).view(torch.uint8).numpy())
    return digest.hexdigest()


def _save_atomically(ir: openvino.Model, path: Path) -> None:
    import openvino

    # A process killed while it saves leaves no half-written export: the .xml (what readers look
    # for) appears only after its .bin is complete.
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
