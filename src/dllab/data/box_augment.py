"""Geometric augmentation of detection images together with their boxes (torchvision v2).

A detector trained for many epochs on a fixed set of scenes starts to learn the scenes: every
object always at the same place and size. YOLO's recipes fight that with scale and translation
jitter (Ultralytics: `scale=0.5`, `translate=0.1`, plus mosaic); here the same idea through
torchvision's v2 transforms, which move `tv_tensors.BoundingBoxes` with the pixels. Boxes
pushed partly out of the image are clipped, those left smaller than `min_size` pixels are
dropped with their labels. Horizontal flips are not used: a mirrored digit is another glyph.
The randomness is torch's global generator, which checkpoints save, so a resumed run draws
the same jitter.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

__all__ = ["scale_translate"]

Target = dict[str, torch.Tensor]


def scale_translate(
    scale: tuple[float, float] = (0.6, 1.4),
    translate: float = 0.1,
    min_size: float = 2.0,
    fill: float = 0.45,
) -> Callable[[torch.Tensor, Target], tuple[torch.Tensor, Target]]:
    """f(image (3, H, W) float in [0, 1], {"boxes": (N, 4) xyxy px, "labels": (N,)}) -> the
    same, zoomed by a factor in `scale` and shifted by up to `translate` of each side, the
    uncovered border filled with grey `fill` (Ultralytics' 114/255)."""
    from torchvision import tv_tensors
    from torchvision.transforms import v2

    move = v2.Compose(
        [
            v2.RandomAffine(degrees=0.0, translate=(translate, translate), scale=scale, fill=fill),
            v2.ClampBoundingBoxes(),
            v2.SanitizeBoundingBoxes(min_size=min_size),
        ]
    )

    def apply(image: torch.Tensor, target: Target) -> tuple[torch.Tensor, Target]:
        boxes = tv_tensors.BoundingBoxes(
            target["boxes"], format="XYXY", canvas_size=tuple(image.shape[-2:])
        )
        out, moved = move(tv_tensors.Image(image), {"boxes": boxes, "labels": target["labels"]})
        return out.as_subclass(torch.Tensor), {
            "boxes": moved["boxes"].as_subclass(torch.Tensor),
            "labels": moved["labels"],
        }

    return apply
