"""A small anchor-free YOLO-style detector, written to be read.

Design after YOLOv8/YOLO11 (Jocher et al., Ultralytics 2023/2024; no paper — the head follows
"YOLOX: Exceeding YOLO Series in 2021", Ge et al., arXiv:2107.08430, for the decoupled head):

- backbone: strided 3x3 conv + C2f blocks (CSP bottlenecks that keep every stage's output)
  giving feature maps at strides 8, 16 and 32, then an SPPF block;
- neck: a PAN (top-down then bottom-up) fusing the three levels;
- head: per level, *decoupled* box and class branches (two 3x3 convs each). The box branch
  predicts, for each side (left, top, right, bottom), a distribution over `reg_max` distances
  in stride units (Distribution Focal Loss, Li et al., "Generalized Focal Loss",
  arXiv:2006.04388); the box is its expectation. There are no anchors: every grid cell centre
  predicts one box.
- assignment: task-aligned (TOOD, Feng et al., arXiv:2108.07755): a ground-truth box picks the
  `topk` cell centres inside it with the best `score^alpha * IoU^beta` of their own current
  prediction; a cell claimed by several boxes keeps the one it overlaps most. Class targets
  are soft (the normalised alignment), so a cell's score learns to rank box quality.
- loss: BCE on classes, CIoU on boxes (`torchvision.ops.complete_box_iou_loss`) and DFL,
  weighted 0.5 / 7.5 / 1.5 as YOLOv8 does.

Every detector in dllab follows one interface, so the detection task calls ours and the
torchvision reference (`detection_reference.py`) the same way:

- `forward(images (B, 3, H, W)) -> raw (B, A, D)`: one tensor, so it exports to ONNX;
- `loss(raw, targets, image_hw) -> (loss, logs)`: targets are dicts of `boxes` (N, 4) xyxy
  pixels and `labels` (N,);
- `detect(raw, image_hw, conf=, iou=, max_det=) -> [{"boxes", "scores", "labels"}, ...]`,
  after non-maximum suppression (`torchvision.ops.batched_nms`).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from dllab.models.checks import build
from dllab.models.registry import register_model

__all__ = ["C2f", "ConvBNAct", "YoloDetector", "decode_boxes", "grid_points", "task_aligned_assign"]


# ---------------------------------------------------------------- blocks
class ConvBNAct(nn.Module):
    """Conv2d (no bias) -> BatchNorm -> SiLU: YOLO's unit of computation."""

    def __init__(self, c_in: int, c_out: int, k: int = 3, s: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, k, s, k // 2, bias=False)
        self.bn = nn.BatchNorm2d(c_out, eps=1e-3)  # momentum 0.1: short CPU runs
        self.act = nn.SiLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))


class Bottleneck(nn.Module):
    """Two 3x3 convs with an optional residual."""

    def __init__(self, c: int, shortcut: bool = True) -> None:
        super().__init__()
        self.cv1, self.cv2 = ConvBNAct(c, c, 3), ConvBNAct(c, c, 3)
        self.add = shortcut

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.cv2(self.cv1(x))
        return x + y if self.add else y


class C2f(nn.Module):
    """CSP block with 2 convs and `n` bottlenecks whose every output is concatenated
    (YOLOv8's C2f): gradient paths of many lengths for the cost of one 1x1 conv."""

    def __init__(self, c_in: int, c_out: int, n: int = 1, shortcut: bool = True) -> None:
        super().__init__()
        self.c = c_out // 2
        self.cv1 = ConvBNAct(c_in, 2 * self.c, 1)
        self.cv2 = ConvBNAct((2 + n) * self.c, c_out, 1)
        self.m = nn.ModuleList(Bottleneck(self.c, shortcut) for _ in range(n))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = list(self.cv1(x).chunk(2, 1))  # 2 x (B, c, H, W)
        for m in self.m:
            y.append(m(y[-1]))
        return self.cv2(torch.cat(y, 1))  # (B, c_out, H, W)


