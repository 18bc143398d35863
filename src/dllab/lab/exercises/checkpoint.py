"""Grader for checkpoint: save, load into fresh objects, continue; must equal not stopping."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import torch
from torch import nn

from dllab.lab.checks import Case, Failed, as_int, assert_close, call, text


def _flat(model) -> np.ndarray:
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()]).numpy()


def make_case(index: int, rng: np.random.Generator) -> Case:
    d, h, o = (int(v) for v in rng.integers([1, 2, 1], [6, 12, 4]))
    before, after = int(rng.integers(1, 5)), int(rng.integers(1, 5))
    epoch, lr, seed = (
        int(rng.integers(1, 100)),
        float(rng.uniform(1e-3, 5e-2)),
        int(rng.integers(2**31)),
    )
    use_adam = index % 2 == 0
    batches = [
        (torch.tensor(rng.normal(size=(4, d))), torch.tensor(rng.normal(size=(4, o))))
        for _ in range(before + after)
    ]

    def build(init_seed):
        torch.manual_seed(init_seed)
        model = nn.Sequential(nn.Linear(d, h), nn.Tanh(), nn.Linear(h, o)).double()
        opt = (
            torch.optim.Adam(model.parameters(), lr=lr)
            if use_adam
            else torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
        )
        return model, opt

    def train(model, opt, chunk):
        for x, y in chunk:
            opt.zero_grad()
            nn.functional.mse_loss(model(x), y).backward()
            opt.step()

    def check(module):
        model, opt = build(seed)
        train(model, opt, batches[:before])
        saved = _flat(model).copy()
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "checkpoint.pt"
            call(module, "save_checkpoint", path, model, opt, epoch)
            if not path.exists():
                raise Failed(
                    text(
                        f"save_checkpoint wrote nothing at {path.name}",
                        f"save_checkpoint 没有在 {path.name} 写入任何文件",
                    ),
                    text("torch.save(state, path)", "torch.save(state, path)"),
                )
            train(model, opt, batches[before:])  # the run that never stopped
            fresh, fresh_opt = build(seed + 1)  # different weights, empty optimiser state
            got = as_int(
                "load_checkpoint(...)", call(module, "load_checkpoint", path, fresh, fresh_opt)
            )
        if got != epoch:
            raise Failed(
                text(
                    f"load_checkpoint returned epoch {got}, expected {epoch}",
                    f"load_checkpoint 返回的 epoch 为 {got}，应为 {epoch}",
                )
            )
        assert_close(
            "weights after load_checkpoint",
            _flat(fresh),
            saved,
            rtol=0,
            atol=1e-12,
            hint=text(
                "Restore the weights into the model you are given: "
                "model.load_state_dict(state['model']).",
                "把权重恢复到传入的模型里：model.load_state_dict(state['model'])。",
            ),
        )
        if not fresh_opt.state_dict()["state"]:
            name = "Adam's moment estimates" if use_adam else "SGD's momentum buffers"
            name_zh = "Adam 的动量估计" if use_adam else "SGD 的动量缓冲"
            raise Failed(
                text(
                    f"the optimiser state ({name}) was not restored",
                    f"优化器状态（{name_zh}）没有恢复",
                ),
                text(
                    "Save optimizer.state_dict() and restore it with "
                    "optimizer.load_state_dict(...).",
                    "保存 optimizer.state_dict()，并用 optimizer.load_state_dict(...) 恢复。",
                ),
            )
        train(fresh, fresh_opt, batches[before:])
        assert_close(
            f"weights {after} steps after resuming",
            _flat(fresh),
            _flat(model),
            rtol=1e-10,
            atol=1e-12,
            hint=text(
                "Resuming must continue exactly: restore the optimiser's state and its "
                "hyper-parameters (learning rate) too.",
                "恢复后必须完全一致地继续：优化器的状态和超参数（学习率）也要恢复。",
            ),
        )

    optimiser = "Adam" if use_adam else "SGD with momentum"
    return Case(
        f"MLP {d}-{h}-{o}, {optimiser}, {before} steps, save at epoch {epoch}, {after} more steps",
        check,
    )
