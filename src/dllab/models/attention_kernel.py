"""`F.scaled_dot_product_attention`, with the kernel chosen for the CPU's low-precision case.

On CPU, torch's fused ("flash") attention kernel is the default. In bf16 (autocast on
AVX512-BF16 CPUs, as the sequence recipes train) its backward pass is 2-8x slower than the
plain-math kernel at the lengths and head sizes used here, e.g. forward+backward for
(B 64, 4 heads, 16 tokens, 32 per head): 8.2 ms fused vs 1.0 ms math; at 320 tokens the two
are level (`benchmarks/sdpa_cpu.py`). In fp32 the fused kernel wins, and on GPUs it is the
point, so those keep torch's choice.
"""

from __future__ import annotations

from contextlib import nullcontext

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

LOW_PRECISION = (torch.bfloat16, torch.float16)


def uses_math_kernel(q: torch.Tensor) -> bool:
    """True where the plain-math kernel is the faster one: low precision on a CPU."""
    return q.device.type == "cpu" and q.dtype in LOW_PRECISION


def attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    attn_mask: torch.Tensor | None = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
) -> torch.Tensor:
    """`softmax(q k^T / sqrt(d) + mask) v` for `(B, nh, T, hs)` queries; arguments as
    `F.scaled_dot_product_attention`."""
    kernel = sdpa_kernel(SDPBackend.MATH) if uses_math_kernel(q) else nullcontext()
    with kernel:
        return F.scaled_dot_product_attention(
            q, k, v, attn_mask=attn_mask, dropout_p=dropout_p, is_causal=is_causal
        )