class SPPF(nn.Module):
    """Spatial pyramid pooling, fast: three chained 5x5 max-pools widen the receptive field."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        c = c_in // 2
        self.cv1, self.cv2 = ConvBNAct(c_in, c, 1), ConvBNAct(4 * c, c_out, 1)
        self.pool = nn.MaxPool2d(5, 1, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = [self.cv1(x)]
        for _ in range(3):
            y.append(self.pool(y[-1]))
        return self.cv2(torch.cat(y, 1))


class Backbone(nn.Module):
    """CSP backbone + PAN neck: (B, C, H, W) -> feature maps at strides 8, 16 and 32 with
    `channels` = (2w, 4w, 4w) channels (shape comments for a 128 px input, w = width)."""

    def __init__(self, in_channels: int = 3, width: int = 16, depth: int = 1) -> None:
        super().__init__()
        w, n = width, depth
        self.stem = ConvBNAct(in_channels, w, 3, 2)  # (B, w, 64, 64)
        self.stage1 = nn.Sequential(ConvBNAct(w, 2 * w, 3, 2), C2f(2 * w, 2 * w, n))  # /4: 32
        self.stage2 = nn.Sequential(ConvBNAct(2 * w, 4 * w, 3, 2), C2f(4 * w, 4 * w, 2 * n))  # 16
        self.stage3 = nn.Sequential(ConvBNAct(4 * w, 8 * w, 3, 2), C2f(8 * w, 8 * w, 2 * n))  # 8
        self.stage4 = nn.Sequential(
            ConvBNAct(8 * w, 8 * w, 3, 2), C2f(8 * w, 8 * w, n), SPPF(8 * w, 8 * w)
        )  # (B, 8w, 4, 4)
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.td4 = C2f(16 * w, 4 * w, n, shortcut=False)  # P5 up + P4 -> (B, 4w, 8, 8)
        self.td3 = C2f(8 * w, 2 * w, n, shortcut=False)  # up + P3 -> (B, 2w, 16, 16)
        self.down3 = ConvBNAct(2 * w, 2 * w, 3, 2)
        self.bu4 = C2f(6 * w, 4 * w, n, shortcut=False)  # (B, 4w, 8, 8)
        self.down4 = ConvBNAct(4 * w, 4 * w, 3, 2)
        self.bu5 = C2f(12 * w, 4 * w, n, shortcut=False)  # (B, 4w, 4, 4)
        self.channels = (2 * w, 4 * w, 4 * w)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        p3 = self.stage2(self.stage1(self.stem(x)))
        p4 = self.stage3(p3)
        p5 = self.stage4(p4)
        t4 = self.td4(torch.cat([self.up(p5), p4], 1))
        n3 = self.td3(torch.cat([self.up(t4), p3], 1))
        n4 = self.bu4(torch.cat([self.down3(n3), t4], 1))
        n5 = self.bu5(torch.cat([self.down4(n4), p5], 1))
        return [n3, n4, n5]


class DecoupledHead(nn.Module):
    """One level's head: a box branch (4 * reg_max distance logits) beside a class branch."""

    def __init__(
        self, c_in: int, num_classes: int, reg_max: int, stride: int, image_size: int
    ) -> None:
        super().__init__()
        cb, cc = max(16, c_in // 4, 4 * reg_max), max(c_in, min(num_classes, 100))
        self.box = nn.Sequential(
            ConvBNAct(c_in, cb), ConvBNAct(cb, cb), nn.Conv2d(cb, 4 * reg_max, 1)
        )
        self.cls = nn.Sequential(
            ConvBNAct(c_in, cc), ConvBNAct(cc, cc), nn.Conv2d(cc, num_classes, 1)
        )
        # Start the class scores near "about 5 objects an image", as YOLOv8 does, so the first
        # steps are not spent pushing every cell down to background.
        prior = 5 / num_classes / (image_size / stride) ** 2
        nn.init.constant_(self.cls[-1].bias, math.log(prior))
        nn.init.constant_(self.box[-1].bias, 1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = x.shape[0]
        out = torch.cat([self.box(x), self.cls(x)], 1)  # (B, 4R + C, h, w)
        return out.view(b, out.shape[1], -1)  # (B, 4R + C, h*w)


# ---------------------------------------------------------------- geometry
def grid_points(
    image_hw: tuple[int, int], strides: tuple[int, ...], device: torch.device | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cell centres (A, 2) as (x, y) pixels and each one's stride (A,), level by level in
    row-major order: the order of the head's output."""
    points, stride_of = [], []
    for s in strides:
        h, w = -(-image_hw[0] // s), -(-image_hw[1] // s)  # ceil: the convs pad
        ys, xs = torch.meshgrid(
            torch.arange(h, device=device), torch.arange(w, device=device), indexing="ij"
        )
        points.append((torch.stack([xs, ys], -1).view(-1, 2).float() + 0.5) * s)
        stride_of.append(torch.full((h * w,), float(s), device=device))
    return torch.cat(points), torch.cat(stride_of)


def decode_boxes(
    dist_logits: torch.Tensor, points: torch.Tensor, strides: torch.Tensor
) -> torch.Tensor:
    """(B, A, 4, R) distance logits -> (B, A, 4) xyxy pixels: each side's distance is the
    expectation of its softmax over 0..R-1 (GFL eq. 5), times the cell's stride."""
    r = dist_logits.shape[-1]
    bins = torch.arange(r, device=dist_logits.device, dtype=dist_logits.dtype)
    ltrb = (dist_logits.softmax(-1) * bins).sum(-1) * strides[None, :, None]  # (B, A, 4)
    return torch.cat([points - ltrb[..., :2], points + ltrb[..., 2:]], -1)


def _pairwise_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """IoU of boxes broadcast against each other, `(..., 4)` xyxy -> `(...)`."""
    lt, rb = torch.maximum(a[..., :2], b[..., :2]), torch.minimum(a[..., 2:], b[..., 2:])
    inter = (rb - lt).clamp(min=0).prod(-1)
    area = lambda x: (x[..., 2:] - x[..., :2]).clamp(min=0).prod(-1)  # noqa: E731
    return inter / (area(a) + area(b) - inter + 1e-9)


@torch.no_grad()
def task_aligned_assign(
    scores: torch.Tensor,
    boxes: torch.Tensor,
    points: torch.Tensor,
    gt_labels: torch.Tensor,
    gt_boxes: torch.Tensor,
    gt_valid: torch.Tensor,
    *,
    topk: int = 10,
    alpha: float = 0.5,
    beta: float = 6.0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Task-aligned assignment (TOOD, section 3.2), as YOLOv8 uses it.

    scores (B, A, C) sigmoid probabilities, boxes (B, A, 4) predicted xyxy, points (A, 2)
    cell centres, gt_labels (B, M), gt_boxes (B, M, 4), gt_valid (B, M) bool (padding off).
    Returns target boxes (B, A, 4), soft target scores (B, A, C) and the foreground mask
    (B, A). A cell is a candidate for a box only if its centre lies inside it.
    """
    b, a, c = scores.shape
    m = gt_boxes.shape[1]
    if m == 0:
        return (
            boxes.new_zeros(b, a, 4),
            scores.new_zeros(b, a, c),
            scores.new_zeros(b, a, dtype=torch.bool),
        )
    inside = (
        torch.cat(
            [
                points[None, None] - gt_boxes[:, :, None, :2],
                gt_boxes[:, :, None, 2:] - points[None, None],
            ],
            -1,
        ).amin(-1)
        > 1e-9
    )  # (B, M, A)
    cand = inside & gt_valid[:, :, None]
    cls_score = scores.gather(2, gt_labels.clamp(min=0)[:, None, :].expand(b, a, m))  # (B, A, M)
    iou = _pairwise_iou(gt_boxes[:, :, None], boxes[:, None]).clamp(min=0) * cand  # (B, M, A)
    align = cls_score.transpose(1, 2).pow(alpha) * iou.pow(beta) * cand  # (B, M, A)
    top = align.topk(min(topk, a), dim=-1).indices  # (B, M, k)
    pos = torch.zeros_like(cand).scatter_(-1, top, True) & cand  # (B, M, A)
    # A cell chosen by several boxes keeps only the box it overlaps most.
    multi = pos.sum(1, keepdim=True) > 1  # (B, 1, A)
    best = F.one_hot(iou.argmax(1), m).transpose(1, 2).bool()  # (B, M, A)
    pos = torch.where(multi, best & cand, pos)
    fg = pos.any(1)  # (B, A)
    gt_index = pos.float().argmax(1)  # (B, A)
    target_boxes = gt_boxes.gather(1, gt_index[..., None].expand(-1, -1, 4))  # (B, A, 4)
    target_labels = gt_labels.gather(1, gt_index).clamp(min=0)  # (B, A)
    # Soft targets: each box's best cell gets that box's best IoU, the others in proportion.
    align, iou = align * pos, iou * pos
    norm = align / (align.amax(-1, keepdim=True) + 1e-9) * iou.amax(-1, keepdim=True)
    quality = norm.amax(1) * fg  # (B, A)
    target_scores = F.one_hot(target_labels, c).to(scores.dtype) * quality[..., None]
    return target_boxes, target_scores, fg


def pad_targets(
    targets: list[dict[str, torch.Tensor]], device: torch.device
) -> tuple[torch.Tensor, ...]:
    """A batch's ragged targets as padded (B, M, 4) boxes, (B, M) labels (-1 pad), (B, M) mask."""
    m = max((len(t["labels"]) for t in targets), default=0)
    boxes = torch.zeros(len(targets), m, 4, device=device)
    labels = torch.full((len(targets), m), -1, dtype=torch.long, device=device)
    for i, t in enumerate(targets):
        n = len(t["labels"])
        boxes[i, :n], labels[i, :n] = t["boxes"].float(), t["labels"]
    return boxes, labels, labels >= 0


# ---------------------------------------------------------------- model
class YoloDetector(nn.Module):
    """Anchor-free detector: images (B, C, H, W) -> raw (B, A, 4 * reg_max + num_classes).

    A = the cells of the three levels (for 128 px: 16*16 + 8*8 + 4*4 = 336).
    """

    strides = (8, 16, 32)

    def __init__(
        self,
        *,
        num_classes: int = 20,
        in_channels: int = 3,
        image_size: int = 128,  # the training side; any multiple of 32 works at inference
        width: int = 16,  # channels of the first conv; later stages use 2x, 4x, 8x
        depth: int = 1,  # bottlenecks per C2f block (twice that in the middle stages)
        reg_max: int = 16,  # distance bins per side: boxes up to reg_max * stride from the centre
        topk: int = 10,  # candidate cells per object in the assignment
    ) -> None:
        super().__init__()
        self.num_classes, self.reg_max, self.topk = num_classes, reg_max, topk
        self.image_size = image_size
        self.backbone = Backbone(in_channels, width, depth)
        self.heads = nn.ModuleList(
            DecoupledHead(c, num_classes, reg_max, s, image_size)
            for c, s in zip(self.backbone.channels, self.strides, strict=True)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = self.backbone(x)
        raw = torch.cat([h(f) for h, f in zip(self.heads, feats, strict=True)], 2)  # (B, D, A)
        return raw.transpose(1, 2)  # (B, A, 4R + C)

    # ------------------------------------------------------------ shared interface
    def split(self, raw: torch.Tensor, image_hw: tuple[int, int]) -> tuple[torch.Tensor, ...]:
        """raw -> distance logits (B, A, 4, R), class logits (B, A, C), decoded boxes (B, A, 4)
        pixels, cell centres (A, 2) and strides (A,)."""
        b, a, _ = raw.shape
        dist = raw[..., : 4 * self.reg_max].reshape(b, a, 4, self.reg_max)
        logits = raw[..., 4 * self.reg_max :]
        points, strides = grid_points(image_hw, self.strides, raw.device)
        return dist, logits, decode_boxes(dist.float(), points, strides), points, strides

    def loss(
        self, raw: torch.Tensor, targets: list[dict[str, torch.Tensor]], image_hw: tuple[int, int]
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """BCE + CIoU + DFL over the task-aligned assignment; logs each part."""
        from torchvision.ops import complete_box_iou_loss

        raw = raw.float()
        dist, logits, boxes, points, strides = self.split(raw, image_hw)
        gt_boxes, gt_labels, gt_valid = pad_targets(targets, raw.device)
        t_boxes, t_scores, fg = task_aligned_assign(
            logits.detach().sigmoid(),
            boxes.detach(),
            points,
            gt_labels,
            gt_boxes,
            gt_valid,
            topk=self.topk,
        )
        total = t_scores.sum().clamp(min=1.0)
        cls = F.binary_cross_entropy_with_logits(logits, t_scores, reduction="sum") / total
        if fg.any():
            weight = t_scores.sum(-1)[fg]  # (P,) the assignment's quality of each positive
            box = (
                complete_box_iou_loss(boxes[fg], t_boxes[fg], reduction="none") * weight
            ).sum() / total
            pts = points[None].expand_as(boxes[..., :2])[fg]  # (P, 2)
            ltrb = torch.cat([pts - t_boxes[fg][:, :2], t_boxes[fg][:, 2:] - pts], -1)
            ltrb = (ltrb / strides[None].expand(fg.shape)[fg][:, None]).clamp(
                0, self.reg_max - 1.01
            )
            dfl = (self._dfl(dist[fg], ltrb) * weight).sum() / total
        else:
            box = dfl = raw.sum() * 0.0
        loss = 7.5 * box + 0.5 * cls + 1.5 * dfl
        logs = {
            k: float(v.detach())
            for k, v in (("loss_box", box), ("loss_cls", cls), ("loss_dfl", dfl))
        }
        return loss, logs

    @staticmethod
    def _dfl(dist: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Distribution focal loss (GFL eq. 6): cross-entropy to the two bins around each
        continuous target distance, weighted by closeness. dist (P, 4, R), target (P, 4)."""
        left = target.long()
        w_left = left + 1 - target
        ce = lambda idx: F.cross_entropy(dist.transpose(1, 2), idx, reduction="none")  # noqa: E731
        return (ce(left) * w_left + ce(left + 1) * (1 - w_left)).mean(-1)  # (P,)

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
        """Boxes (pixels), scores and labels per image, after per-class NMS."""
        _, logits, boxes, _, _ = self.split(raw.float(), image_hw)
        return postprocess(boxes, logits.sigmoid(), conf=conf, iou=iou, max_det=max_det)


def postprocess(
    boxes: torch.Tensor,
    scores: torch.Tensor,
    *,
    conf: float = 0.001,
    iou: float = 0.6,
    max_det: int = 100,
    pre_nms: int = 1000,
) -> list[dict[str, torch.Tensor]]:
    """(B, A, 4) boxes and (B, A, C) class probabilities -> per-image detections.

    Every (cell, class) pair above `conf` is a candidate (so one cell may name two classes,
    which helps mAP where items look alike); the best `pre_nms` go through
    `torchvision.ops.batched_nms` (per class) and the best `max_det` survive.
    """
    from torchvision.ops import batched_nms

    out = []
    for b, s in zip(boxes, scores, strict=True):
        cell, cls = (s > conf).nonzero(as_tuple=True)
        sc = s[cell, cls]
        if len(sc) > pre_nms:
            sc, keep = sc.topk(pre_nms)
            cell, cls = cell[keep], cls[keep]
        bx = b[cell]
        keep = batched_nms(bx, sc, cls, iou)[:max_det]
        out.append({"boxes": bx[keep], "scores": sc[keep], "labels": cls[keep]})
    return out


def _create_detector(variant: str, kw: dict[str, Any], **fixed: Any) -> YoloDetector:
    return build(YoloDetector, variant, kw, **fixed)


@register_model("yolo-n")
def yolo_n(**kw: Any) -> YoloDetector:
    """Nano: width 16, ~0.4 M parameters; the CPU recipe's detector."""
    return _create_detector("yolo-n", kw, width=16)


@register_model("yolo-s")
def yolo_s(**kw: Any) -> YoloDetector:
    """Small: width 32, ~1.5 M parameters."""
    return _create_detector("yolo-s", kw, width=32)
