"""Grader for custom_module: a Classifier of residual MLP blocks, loaded by parameter name."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from dllab.lab.checks import Case, Failed, assert_close, drive, driver_source, text

DRIVER = driver_source("custom_module")


def _expected_shapes(d_in: int, dim: int, n_blocks: int, n_classes: int) -> dict[str, tuple]:
    shapes = {"embed.weight": (dim, d_in), "embed.bias": (dim,)}
    for i in range(n_blocks):
        p = f"blocks.{i}."
        shapes |= {p + "norm.weight": (dim,), p + "norm.bias": (dim,)}
        shapes |= {p + "fc1.weight": (2 * dim, dim), p + "fc1.bias": (2 * dim,)}
        shapes |= {p + "fc2.weight": (dim, 2 * dim), p + "fc2.bias": (dim,)}
    return shapes | {"head.weight": (n_classes, dim), "head.bias": (n_classes,)}


def _block(p, h, *, pre_norm, residual):
    def norm(z):
        return F.layer_norm(z, z.shape[-1:], p["norm.weight"], p["norm.bias"])

    z = norm(h) if pre_norm else h
    z = F.linear(
        F.relu(F.linear(z, p["fc1.weight"], p["fc1.bias"])), p["fc2.weight"], p["fc2.bias"]
    )
    if not pre_norm:
        return norm(h + z)
    return h + z if residual else z


def _forward(sd, x, n_blocks, *, pre_norm=True, residual=True):
    h = F.linear(x, sd["embed.weight"], sd["embed.bias"])
    for i in range(n_blocks):
        p = {k.split(".", 2)[2]: v for k, v in sd.items() if k.startswith(f"blocks.{i}.")}
        h = _block(p, h, pre_norm=pre_norm, residual=residual)
    return F.linear(h, sd["head.weight"], sd["head.bias"])


def make_case(index: int, rng: np.random.Generator) -> Case:
    d_in, dim, n_blocks, n_classes, batch = (
        int(v) for v in rng.integers([1, 2, 1, 2, 1], [9, 9, 4, 6, 6])
    )
    shapes = _expected_shapes(d_in, dim, n_blocks, n_classes)
    state = {k: torch.tensor(rng.normal(size=s) * 0.5) for k, s in shapes.items()}
    x = torch.tensor(rng.normal(size=(batch, d_in)))

    def check(module):
        built = drive(module, DRIVER, "build", d_in, dim, n_blocks, n_classes)
        if "model" not in built:
            raise Failed(
                text(
                    f"Classifier(...) should be an nn.Module, got {built['type']}",
                    f"Classifier(...) 应为 nn.Module，实际为 {built['type']}",
                ),
                text("class Classifier(nn.Module): ...", "class Classifier(nn.Module): ..."),
            )
        got = built["shapes"]
        missing = [k for k in shapes if k not in got]
        extra = [k for k in got if k not in shapes]
        if missing:
            listed = ", ".join(missing[:4]) + (" …" if len(missing) > 4 else "")
            lost_blocks = any(k.startswith("blocks.") for k in missing) and not any(
                k.startswith("blocks.") for k in got
            )
            raise Failed(
                text(
                    f"parameters not found in state_dict(): {listed}",
                    f"state_dict() 中找不到参数：{listed}",
                ),
                text(
                    "A Python list hides its modules from PyTorch: wrap the blocks in "
                    "nn.ModuleList.",
                    "普通 Python 列表会把模块藏起来：请用 nn.ModuleList 包装这些块。",
                )
                if lost_blocks
                else text(
                    "Name the submodules as the docstring says (embed, blocks, head; norm, fc1, "
                    "fc2 in each block).",
                    "按文档字符串给子模块命名（embed、blocks、head；每个块里是 norm、fc1、fc2）。",
                ),
            )
        if extra:
            raise Failed(
                text(
                    f"unexpected parameters: {', '.join(extra[:4])}",
                    f"多出的参数：{', '.join(extra[:4])}",
                )
            )
        for k, s in shapes.items():
            if got[k] != s:
                raise Failed(
                    text(
                        f"{k}: expected shape {s}, got {got[k]}",
                        f"{k}：形状应为 {s}，实际为 {got[k]}",
                    )
                )
        ran = drive(module, DRIVER, "forward", built["model"], state, x.clone())
        out = ran["out"]
        ref = _forward(state, x, n_blocks)
        assert_close(
            "model(x)",
            out,
            ref.detach().numpy(),
            mistakes=[
                (
                    _forward(state, x, n_blocks, pre_norm=False).numpy(),
                    text(
                        "The block is pre-norm: x + fc2(relu(fc1(norm(x)))); the norm comes first.",
                        "这个块是 pre-norm：x + fc2(relu(fc1(norm(x))))；先做归一化。",
                    ),
                ),
                (
                    _forward(state, x, n_blocks, residual=False).numpy(),
                    text(
                        "Add the block's input back (the residual connection): return x + ...",
                        "把块的输入加回去（残差连接）：return x + ...",
                    ),
                ),
            ],
        )
        dead = ran["dead"]
        if dead:
            raise Failed(
                text(
                    f"no gradient reached {', '.join(dead[:4])}: is it used in forward, without "
                    ".detach() or NumPy?",
                    f"梯度没有传到 {', '.join(dead[:4])}：forward 里用到它了吗？有没有 .detach() "
                    "或转成 NumPy？",
                )
            )

    return Case(
        f"Classifier(in_features={d_in}, dim={dim}, n_blocks={n_blocks}, "
        f"n_classes={n_classes}), x {(batch, d_in)}",
        check,
    )
