"""The precision a run really trains in: the recipe's wish, checked against the hardware.

bf16 autocast pays only where the hardware computes in bf16: x86 CPUs with AVX512-BF16 or AMX,
Arm CPUs (oneDNN/ACL), CUDA GPUs. An x86 CPU without those instructions emulates every bf16
matrix product through conversions, and a step gets slower, not faster: `bert-mlm-mini` (batch
32 x 128 tokens, 2 threads) took 1.1 s a step in fp32 and 31 s in bf16 on an AVX2-only AMD
EPYC. A recipe tuned on one machine must not become unusable on another, so there "bf16"
trains in fp32 and the run says so (the note is echoed and `env.json` keeps `precision`).
"""

from __future__ import annotations

import contextlib
import platform

import torch

from dllab.errors import ConfigError

__all__ = ["autocast", "native_bf16", "resolve_precision"]

X86 = ("x86_64", "amd64", "i386", "i686")


def native_bf16(device: torch.device | str = "cpu") -> bool:
    """True where bf16 matrix products run in hardware on `device`."""
    device = torch.device(device)
    if device.type != "cpu":
        return True  # CUDA / MPS: autocast picks what the device supports
    if platform.machine().lower() not in X86:
        return True
    cpu = getattr(torch, "cpu", None)
    checks = [
        getattr(cpu, n, None) for n in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    ]
    checks = [c for c in checks if c is not None]
    return not checks or any(c() for c in checks)  # unknown torch: trust the recipe


def resolve_precision(requested: str, device: torch.device | str) -> tuple[str, str | None]:
    """`(precision to train in, a one-line note when it is not the one requested)`.

    >>> resolve_precision("fp32", "cpu")
    ('fp32', None)
    """
    device = torch.device(device)
    if requested == "fp16" and device.type != "cuda":  # refused before any data is loaded
        raise ConfigError(
            f"train.precision=fp16 needs CUDA, and this run would train on {device.type}; "
            "use train.precision=bf16 (or fp32)"
        )
    if requested == "bf16" and not native_bf16(device):
        return "fp32", (
            "note: train.precision=bf16, but this CPU has no AVX512-BF16 or AMX, where bf16 "
            "is emulated and many times slower; training in fp32"
        )
    return requested, None


def autocast(precision: str, device: torch.device | str) -> contextlib.AbstractContextManager:
    """The autocast context of a resolved precision: training, evaluation and prediction of a
    run all compute in the same one."""
    device = torch.device(device)
    if precision == "fp32":
        return contextlib.nullcontext()
    if precision == "fp16" and device.type != "cuda":
        raise ConfigError("train.precision=fp16 needs CUDA; use bf16 on CPU")
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device.type, dtype=dtype)
