"""torchvision's FCOS, trained from scratch: the reference our YOLO-style detector is held to.

Paper: Tian, Shen, Chen, He, "FCOS: Fully Convolutional One-Stage Object Detection", ICCV 2019
(arXiv:1904.01355). Its head (classification, box regression and centre-ness, GroupNorm),
its centre-sampling assignment with per-level size ranges, its losses (sigmoid focal, GIoU,
centre-ness BCE) and its post-processing all run as torchvision implements them
(`torchvision.models.detection.FCOS`); nothing of that is ours.

What is ours is the frame around it, so both detectors are compared at equal cost on a CPU:

- the backbone + PAN neck is `detector.Backbone` (the same features as `yolo-n`), each level
  projected to one width by a 1x1 conv as FCOS's shared head needs; the usual ResNet-50-FPN
  would be ~80x the compute on 128 px images;
- images arrive already normalised and sized, so torchvision's resize transform is skipped;
- the detector interface of `detector.py`: `forward` returns one tensor (B, A, C + 5) =
  class logits, 4 box deltas, centre-ness; `loss` and `detect` split it back.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import torch
from torch import nn

from dllab.models.checks import build
from dllab.models.detector import Backbone
from dllab.models.registry import register_model

__all__ = ["FCOSReference"]


class _Features(nn.Module):
    """`Backbone` levels projected to `out_channels` each, as torchvision's FCOS expects."""

    def __init__(self, in_channels: int, width: int, out_channels: int) -> None:
        super().__init__()
        self.body = Backbone(in_channels, width)
        self.proj = nn.ModuleList(nn.Conv2d(c, out_channels, 1) for c in self.body.channels)
        self.out_channels = out_channels

    def forward(self, x: torch.Tensor) -> OrderedDict[str, torch.Tensor]:
        feats = self.body(x)
        return OrderedDict(
            (str(i), p(f)) for i, (p, f) in enumerate(zip(self.proj, feats, strict=True))
        )


class FCOSReference(nn.Module):
    """torchvision FCOS on `Backbone` features: images (B, 3, H, W) -> raw (B, A, C + 5)."""

    strides = (8, 16, 32)

    def __init__(
        self,
        *,
        num_classes: int = 20,
        in_channels: int = 3,
        image_size: int = 128,
        width: int = 16,  # the backbone's, as in yolo-n
        head_channels: int = 64,  # FCOS's shared head width (GroupNorm of 32 groups needs >= 32)
        head_convs: int = 2,  # torchvision's default is 4; 2 keeps the cost near yolo-n's head
    ) -> None:
        super().__init__()
        from torchvision.models.detection import FCOS
        from torchvision.models.detection.anchor_utils import AnchorGenerator
        from torchvision.models.detection.fcos import FCOSHead

        self.num_classes, self.image_size = num_classes, image_size
        anchors = AnchorGenerator(tuple((s,) for s in self.strides), ((1.0,),) * 3)
        self.fcos = FCOS(
            _Features(in_channels, width, head_channels),
            num_classes,
            min_size=image_size,
            max_size=image_size,
            anchor_generator=anchors,
            head=FCOSHead(head_channels, 1, num_classes, num_convs=head_convs),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = list(self.fcos.backbone(x).values())
        out = self.fcos.head(feats)  # cls_logits (B, A, C), bbox_regression (B, A, 4), ctrness
        return torch.cat([out["cls_logits"], out["bbox_regression"], out["bbox_ctrness"]], -1)

    def _parts(self, raw: torch.Tensor, image_hw: tuple[int, int]):
        from torchvision.models.detection.image_list import ImageList

        c = self.num_classes
        head = {
            "cls_logits": raw[..., :c],
            "bbox_regression": raw[..., c : c + 4],
            "bbox_ctrness": raw[..., c + 4 :],
        }
        sizes = [(-(-image_hw[0] // s), -(-image_hw[1] // s)) for s in self.strides]
        # The anchor generator reads only shapes, dtypes and devices of its inputs.
        fake = [raw.new_empty(1, 1, h, w) for h, w in sizes]
        images = ImageList(raw.new_empty(raw.shape[0], 1, *image_hw), [image_hw] * raw.shape[0])
        anchors = self.fcos.anchor_generator(images, fake)
        return head, anchors, [h * w for h, w in sizes]

    def loss(
        self, raw: torch.Tensor, targets: list[dict[str, torch.Tensor]], image_hw: tuple[int, int]
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """torchvision's FCOS losses: focal classification, GIoU boxes, centre-ness BCE."""
        head, anchors, per_level = self._parts(raw.float(), image_hw)
        parts = self.fcos.compute_loss(targets, head, anchors, per_level)
        logs = {f"loss_{k}": float(v.detach()) for k, v in parts.items()}
        return sum(parts.values()), logs  # type: ignore[return-value]

    @torch.no_grad()
    def detect(
        self,
        raw: torch.Tensor,
        image_hw: tuple[int, int],
        *,
        conf: float = 0.001,
        iou: float = 0.6,
        max_det: int = 100,
    ) -> list[dict[str, torch.Tensor]]:
        """torchvision's FCOS post-processing (score * centre-ness, per-class NMS)."""
        head, anchors, per_level = self._parts(raw.float(), image_hw)
        self.fcos.score_thresh, self.fcos.nms_thresh = conf, iou
        self.fcos.detections_per_img = max_det
        split = {k: list(v.split(per_level, dim=1)) for k, v in head.items()}
        split_anchors = [list(a.split(per_level)) for a in anchors]
        return self.fcos.postprocess_detections(split, split_anchors, [image_hw] * raw.shape[0])


@register_model("fcos-ref")
def fcos_ref(**kw: Any) -> FCOSReference:
    """torchvision FCOS (from scratch) on yolo-n's backbone: the detection reference."""
    return build(FCOSReference, "fcos-ref", kw)
