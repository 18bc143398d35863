"""Grader for window_dataset: a sliding-window Dataset and a reproducible DataLoader."""

from __future__ import annotations

import numpy as np

from dllab.lab.checks import (
    Case,
    Failed,
    as_int,
    assert_close,
    assert_equal,
    drive,
    driver_source,
    text,
)

DRIVER = driver_source("window_dataset")


def _item(i: int, item: dict):
    """The (window, target) of dataset[i] from the driver's report, checked for type."""
    if not item["pair"]:
        raise Failed(
            text(
                f"dataset[{i}] should be a pair (window, target)",
                f"dataset[{i}] 应为 (window, target) 二元组",
            )
        )
    for what, got in zip(("window", "target"), item["kinds"], strict=True):
        if got != "float32":
            raise Failed(
                text(
                    f"dataset[{i}]: the {what} should be a float32 tensor, got {got}",
                    f"dataset[{i}]：{what} 应为 float32 张量，实际为 {got}",
                ),
                text(
                    "torch.as_tensor(values, dtype=torch.float32)",
                    "torch.as_tensor(values, dtype=torch.float32)",
                ),
            )
    return item["values"]


def _order(batches, series, window, n, batch_size) -> list[int]:
    """Index of every item the loader yielded, after checking the batches' shapes."""
    first = {float(np.float32(v)): i for i, v in enumerate(series[:n])}
    order = []
    for xb, yb in batches:
        b = xb.shape[0]
        if tuple(xb.shape) != (b, window) or tuple(yb.shape) != (b,) or b > batch_size:
            raise Failed(
                text(
                    f"a batch has shapes {tuple(xb.shape)} and {tuple(yb.shape)}, expected "
                    f"(B, {window}) and (B,) with B <= {batch_size}",
                    f"一个 batch 的形状是 {tuple(xb.shape)} 和 {tuple(yb.shape)}，"
                    f"应为 (B, {window}) 和 (B,)，且 B <= {batch_size}",
                )
            )
        order += [first.get(float(v), -1) for v in xb[:, 0]]
    return order


def make_case(index: int, rng: np.random.Generator) -> Case:
    window = int(rng.integers(1, 7))
    length = window + int(rng.integers(12, 40))
    series = rng.normal(size=length).cumsum()  # distinct values: an item is known by its first
    batch_size, seed = int(rng.integers(2, 9)), int(rng.integers(0, 2**16))
    n = length - window

    def check(module):
        indices = sorted({0, 1, n // 2, n - 1})
        seeds = [seed, seed, seed + 1]
        seen = drive(module, DRIVER, "inspect", series.copy(), window, indices)
        size = as_int("len(dataset)", seen["len"])
        assert_equal(
            "len(dataset)",
            size,
            n,
            text(
                f"A series of {length} values has {length} - window = {n} windows followed by a "
                "target.",
                f"长度为 {length} 的序列有 {length} - window = {n} 个后面跟着目标值的窗口。",
            ),
        )
        for i in indices:
            x, y = _item(i, seen["items"][i])
            assert_close(f"dataset[{i}][0]", x, series[i : i + window], rtol=1e-6, atol=1e-5)
            assert_close(f"dataset[{i}][1]", y, series[i + window], rtol=1e-6, atol=1e-5)
        plain, *shuffled = drive(module, DRIVER, "loaders", seen["dataset"], batch_size, seeds)
        assert_equal(
            "items in order (shuffle=False)",
            _order(plain, series, window, n, batch_size),
            list(range(n)),
        )
        orders = [_order(b, series, window, n, batch_size) for b in shuffled]
        if sorted(orders[0]) != list(range(n)):
            raise Failed(
                text(
                    "with shuffle=True an epoch must yield every item exactly once",
                    "shuffle=True 时每个 epoch 必须恰好产出每一项一次",
                )
            )
        if orders[0] == list(range(n)):
            raise Failed(
                text("shuffle=True did not shuffle", "shuffle=True 没有打乱顺序"),
                text("DataLoader(..., shuffle=shuffle)", "DataLoader(..., shuffle=shuffle)"),
            )
        if orders[0] != orders[1] or orders[0] == orders[2]:
            raise Failed(
                text(
                    "the shuffled order should be fixed by `seed`, and change with it",
                    "打乱后的顺序应由 `seed` 决定，并随 seed 改变",
                ),
                text(
                    "DataLoader(..., generator=torch.Generator().manual_seed(seed))",
                    "DataLoader(..., generator=torch.Generator().manual_seed(seed))",
                ),
            )

    return Case(f"series ({length},), window {window}, batch_size {batch_size}, seed {seed}", check)
