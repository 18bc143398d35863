"""Grader for augmentation: random flip + padded crop, judged by its properties.

Random draws cannot be compared with a reference, so each case checks what must hold: same
shape and dtype, input untouched, every output image IS its input flipped or not and shifted
by an offset within the padding, and the draws differ from image to image.
"""

from __future__ import annotations

import numpy as np

from dllab.lab.checks import Case, Failed, as_array, call, text


def _transforms(image: np.ndarray, pad: int):
    """Every (flipped, dy, dx) and the image it produces."""
    _, h, w = image.shape
    for flipped in (False, True):
        src = image[:, :, ::-1] if flipped else image
        padded = np.pad(src, ((0, 0), (pad, pad), (pad, pad)))
        for dy in range(2 * pad + 1):
            for dx in range(2 * pad + 1):
                yield (flipped, dy, dx), padded[:, dy : dy + h, dx : dx + w]


def make_case(index: int, rng: np.random.Generator) -> Case:
    n = int(rng.integers(24, 41))
    c, h, w = int(rng.integers(1, 4)), int(rng.integers(3, 9)), int(rng.integers(3, 9))
    pad = int(rng.integers(1, min(3, h - 1, w - 1) + 1))  # every crop keeps some image pixels
    images = rng.random((n, c, h, w)).astype(np.float32) + 0.5  # > 0: padding zeros stand out
    seed = int(rng.integers(2**31))

    def check(module):
        original = images.copy()
        got = call(module, "random_flip_crop", images, pad, np.random.default_rng(seed))
        if not np.array_equal(images, original):
            raise Failed(
                text("random_flip_crop modified its input", "random_flip_crop 修改了输入"),
                text(
                    "Work on a copy: the caller still needs the original images.",
                    "在副本上操作：调用者还需要原始图片。",
                ),
            )
        out = as_array("output", got)
        if out.shape != images.shape:
            raise Failed(
                text(
                    f"output: expected shape {images.shape}, got {out.shape}",
                    f"output：形状应为 {images.shape}，实际为 {out.shape}",
                ),
                text("Crop back to H x W after padding.", "填充之后要裁剪回 H x W。"),
            )
        if getattr(got, "dtype", None) != images.dtype:
            raise Failed(
                text(
                    f"output: expected dtype float32, got {getattr(got, 'dtype', None)}",
                    f"output：dtype 应为 float32，实际为 {getattr(got, 'dtype', None)}",
                )
            )
        used = []
        for i in range(n):
            found = [t for t, img in _transforms(images[i], pad) if np.array_equal(img, out[i])]
            if not found:
                raise Failed(
                    text(
                        f"output image {i} is not a flip and crop of input image {i}",
                        f"输出图片 {i} 不是输入图片 {i} 的翻转加裁剪",
                    ),
                    text(
                        "Flip left-right (last axis) or not, pad with zeros by `padding`, crop "
                        "H x W at an offset in 0..2 * padding. Keep each image at its index.",
                        "左右翻转（最后一维）或不翻转，用零填充 `padding`，在 0..2 * padding "
                        "的偏移处裁剪 "
                        "H x W。每张图片保持原来的下标。",
                    ),
                )
            used.append(found[0])
        flips = {t[0] for t in used}
        if len(set(used)) == 1:
            raise Failed(
                text(
                    f"all {n} images got the same transform {used[0]}",
                    f"{n} 张图片用了同一个变换 {used[0]}",
                ),
                text(
                    "Draw a flip and an offset for each image, not one for the batch.",
                    "为每张图片分别抽取翻转和偏移，而不是整个 batch 共用一个。",
                ),
            )
        if len(flips) == 1:
            raise Failed(
                text(
                    f"none of {n} images was {'not ' if flips.pop() else ''}flipped",
                    f"{n} 张图片的翻转情况全部相同",
                ),
                text("Flip each image with probability 0.5.", "每张图片以 0.5 的概率翻转。"),
            )
        if len({t[1:] for t in used}) == 1:
            raise Failed(
                text(
                    f"all {n} images were cropped at the same offset",
                    f"{n} 张图片的裁剪偏移全部相同",
                ),
                text(
                    "Draw the offsets uniformly in 0..2 * padding for each image.",
                    "为每张图片在 0..2 * padding 内均匀抽取偏移。",
                ),
            )

    return Case(f"images {(n, c, h, w)}, padding {pad}", check)
