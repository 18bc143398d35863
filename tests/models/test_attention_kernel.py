"""`attention` is `F.scaled_dot_product_attention` whichever kernel it picks."""

import torch
import torch.nn.functional as F

from dllab.models.attention_kernel import attention, uses_math_kernel


def _qkv(dtype: torch.dtype) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return [torch.randn(3, 2, 7, 8, generator=g).to(dtype).requires_grad_() for _ in range(3)]


def test_math_kernel_only_for_low_precision_on_cpu():
    assert uses_math_kernel(torch.zeros(1, dtype=torch.bfloat16))
    assert uses_math_kernel(torch.zeros(1, dtype=torch.float16))
    assert not uses_math_kernel(torch.zeros(1))


def test_bf16_matches_fp32_reference_with_mask_and_gradients():
    mask = torch.ones(7, 7, dtype=torch.bool).tril()
    mask[:, 0] = True
    q, k, v = _qkv(torch.bfloat16)
    out = attention(q, k, v, attn_mask=mask)
    out.float().sum().backward()
    rq, rk, rv = (t.detach().float().requires_grad_() for t in (q, k, v))
    ref = F.scaled_dot_product_attention(rq, rk, rv, attn_mask=mask)
    ref.sum().backward()
    assert out.dtype == torch.bfloat16
    torch.testing.assert_close(out.float(), ref, atol=2e-2, rtol=2e-2)
    torch.testing.assert_close(q.grad.float(), rq.grad, atol=5e-2, rtol=5e-2)


def test_fp32_is_torch_exactly_causal():
    q, k, v = _qkv(torch.float32)
    torch.testing.assert_close(
        attention(q, k, v, is_causal=True), F.scaled_dot_product_attention(q, k, v, is_causal=True)
    )
