"""int8 for the PyTorch path: PT2E quantisation through torchao, lowered by Inductor.

`torch.ao.quantization` (eager and FX modes) is deprecated; its successor is PT2E, which now
lives in torchao: `torch.export` captures the model as an ATen graph, a backend's quantizer
(here `X86InductorQuantizer`: int8 per-channel weights, int8 per-tensor activations, the
oneDNN recipe) marks where observers go, calibration batches set the activation ranges, and
`convert_pt2e` leaves a graph of quantize/dequantize pairs around fp32 ops. That graph is a
*reference*: run eagerly it is slower than fp32, because every q/dq is real work. Speed comes
only when `torch.compile` (Inductor) fuses each dq-conv-q pattern into one int8 oneDNN kernel,
which costs a compile of tens of seconds on a small CPU, once per process.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

import torch
from torch import nn

__all__ = ["Frozen", "compile_quantized", "quantize_pt2e", "save_program"]


class Frozen(nn.Module):
    """An exported (or compiled exported) graph as a module that ignores `train()`/`eval()`:
    an exported graph refuses them, and it has no mode to switch (its BatchNorms were folded
    and its observers converted)."""

    def __init__(self, graph: nn.Module) -> None:
        super().__init__()
        self.graph = graph

    def train(self, mode: bool = True) -> Frozen:
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.graph(x)


def _torchao():
    from dllab.errors import InputError

    # torchao registers an Enum with torch.compile on import, and torch logs a deprecation
    # line for it on every process: noise to a user who asked for a table.
    logging.getLogger("torch.utils._pytree").setLevel(logging.ERROR)
    try:
        from torchao.quantization.pt2e import quantizer as _  # noqa: F401
        from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e
        from torchao.quantization.pt2e.quantizer import x86_inductor_quantizer as x86
    except ImportError as exc:
        raise InputError(
            f"PT2E quantisation needs torchao ({exc}); install it with pip install 'dllab[deploy]'"
        ) from exc
    return prepare_pt2e, convert_pt2e, x86


def _dynamic_batch(example: torch.Tensor) -> tuple[dict[int, torch.export.Dim], ...]:
    return ({0: torch.export.Dim("batch", min=1, max=4096)},)


def quantize_pt2e(
    model: nn.Module, example: torch.Tensor, calibration: Iterable[torch.Tensor]
) -> torch.fx.GraphModule:
    """`model` (fp32, eval) as a PT2E int8 reference graph, its activation ranges observed on
    `calibration` batches; the batch axis stays dynamic."""
    prepare_pt2e, convert_pt2e, x86 = _torchao()
    model = model.float().eval()
    graph = torch.export.export(model, (example,), dynamic_shapes=_dynamic_batch(example)).module()
    quantizer = x86.X86InductorQuantizer().set_global(
        x86.get_default_x86_inductor_quantization_config()
    )
    prepared = prepare_pt2e(graph, quantizer)
    with torch.no_grad():
        for x in calibration:
            prepared(x)
    return convert_pt2e(prepared)


def compile_quantized(graph: torch.fx.GraphModule) -> nn.Module:
    """The int8 graph compiled by Inductor, which fuses its q/dq patterns into int8 kernels."""
    from torchao.quantization.pt2e.inductor_passes import x86  # noqa: F401  registers the fusions

    return Frozen(torch.compile(graph))


def save_program(graph: torch.fx.GraphModule, example: torch.Tensor, path: Path) -> None:
    """The int8 graph as a `torch.export` program file (.pt2), loadable with
    `torch.export.load` in a process that trusts the file."""
    program = torch.export.export(graph, (example,), dynamic_shapes=_dynamic_batch(example))
    torch.export.save(program, str(path))
