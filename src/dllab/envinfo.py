"""What a run (env.json) and `dllab doctor` record about the machine and the software."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

import torch

from dllab.train.precision import native_bf16

PACKAGES = [
    "dllab",
    "torch",
    "torchvision",
    "numpy",
    "torchmetrics",
    "safetensors",
    "pydantic",
    "typer",
    "rich",
    "tensorboard",
    "scikit-learn",
    "matplotlib",
    "pillow",
    "onnx",
    "onnxruntime",
    "onnxscript",
]


def package_versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def git_commit(folder: Path | None = None) -> str | None:
    """The commit of the checkout dllab runs from (None outside a git checkout)."""
    folder = folder or Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=folder, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=5,
    ).stdout.strip()
    return out.stdout.strip() + ("-dirty" if dirty else "")


def devices() -> dict[str, Any]:
    cuda = torch.cuda.is_available()
    mps = bool(getattr(torch.backends, "mps", None)) and torch.backends.mps.is_available()
    return {
        "cuda": cuda,
        "cuda_devices": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        if cuda
        else [],
        "mps": mps,
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch_interop_threads": torch.get_num_interop_threads(),
        "cpu_native_bf16": native_bf16("cpu"),  # else recipes asking bf16 train in fp32
    }


def environment(seed: int | None = None, checksums: dict[str, str] | None = None) -> dict[str, Any]:
    """The content of env.json."""
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": package_versions(),
        "git_commit": git_commit(),
        "seed": seed,
        "hardware": devices(),
        "data_checksums": checksums or {},
    }
