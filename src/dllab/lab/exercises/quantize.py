"""Grader for quantize: affine int8/uint8 quantisation against PyTorch's observers and kernels.

The references, all computed here (the child refuses torch):

- `qparams`: `torch.ao.quantization.MinMaxObserver(dtype=..., qscheme=torch.per_tensor_affine,
  reduce_range=False)` after observing a calibration tensor; dtype `torch.quint8` (qmin 0,
  qmax 255) in even cases, `torch.qint8` (-128, 127) in odd ones. The learner gets that
  tensor's min and max as floats.
- `quantize` / `dequantize`: `torch.quantize_per_tensor(x, scale, zero_point, dtype)` and its
  `.int_repr()` / `.dequantize()`, with the observer's scale and zero point, on new data that
  reaches beyond the calibrated range (so clamping matters). Every third case uses a
  power-of-two scale and values exactly halfway between two steps: torch rounds them half to
  even (nearbyint).
- `*_per_channel`: `PerChannelMinMaxObserver(ch_axis=axis, dtype=..., qscheme=
  torch.per_channel_affine, reduce_range=False)` on a weight, then `torch.quantize_per_channel`.

Elsewhere a value within 1e-3 of a rounding tie is moved off it (and calibrations whose zero
point sits near a tie are drawn again): float32 in torch and float64 in NumPy may round such a
value differently, and neither would be wrong.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from torch.ao.quantization import MinMaxObserver, PerChannelMinMaxObserver

from dllab.lab.checks import Case, as_array, as_int, assert_close, call, text, unpack

DTYPES = {"quint8": (torch.quint8, 0, 255), "qint8": (torch.qint8, -128, 127)}
EPS = float(np.finfo(np.float32).eps)

NOT_ROUNDED = text(
    "The zero point must be an integer: the real value 0 has to map exactly onto one integer "
    "(zero padding, ReLU zeros). Round it.",
    "零点必须是整数：实数 0 要恰好对应一个整数（零填充、ReLU 输出的 0）。要对它取整。",
)
ROUNDING = text(
    "Round to the nearest integer, halves to even, as torch's nearbyint does (2.5 -> 2, "
    "3.5 -> 4): np.round or np.rint; floor, int() and floor(v + 0.5) differ.",
    "取最近的整数，恰好一半时取偶数，与 torch 的 nearbyint 一样（2.5 -> 2，3.5 -> 4）："
    "用 np.round 或 np.rint；floor、int() 和 floor(v + 0.5) 的结果不同。",
)
NO_ZERO = text(
    "The observed range must include 0: use min(x_min, 0) and max(x_max, 0) before computing "
    "the scale, so that 0 stays representable even when every value is positive.",
    "观测到的范围必须包含 0：计算 scale 之前先取 min(x_min, 0) 和 max(x_max, 0)，"
    "这样即使所有值都为正，0 也能被精确表示。",
)
NO_CLAMP = text(
    "Values beyond the calibrated range must saturate: clamp the integers to [qmin, qmax], "
    "otherwise they do not fit in 8 bits.",
    "超出校准范围的值要饱和：把整数截断到 [qmin, qmax]，否则 8 位放不下。",
)
DEQ_ZERO = text(
    "Subtract the zero point before scaling: x = (q - zero_point) * scale.",
    "先减去零点再乘以 scale：x = (q - zero_point) * scale。",
)
WRONG_AXIS = text(
    "Per channel means one (scale, zero_point) per index along `axis`: take the min and max "
    "over every OTHER axis, and broadcast the parameters along `axis` (reshape them to 1 "
    "everywhere except there).",
    "逐通道是指沿 `axis` 的每个索引各有一组 (scale, zero_point)：在除 `axis` 以外的所有轴上"
    "取最小值和最大值，并沿 `axis` 广播参数（把它们 reshape 成除该轴外都为 1 的形状）。",
)
ZERO_INT = text(
    "The zero point is an integer (the real 0 maps onto it exactly): round it, clamp it and "
    "return it as an int (int(...)).",
    "零点是整数（实数 0 恰好对应它）：取整、截断，并以 int 返回（int(...)）。",
)


def _qparams(lo, hi, qmin, qmax, *, with_zero=True, rnd=np.round, clamp=True):
    """Scale and zero point(s) in NumPy, with a known mistake switched on."""
    lo, hi = np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64)
    if with_zero:
        lo, hi = np.minimum(lo, 0.0), np.maximum(hi, 0.0)
    scale = np.maximum((hi - lo) / (qmax - qmin), EPS)
    zp = qmin - rnd(lo / scale)
    return scale, np.clip(zp, qmin, qmax) if clamp else zp


def _quantize(x, scale, zp, qmin, qmax, *, rnd=np.round, clamp=True):
    q = rnd(x / scale) + zp
    return np.clip(q, qmin, qmax) if clamp else q


def _half_up(v):
    return np.floor(v + 0.5)


def _along(ndim: int, axis: int) -> list[int]:
    shape = [1] * ndim
    shape[axis] = -1
    return shape


def _near_tie(v: np.ndarray, margin: float) -> np.ndarray:
    return np.abs(v - np.floor(v) - 0.5) < margin


def _observe(observer, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    observer(torch.tensor(x, dtype=torch.float32))
    scale, zp = observer.calculate_qparams()
    return scale.double().numpy(), zp.long().numpy()


def _calibration(rng, index: int, qmin: int, qmax: int) -> np.ndarray:
    """A float32 tensor to calibrate on whose zero point is not near a rounding tie."""
    for _ in range(100):
        shape = tuple(int(s) for s in rng.integers(2, 9, size=2))
        x = rng.normal(size=shape) * rng.uniform(0.1, 5.0) + rng.uniform(-1.0, 1.0)
        if index % 3 == 0:
            x = np.abs(x) + rng.uniform(0.2, 2.0)  # all positive, like a ReLU's output
        x = x.astype(np.float32)
        lo, hi = min(float(x.min()), 0.0), max(float(x.max()), 0.0)
        if not _near_tie(np.array(lo / ((hi - lo) / (qmax - qmin))), 0.02):
            return x
    raise AssertionError("no calibration tensor without a tie in 100 draws")


def _off_ties(x: np.ndarray, scale) -> np.ndarray:
    """`x` with every value within 1e-3 of a rounding tie moved 0.01 of a step towards 0."""
    v = x.astype(np.float64) / scale
    step = np.broadcast_to(scale, x.shape)
    moved = np.where(_near_tie(v, 1e-3), x - np.sign(x) * 0.01 * step, x)
    return moved.astype(np.float32)


def _weight(rng, index: int, dtype) -> tuple[np.ndarray, int]:
    """A float32 weight and the axis of its channels, with one dead channel every other case."""
    for _ in range(100):
        c = int(rng.integers(2, 9))
        if index % 3 == 0:
            shape, axis = (c, int(rng.integers(2, 9))), 0  # nn.Linear's (out, in)
        elif index % 3 == 1:
            shape, axis = (c, c), int(rng.integers(0, 2))  # square: a wrong axis still fits
        else:
            shape, axis = (c, int(rng.integers(1, 4)), 3, 3), 0  # a conv kernel
        spread = rng.uniform(0.05, 0.5, size=c).reshape(_along(len(shape), axis))
        w = rng.normal(size=shape) * spread  # each channel its own range
        if index % 2 == 0:
            w[(slice(None),) * axis + (int(rng.integers(0, c)),)] = 0.0  # a pruned channel
        w = w.astype(np.float32)
        observer = PerChannelMinMaxObserver(ch_axis=axis, dtype=dtype,
                                            qscheme=torch.per_channel_affine, reduce_range=False)  # fmt: skip
        scales, _ = _observe(observer, w)
        others = tuple(d for d in range(w.ndim) if d != axis)
        lo = np.minimum(w.min(axis=others), 0.0)
        if not np.any(_near_tie(lo / scales, 0.02)):
            return _off_ties(w, scales.reshape(_along(w.ndim, axis))), axis
    raise AssertionError("no weight without a tie in 100 draws")


def _per_tensor_data(rng, index, x_cal, scale, zp, qmin, qmax):
    """New data beyond the calibrated range; (data, scale, zero point) to quantize it with."""
    if index % 3 == 2:  # exact halves on a power-of-two grid: only half-to-even gets them
        scale, zp = 2.0 ** -int(rng.integers(3, 7)), int(rng.integers(qmin + 20, qmax - 19))
        steps = rng.integers(-40, 41, size=(3, 8)) + rng.choice([0.5, 0.25, 0.0], size=(3, 8))
        steps[0, :4] = [0.5, 1.5, 2.5, -2.5]
        steps[1, :2] = [qmax - zp + 7, qmin - zp - 7]  # beyond the range: saturates
        return (steps * scale).astype(np.float32), scale, zp
    lo, hi = float(x_cal.min()), float(x_cal.max())
    span = max(hi - lo, 1.0)
    x = rng.uniform(lo - 0.5 * span, hi + 0.5 * span, size=(int(rng.integers(2, 6)), 7))
    return _off_ties(x.astype(np.float32), scale), scale, zp


def make_case(index: int, rng: np.random.Generator) -> Case:
    name = "quint8" if index % 2 == 0 else "qint8"
    dtype, qmin, qmax = DTYPES[name]
    x_cal = _calibration(rng, index, qmin, qmax)
    observer = MinMaxObserver(dtype=dtype, qscheme=torch.per_tensor_affine, reduce_range=False)
    scale_arr, zp_arr = _observe(observer, x_cal)
    scale, zp = float(scale_arr[0]), int(zp_arr[0])
    x, q_scale, q_zp = _per_tensor_data(rng, index, x_cal, scale, zp, qmin, qmax)
    w, axis = _weight(rng, index, dtype)
    x_min, x_max = float(x_cal.min()), float(x_cal.max())

    def check(module):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's quantized tensors are deprecated
            _check(module)

    def _check(module):
        got = unpack("qparams", call(module, "qparams", x_min, x_max, qmin, qmax), 2)
        variants = [
            (dict(rnd=lambda v: v), NOT_ROUNDED),
            (dict(rnd=np.floor), ROUNDING),
            (dict(rnd=np.trunc), ROUNDING),
            (dict(with_zero=False), NO_ZERO),
            (dict(with_zero=False, clamp=False), NO_ZERO),
        ]
        wrong = [_qparams(x_min, x_max, qmin, qmax, **kw) + (why,) for kw, why in variants]
        assert_close("scale", got[0], scale, mistakes=[(s, why) for s, _, why in wrong])
        assert_close("zero_point", got[1], zp, mistakes=[(z, why) for _, z, why in wrong])
        as_int("zero_point", got[1], ZERO_INT)

        xt = torch.tensor(x)
        qt = torch.quantize_per_tensor(xt, q_scale, q_zp, dtype)
        ref = qt.int_repr().long().numpy()
        got = call(module, "quantize", x.copy(), q_scale, q_zp, qmin, qmax)
        variants = [(dict(rnd=np.floor), ROUNDING), (dict(rnd=np.trunc), ROUNDING),
                    (dict(rnd=_half_up), ROUNDING), (dict(clamp=False), NO_CLAMP)]  # fmt: skip
        mistakes = [(_quantize(x.astype(np.float64), q_scale, q_zp, qmin, qmax, **kw), why)
                    for kw, why in variants]  # fmt: skip
        assert_close("quantize", got, ref, rtol=0, atol=1e-6, mistakes=mistakes)
        got = call(module, "dequantize", ref.copy(), q_scale, q_zp)
        assert_close("dequantize", got, qt.dequantize().double().numpy(),
                     mistakes=[(ref * q_scale, DEQ_ZERO), (ref * q_scale - q_zp, DEQ_ZERO)])  # fmt: skip

        _check_per_channel(module)

    def _check_per_channel(module):
        observer = PerChannelMinMaxObserver(ch_axis=axis, dtype=dtype,
                                            qscheme=torch.per_channel_affine, reduce_range=False)  # fmt: skip
        scales, zps = _observe(observer, w)
        reply = call(module, "qparams_per_channel", w.copy(), axis, qmin, qmax)
        got_s, got_z = (as_array(n, v) for n, v in
                        zip(("scales", "zero_points"), unpack("qparams_per_channel", reply, 2),
                            strict=True))  # fmt: skip
        wrong_shape = tuple(np.delete(w.shape, axis))  # min and max along `axis` itself
        hint = WRONG_AXIS if got_s.shape == wrong_shape != scales.shape else None
        bad_s, bad_z = _qparams(w.min(axis=axis), w.max(axis=axis), qmin, qmax)
        flat = _qparams(w.min(), w.max(), qmin, qmax)  # one pair for the whole tensor
        assert_close("scales", got_s, scales, hint=hint,
                     mistakes=[(bad_s, WRONG_AXIS), (np.full_like(scales, flat[0]), WRONG_AXIS),
                               (_qparams(*_minmax(w, axis), qmin, qmax, with_zero=False)[0],
                                NO_ZERO)])  # fmt: skip
        assert_close("zero_points", got_z, zps, hint=hint,
                     mistakes=[(bad_z, WRONG_AXIS),
                               (_qparams(*_minmax(w, axis), qmin, qmax, rnd=lambda v: v)[1],
                                NOT_ROUNDED),
                               (_qparams(*_minmax(w, axis), qmin, qmax, rnd=np.floor)[1],
                                ROUNDING)])  # fmt: skip

        qt = torch.quantize_per_channel(torch.tensor(w), torch.tensor(scales),
                                        torch.tensor(zps), axis, dtype)  # fmt: skip
        ref = qt.int_repr().long().numpy()
        got = call(module, "quantize_per_channel", w.copy(), scales.copy(), zps.copy(), axis,
                   qmin, qmax)  # fmt: skip
        along = _along(w.ndim, axis)
        s, z = scales.reshape(along), zps.reshape(along)
        mistakes = [(_quantize(w, s, z, qmin, qmax, rnd=np.floor), ROUNDING)]
        if w.shape[-1] == len(scales) and axis != w.ndim - 1:  # broadcast on the last axis
            mistakes.append((_quantize(w, scales, zps, qmin, qmax), WRONG_AXIS))
        assert_close("quantize_per_channel", got, ref, rtol=0, atol=1e-6, mistakes=mistakes)
        got = call(module, "dequantize_per_channel", ref.copy(), scales.copy(), zps.copy(), axis)
        mistakes = [(ref * s, DEQ_ZERO), (ref * s - z, DEQ_ZERO)]
        if w.shape[-1] == len(scales) and axis != w.ndim - 1:
            mistakes.append(((ref - zps) * scales, WRONG_AXIS))
        assert_close("dequantize_per_channel", got, qt.dequantize().double().numpy(),
                     mistakes=mistakes)  # fmt: skip

    ties = "; exact halfway values" if index % 3 == 2 else ""
    ties_zh = "；含恰好位于两级正中的值" if index % 3 == 2 else ""
    return Case(
        text(
            f"{name} [{qmin}, {qmax}]; qparams: x_min {x_min:.5g}, x_max {x_max:.5g}; "
            f"quantize: x {x.shape}, scale {q_scale:.5g}, zero_point {q_zp}{ties}; "
            f"per channel: w {w.shape}, axis {axis}",
            f"{name} [{qmin}, {qmax}]；qparams：x_min {x_min:.5g}，x_max {x_max:.5g}；"
            f"quantize：x {x.shape}，scale {q_scale:.5g}，zero_point {q_zp}{ties_zh}；"
            f"逐通道：w {w.shape}，axis {axis}",
        ),
        check,
    )


def _minmax(w: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    others = tuple(d for d in range(w.ndim) if d != axis)
    return w.min(axis=others), w.max(axis=others)
