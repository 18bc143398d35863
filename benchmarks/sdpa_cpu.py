"""Attention kernels on this CPU: torch's fused ("flash") kernel against the plain-math one,
forward + backward, fp32 and bf16, at the shapes the sequence recipes train with.

`dllab.models.attention_kernel.attention` takes the math kernel for bf16/fp16 on CPU because
of what this prints; rerun it after a torch upgrade. Printed: milliseconds per
forward+backward (median of `--repeats`) and the ratio fused / math (> 1: math is faster).

    python benchmarks/sdpa_cpu.py [--threads 2] [--repeats 20]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

SHAPES = {  # (batch, heads, tokens, head size, causal)
    "translate-en-zh encoder": (64, 4, 16, 32, False),
    "translate-en-zh decoder": (64, 4, 16, 32, True),
    "mlm-zh / sentiment-zh-bert": (32, 4, 128, 64, False),
    "fashion-mnist-vit": (128, 4, 50, 16, False),
    "gpt-peoples-daily": (16, 4, 320, 32, True),
}


def time_kernel(shape: tuple, dtype: torch.dtype, backend: SDPBackend, repeats: int) -> float:
    b, h, t, d, causal = shape
    q, k, v = (torch.randn(b, h, t, d, dtype=dtype, requires_grad=True) for _ in range(3))
    times = []
    with sdpa_kernel([backend]):
        for i in range(repeats + 3):
            start = time.perf_counter()
            F.scaled_dot_product_attention(q, k, v, is_causal=causal).sum().backward()
            if i >= 3:  # the first calls allocate
                times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} thread(s); ms per forward+backward")
    print(f"{'shape':<28} {'dtype':<9} {'fused':>8} {'math':>8} {'fused/math':>10}")
    for name, shape in SHAPES.items():
        for dtype in (torch.float32, torch.bfloat16):
            fused = time_kernel(shape, dtype, SDPBackend.FLASH_ATTENTION, args.repeats)
            math = time_kernel(shape, dtype, SDPBackend.MATH, args.repeats)
            print(
                f"{name:<28} {str(dtype)[6:]:<9} {fused:>8.2f} {math:>8.2f} {fused / math:>10.2f}"
            )


if __name__ == "__main__":
    main()
