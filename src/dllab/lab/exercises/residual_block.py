"""Grader for residual_block: ResNet's BasicBlock, loaded by name, in train and eval mode."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from dllab.lab.checks import Case, Failed, assert_close, drive, driver_source, text

DRIVER = driver_source("residual_block")


def _bn_state(prefix: str, c: int, rng) -> dict[str, torch.Tensor]:
    return {
        prefix + "weight": torch.tensor(rng.uniform(0.5, 1.5, size=c)),
        prefix + "bias": torch.tensor(rng.normal(size=c) * 0.1),
        prefix + "running_mean": torch.tensor(rng.normal(size=c) * 0.1),
        prefix + "running_var": torch.tensor(rng.uniform(0.5, 1.5, size=c)),
        prefix + "num_batches_tracked": torch.tensor(0),
    }


def _bn(x, sd, prefix, training):
    rm, rv = sd[prefix + "running_mean"].clone(), sd[prefix + "running_var"].clone()
    return F.batch_norm(x, rm, rv, sd[prefix + "weight"], sd[prefix + "bias"], training)


def _forward(sd, x, stride, training, *, shortcut=True, relu_before_add=False, last_relu=True):
    out = F.relu(
        _bn(F.conv2d(x, sd["conv1.weight"], stride=stride, padding=1), sd, "bn1.", training)
    )
    out = _bn(F.conv2d(out, sd["conv2.weight"], padding=1), sd, "bn2.", training)
    if "shortcut.0.weight" in sd:
        skip = _bn(F.conv2d(x, sd["shortcut.0.weight"], stride=stride), sd, "shortcut.1.", training)
    else:
        skip = x
    if relu_before_add:
        out = F.relu(out)
    out = out + skip if shortcut else out
    return F.relu(out) if last_relu else out


def make_case(index: int, rng: np.random.Generator) -> Case:
    kind = index % 3  # 0: identity shortcut, 1: more channels, 2: stride 2
    c_in = int(rng.integers(1, 6))
    c_out = c_in if kind == 0 else int(rng.integers(1, 7))
    c_out = c_out + 1 if kind == 1 and c_out == c_in else c_out
    stride = 2 if kind == 2 else 1
    n, h, w = int(rng.integers(2, 4)), int(rng.integers(3, 9)), int(rng.integers(3, 9))
    sd = {"conv1.weight": torch.tensor(rng.normal(size=(c_out, c_in, 3, 3)) / np.sqrt(9 * c_in))}
    sd |= _bn_state("bn1.", c_out, rng)
    sd["conv2.weight"] = torch.tensor(rng.normal(size=(c_out, c_out, 3, 3)) / np.sqrt(9 * c_out))
    sd |= _bn_state("bn2.", c_out, rng)
    if kind:
        sd["shortcut.0.weight"] = torch.tensor(rng.normal(size=(c_out, c_in, 1, 1)) / np.sqrt(c_in))
        sd |= _bn_state("shortcut.1.", c_out, rng)
    x = torch.tensor(rng.normal(size=(n, c_in, h, w)))

    def check(module):
        built = drive(module, DRIVER, "build", c_in, c_out, stride)
        if "block" not in built:
            raise Failed(
                text(
                    f"BasicBlock(...) should be an nn.Module, got {built['type']}",
                    f"BasicBlock(...) 应为 nn.Module，实际为 {built['type']}",
                )
            )
        got = built["shapes"]
        missing, extra = [k for k in sd if k not in got], [k for k in got if k not in sd]
        projection = text(
            "The shortcut needs a 1x1 conv (with the block's stride) and a BatchNorm exactly "
            "when stride != 1 or in_channels != out_channels; otherwise it is the identity.",
            "当 stride != 1 或 in_channels != out_channels 时，shortcut 需要一个 1x1 "
            "卷积（步长与块相同）"
            "加 BatchNorm；否则就是恒等映射。",
        )
        names = text(
            "Use the names conv1, bn1, conv2, bn2 and shortcut (an nn.Sequential), with "
            "bias=False in the convolutions.",
            "使用 conv1、bn1、conv2、bn2 和 shortcut（一个 nn.Sequential）这些名字，卷积都设 "
            "bias=False。",
        )
        if missing or extra:
            about_shortcut = all(k.startswith("shortcut.") for k in missing + extra)
            raise Failed(
                text(
                    f"state_dict() keys differ: missing {missing[:4]}, unexpected {extra[:4]}",
                    f"state_dict() 的键不一致：缺少 {missing[:4]}，多出 {extra[:4]}",
                ),
                projection if about_shortcut else names,
            )
        for k, v in sd.items():
            if tuple(got[k]) != tuple(v.shape):
                raise Failed(
                    text(
                        f"{k}: expected shape {tuple(v.shape)}, got {tuple(got[k])}",
                        f"{k}：形状应为 {tuple(v.shape)}，实际为 {tuple(got[k])}",
                    ),
                    names,
                )
        for training in (False, True):
            mode = "train" if training else "eval"
            out = drive(module, DRIVER, "forward", built["block"], sd, x.clone(), training)
            variants = [
                (
                    dict(shortcut=False),
                    text(
                        "Add the shortcut to the residual branch before the last ReLU.",
                        "在最后一个 ReLU 之前把 shortcut 加到残差分支上。",
                    ),
                ),
                (
                    dict(relu_before_add=True),
                    text(
                        "No ReLU on the branch before the addition: "
                        "bn2's output is added as it is.",
                        "相加之前残差分支不要 ReLU：bn2 的输出直接相加。",
                    ),
                ),
                (
                    dict(last_relu=False),
                    text("Apply a ReLU after the addition.", "相加之后要做 ReLU。"),
                ),
            ]
            assert_close(
                f"block(x) in {mode} mode",
                out,
                _forward(sd, x, stride, training).numpy(),
                hint=text(
                    "relu(bn1(conv1(x))) -> bn2(conv2(.)) -> + shortcut(x) -> relu",
                    "relu(bn1(conv1(x))) -> bn2(conv2(.)) -> + shortcut(x) -> relu",
                ),
                mistakes=[
                    (_forward(sd, x, stride, training, **kw).numpy(), why) for kw, why in variants
                ],
            )

    return Case(
        f"BasicBlock(in_channels={c_in}, out_channels={c_out}, stride={stride}), "
        f"x {(n, c_in, h, w)}",
        check,
    )
