"""Device choice and DDP set-up from the environment `torchrun` provides.

Nothing home-made for distribution: `torchrun` starts the processes and sets RANK/WORLD_SIZE;
we join the process group (gloo on CPU, nccl on CUDA) and wrap the model in DDP.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist

from dllab.errors import ConfigError


def world_info() -> tuple[int, int, int]:
    """(rank, local_rank, world_size) from torchrun's environment; (0, 0, 1) otherwise."""
    return (
        int(os.environ.get("RANK", 0)),
        int(os.environ.get("LOCAL_RANK", 0)),
        int(os.environ.get("WORLD_SIZE", 1)),
    )


def pick_device(wanted: str = "auto", local_rank: int = 0) -> torch.device:
    """CUDA, then MPS, then CPU for "auto"; an explicit choice must be available."""
    if wanted == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", local_rank)
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if wanted == "cuda" and not torch.cuda.is_available():
        raise ConfigError("train.device=cuda but no CUDA device is visible; use train.device=auto")
    if wanted == "mps" and not torch.backends.mps.is_available():
        raise ConfigError("train.device=mps but MPS is not available; use train.device=auto")
    return torch.device(wanted, local_rank) if wanted == "cuda" else torch.device(wanted)


def init_distributed(device: torch.device) -> bool:
    """Join the process group when launched by torchrun; returns whether distributed."""
    _, _, world = world_info()
    if world <= 1:
        return False
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return True


def is_main_process() -> bool:
    return not dist.is_initialized() or dist.get_rank() == 0


def broadcast_text(text: str) -> str:
    """Rank 0's string on every rank (e.g. the run folder's name)."""
    if not dist.is_initialized():
        return text
    box = [text]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def all_min(flag: float) -> float:
    if not dist.is_initialized():
        return flag
    t = torch.tensor([flag], dtype=torch.float64)
    dist.all_reduce(t, op=dist.ReduceOp.MIN)
    return float(t.item())


def all_sum(values: list[float]) -> list[float]:
    if not dist.is_initialized():
        return values
    t = torch.tensor(values, dtype=torch.float64)
    dist.all_reduce(t)
    return t.tolist()


def barrier() -> None:
    if dist.is_initialized():
        dist.barrier()


def cleanup() -> None:
    """Leave the process group together: a rank that tears gloo down while its peer still
    talks to it can abort in C++ ("terminate called without an active exception"; seen once in
    `make test` under load), so every rank waits for the others first."""
    if dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
