"""Grader for conv2d_backward: dx, dw and db of a strided, padded conv2d, against torch autograd.

Each case runs `F.conv2d` forward in float64, back-propagates a random upstream gradient `dout`
with autograd and compares the three gradients. Strides below the kernel size make windows
overlap (an input gets gradient from several windows); an input size that the windows do not
tile leaves some inputs with no gradient at all.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from dllab.lab.checks import Case, Failed, assert_close, call, text, unpack

FLIPPED = text(
    "dw matches the expected gradient with the kernel flipped in both spatial axes: the "
    "convolution of deep learning is a cross-correlation, so w[:, :, i, j] meets the input at "
    "offset (i, j) of each window, unflipped.",
    "dw 与把卷积核在两个空间轴上翻转后的期望梯度一致：深度学习里的卷积是互相关，"
    "w[:, :, i, j] 在每个窗口的偏移 (i, j) 处与输入相乘，不翻转。",
)
DX_FLIPPED = text(
    "dx matches what the kernel flipped in both spatial axes would give: each window sends its "
    "gradient back through the same weights that produced it, at the same offsets.",
    "dx 与把卷积核在两个空间轴上翻转后的结果一致：每个窗口的梯度要通过产生它的同一组权重、"
    "在同样的偏移处传回去。",
)
OVERLAP = text(
    "An input that lies under several windows (stride smaller than the kernel) receives the "
    "gradient of every one of them: add the contributions, do not overwrite them. Inputs that "
    "no window covers get 0.",
    "位于多个窗口下的输入（步长小于卷积核时）会从每个窗口都得到梯度：贡献要累加，不能覆盖。"
    "没有任何窗口覆盖的输入梯度为 0。",
)
CROP = text(
    "dx has the shape of the PADDED input: the padding is not an input, so cut it off before "
    "returning.",
    "dx 的形状是填充后输入的形状：填充不是输入，返回前要把它裁掉。",
)
DB = text(
    "db has one number per output channel: the bias is added at every output position of every "
    "sample, so its gradient sums over all of them.",
    "db 每个输出通道一个数：偏置加在每个样本的每个输出位置上，所以它的梯度要对这些位置全部求和。",
)


def _reference(x, w, b, dout, stride, padding):
    """(dx, dw, db) of sum(conv2d(x, w, b) * dout) from torch autograd, as NumPy arrays."""
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    F.conv2d(xt, wt, bt, stride=stride, padding=padding).backward(torch.tensor(dout))
    return xt.grad.numpy(), wt.grad.numpy(), bt.grad.numpy()


def make_case(index: int, rng: np.random.Generator) -> Case:
    n, c, o = (int(v) for v in rng.integers([1, 1, 1], [4, 4, 5]))
    kh, kw = (int(v) for v in rng.integers(1, 5, size=2))
    stride, padding = int(rng.integers(1, 4)), int(rng.integers(0, 3))
    if index == 0:  # always one case with overlapping windows and padding
        kh, kw, stride, padding = 3, 3, 1, 1
    if index == 1:  # and one where the windows skip inputs at the border
        kh, kw, stride, padding = 2, 3, 2, 0
    h = int(rng.integers(max(kh, 4), 10))
    w_ = int(rng.integers(max(kw, 4), 10))
    x = rng.normal(size=(n, c, h, w_))
    weight, bias = rng.normal(size=(o, c, kh, kw)), rng.normal(size=o)
    h_out, w_out = (h + 2 * padding - kh) // stride + 1, (w_ + 2 * padding - kw) // stride + 1
    dout = rng.normal(size=(n, o, h_out, w_out))

    def check(module):
        dx, dw, db = _reference(x, weight, bias, dout, stride, padding)
        out = call(module, "conv2d_backward", dout.copy(), x.copy(), weight.copy(), stride,
                   padding)  # fmt: skip
        got_dx, got_dw, got_db = unpack("conv2d_backward", out, 3)
        padded = (n, c, h + 2 * padding, w_ + 2 * padding)
        if padding and np.shape(got_dx) == padded:
            raise Failed(
                text(
                    f"dx: expected shape {dx.shape}, got {padded}",
                    f"dx：形状应为 {dx.shape}，实际为 {padded}",
                ),
                CROP,
            )
        flipped_w = weight[:, :, ::-1, ::-1].copy()
        dx_flipped = _reference(x, flipped_w, bias, dout, stride, padding)[0]
        assert_close("dx", got_dx, dx, hint=OVERLAP, mistakes=[(dx_flipped, DX_FLIPPED)])
        assert_close("dw", got_dw, dw, mistakes=[(dw[:, :, ::-1, ::-1], FLIPPED)])
        assert_close("db", got_db, db, hint=DB)

    return Case(
        text(
            f"x {x.shape}, weight {weight.shape}, stride {stride}, padding {padding}, "
            f"dout {dout.shape}",
            f"x {x.shape}，weight {weight.shape}，步长 {stride}，填充 {padding}，dout {dout.shape}",
        ),
        check,
    )
