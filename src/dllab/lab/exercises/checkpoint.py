"""Grader for checkpoint: save, load into fresh objects, continue; must equal not stopping."""

from __future__ import annotations

import numpy as np
import torch

from dllab.lab.checks import Case, Failed, as_int, assert_close, drive, driver_source, text
from dllab.lab.drivers.checkpoint import build, flat, train

DRIVER = driver_source("checkpoint")


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

    shape = (d, h, o)

    def check(module):
        # the run that never stopped, here; the learner's save / load / resume, in the child
        model, opt = build(seed, *shape, lr, use_adam)
        train(model, opt, batches[:before])
        saved = flat(model).numpy().copy()
        train(model, opt, batches[before:])
        args = (seed, shape, lr, use_adam, batches, before, epoch)
        got = drive(module, DRIVER, "resume", *args)
        if not got["saved"]:
            raise Failed(
                text(
                    f"save_checkpoint wrote nothing at {got['name']}",
                    f"save_checkpoint 没有在 {got['name']} 写入任何文件",
                ),
                text("torch.save(state, path)", "torch.save(state, path)"),
            )
        epoch_got = as_int("load_checkpoint(...)", got["epoch"])
        if epoch_got != epoch:
            raise Failed(
                text(
                    f"load_checkpoint returned epoch {epoch_got}, expected {epoch}",
                    f"load_checkpoint 返回的 epoch 为 {epoch_got}，应为 {epoch}",
                )
            )
        assert_close(
            "weights after load_checkpoint",
            got["loaded"],
            saved,
            rtol=0,
            atol=1e-12,
            hint=text(
                "Restore the weights into the model you are given: "
                "model.load_state_dict(state['model']).",
                "把权重恢复到传入的模型里：model.load_state_dict(state['model'])。",
            ),
        )
        if not got["optimiser_state"]:
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
        assert_close(
            f"weights {after} steps after resuming",
            got["resumed"],
            flat(model).numpy(),
            rtol=1e-10,
            atol=1e-12,
            hint=text(
                "Resuming must continue exactly: restore the optimiser's state and its "
                "hyper-parameters (learning rate) too.",
                "恢复后必须完全一致地继续：优化器的状态和超参数（学习率）也要恢复。",
            ),
        )

    optimiser = text("Adam", "Adam") if use_adam else text("SGD with momentum", "带动量的 SGD")
    return Case(
        text(
            f"MLP {d}-{h}-{o}, {optimiser['en']}, {before} steps, save at epoch {epoch}, "
            f"{after} more steps",
            f"MLP {d}-{h}-{o}，{optimiser['zh']}，训练 {before} 步，在第 {epoch} 轮保存，"
            f"再训练 {after} 步",
        ),
        check,
    )
