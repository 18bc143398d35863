# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 03-08 · Object detection by hand: IoU, NMS, anchors and mAP
#
# A classifier answers "what is in the image?"; a **detector** answers "what is where?" with
# a list of boxes, each with a class and a score. Four pieces of arithmetic surround every
# detector, whatever its network:
#
# 1. **IoU** (intersection over union) — how much two boxes agree; everything else uses it;
# 2. **non-maximum suppression** (NMS) — a detector proposes many overlapping boxes per
#    object, NMS keeps the best of each cluster;
# 3. **assignment** — during training, which outputs must predict which object: by preset
#    **anchor** boxes (Faster R-CNN, RetinaNet, YOLOv2–v5) or **anchor-free**, by cell
#    centres (FCOS, YOLOX, YOLOv8 — and dllab's `yolo-n`);
# 4. **mAP** (mean average precision) — the number a detector is judged by.
#
# We write each by hand and prove it equal to the library everyone uses:
# `torchvision.ops` for IoU and NMS, `torchmetrics`' COCO evaluation for mAP.

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.patches import Rectangle
from torchmetrics.detection import MeanAveragePrecision
from torchvision.ops import batched_nms, box_iou, nms

from dllab.data.scenes import ObjectPool, SceneSpec, render_scene
from dllab.models import create_model
from dllab.models.detector import grid_points, pad_targets, task_aligned_assign
from dllab.viz import setup_lesson

# Figures go to the folder given on the command line, else to lesson-output/<name>.
lesson = setup_lesson("03-08-detection-by-hand")
torch.set_num_threads(1)  # small tensors: one thread is fastest on a busy machine

# %% [markdown]
# ## 1. IoU
#
# Boxes are `[x1, y1, x2, y2]` in pixels (corners; COCO files store `[x, y, w, h]`). The
# intersection of two boxes is the box between the larger top-left and the smaller
# bottom-right corner — empty when they do not overlap, hence the `clamp(min=0)`:
#
# $$\mathrm{IoU}(A, B) = \frac{|A \cap B|}{|A| + |B| - |A \cap B|} \in [0, 1].$$
#
# Broadcasting `(N, 1, 4)` against `(1, M, 4)` gives every pair at once, an `(N, M)` matrix.


# %%
def box_area(boxes):
    """(N, 4) xyxy -> (N,) areas."""
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])


def iou_by_hand(a, b):
    """(N, 4) and (M, 4) xyxy boxes -> (N, M) IoU of every pair."""
    top_left = torch.maximum(a[:, None, :2], b[None, :, :2])  # (N, M, 2)
    bottom_right = torch.minimum(a[:, None, 2:], b[None, :, 2:])  # (N, M, 2)
    inter = (bottom_right - top_left).clamp(min=0).prod(-1)  # (N, M): 0 when apart
    return inter / (box_area(a)[:, None] + box_area(b)[None, :] - inter)


box = torch.tensor([[0.0, 0, 10, 10]])
cases = {
    "itself": ([0, 0, 10, 10], 1.0),
    "shifted by half its width": ([5, 0, 15, 10], 50 / 150),  # 1/3, not 1/2
    "touching edge": ([10, 0, 20, 10], 0.0),
    "far away": ([50, 50, 60, 60], 0.0),
    "a quarter of it, inside": ([0, 0, 5, 5], 25 / 100),
}
others = torch.tensor([c[0] for c in cases.values()], dtype=torch.float)
ours = iou_by_hand(box, others)[0]
for (name, (_, expected)), value in zip(cases.items(), ours, strict=True):
    print(f"IoU with a box {name:26s}: {value:.3f}")
    assert abs(value - expected) < 1e-6
g = torch.Generator().manual_seed(0)
xy, wh = torch.rand(40, 2, generator=g) * 60, torch.rand(40, 2, generator=g) * 40 + 1
random_boxes = torch.cat([xy, xy + wh], 1)
assert torch.allclose(
    iou_by_hand(random_boxes, random_boxes[:25]), box_iou(random_boxes, random_boxes[:25])
)
print("IoU by hand == torchvision.ops.box_iou on 40 x 25 random pairs")

# %% [markdown]
# Shifting a box by half its width leaves IoU at **1/3**, not 1/2: the union grows as the
# intersection shrinks. That is why IoU 0.5, the usual "this detection is right" threshold, is
# stricter than it sounds.
#
# ## 2. Greedy non-maximum suppression
#
# A detector's raw output holds many boxes on each object. Greedy NMS:
#
# 1. sort the boxes by score, highest first;
# 2. keep the first box, delete every remaining box whose IoU with it is **above** the
#    threshold;
# 3. repeat with the next box still standing.
#
# Two details decide whether a hand-written NMS returns *exactly* what torchvision's does:
# a box whose IoU equals the threshold survives (torchvision suppresses on `IoU > threshold`),
# and among equal scores the box that comes first in the input goes first (a stable sort).


# %%
def nms_by_hand(boxes, scores, threshold):
    """Indices of the boxes greedy NMS keeps, highest score first."""
    order = torch.sort(scores, descending=True, stable=True).indices  # ties: input order
    iou = iou_by_hand(boxes, boxes)
    suppressed = torch.zeros(len(boxes), dtype=torch.bool)
    keep = []
    for i in order.tolist():
        if suppressed[i]:
            continue
        keep.append(i)
        suppressed |= iou[i] > threshold  # strictly above: IoU == threshold survives
    return torch.tensor(keep, dtype=torch.long)


# The boundary: these two boxes overlap with IoU exactly 0.5, so both survive at 0.5.
pair = torch.tensor([[0.0, 0, 10, 10], [0, 0, 10, 20]])
assert iou_by_hand(pair, pair)[0, 1] == 0.5
assert nms_by_hand(pair, torch.tensor([0.9, 0.8]), 0.5).tolist() == [0, 1]
assert nms(pair, torch.tensor([0.9, 0.8]), 0.5).tolist() == [0, 1]
# Ties: three near-identical boxes with the same score; the first one in the input is kept.
tied = torch.tensor([[1.0, 1, 11, 11], [0, 0, 10, 10], [0, 1, 10, 11]])
same = torch.tensor([0.7, 0.7, 0.7])
assert nms_by_hand(tied, same, 0.5).tolist() == nms(tied, same, 0.5).tolist() == [0]
# Many random boxes with scores on a coarse grid, so that ties are everywhere.
scores = torch.randint(0, 5, (40,), generator=g).float() / 4
for threshold in (0.3, 0.5, 0.7):
    assert torch.equal(
        nms_by_hand(random_boxes, scores, threshold), nms(random_boxes, scores, threshold)
    )
print("NMS by hand == torchvision.ops.nms, ties and the boundary included")

# %% [markdown]
# ### Per class: `batched_nms`
#
# A dog box must not delete an overlapping cat box: detectors run NMS **per class**.
# `batched_nms` does it without a Python loop by a trick: it shifts each class's boxes by
# `class x (largest coordinate + 1)`, so boxes of different classes can never overlap, and
# runs one NMS on them all. Our version loops over the classes and then orders what it kept by
# score (equal scores in input order), as one NMS over all of them would.


# %%
def batched_nms_by_hand(boxes, scores, classes, threshold):
    keep = []
    for c in classes.unique():
        members = torch.nonzero(classes == c).flatten()
        keep += members[nms_by_hand(boxes[members], scores[members], threshold)].tolist()
    return torch.tensor(sorted(keep, key=lambda i: (-scores[i].item(), i)), dtype=torch.long)


classes = torch.randint(0, 3, (40,), generator=g)
ours = batched_nms_by_hand(random_boxes, scores, classes, 0.5)
assert torch.equal(ours, batched_nms(random_boxes, scores, classes, 0.5))
blind = len(nms(random_boxes, scores, 0.5))
assert len(ours) > blind, "per class, more boxes survive"
print(f"per-class NMS keeps {len(ours)} of 40 boxes (class-blind: {blind}) == batched_nms")

# %% [markdown]
# ### NMS on a scene
#
# dllab's synthetic detection scenes (`dllab.data.scenes`, the `detection-scenes` recipe's
# data) paste objects on photographed textures, with exact boxes; the recipe uses
# Fashion-MNIST items and handwritten digits, we use scikit-learn's digits only. We imitate
# a detector's raw output on one scene: around each true box, eight jittered copies with
# random scores. NMS at 0.5 should leave one box per digit.

# %%
pool = ObjectPool.from_digits()
spec = SceneSpec()  # 128 x 128 scenes, 1 to 6 digits of 14 to 56 pixels
scene = render_scene(pool, spec, seed=0, index=2)
truth = torch.from_numpy(scene.boxes)  # (M, 4)
size = (truth[:, 2:] - truth[:, :2]).repeat(1, 2)  # (M, 4): each box's w, h, w, h
raw = (truth[:, None] + torch.randn(len(truth), 8, 4, generator=g) * 0.06 * size[:, None]).view(
    -1, 4
)
raw_scores = torch.rand(len(raw), generator=g) * 0.6 + 0.3
kept = nms_by_hand(raw, raw_scores, 0.5)
assert torch.equal(kept, nms(raw, raw_scores, 0.5))
best = box_iou(raw[kept], truth).argmax(1)  # which digit each surviving box is on
print(f"{len(truth)} digits, {len(raw)} raw boxes, {len(kept)} left after NMS")
assert len(kept) == len(truth) and sorted(best.tolist()) == list(range(len(truth)))

fig, axes = plt.subplots(1, 2, figsize=(10, 5.2))
for ax, shown, title in [
    (axes[0], raw, f"raw output: {len(raw)} boxes"),
    (axes[1], raw[kept], f"after greedy NMS at IoU 0.5: {len(kept)} boxes"),
]:
    ax.imshow(scene.image)
    for x1, y1, x2, y2 in shown.tolist():
        ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, color="yellow", lw=0.8))
    ax.set_title(title)
    ax.axis("off")
fig.suptitle("Non-maximum suppression: one box per digit survives")
lesson.save(fig, "nms.png")

# %% [markdown]
# ## 3. Anchors against anchor-free assignment
#
# To train a detector, each ground-truth object must be **assigned** to the outputs that will
# learn to predict it (the *positives*); all other outputs learn "background".
#
# **Anchor-based** heads (RetinaNet, Faster R-CNN, YOLOv2–v5) place at every cell of every
# level a few preset boxes, the anchors — here RetinaNet's recipe scaled to 128-pixel scenes:
# at strides 8, 16 and 32, anchors of side 2 x stride times $2^0, 2^{1/3}, 2^{2/3}$, in aspect
# ratios 1:2, 1:1 and 2:1, nine per cell, 3,024 in all. An anchor is a positive for an object
# when their IoU is at least 0.5 (RetinaNet; below 0.4 it is background, between the two it is
# ignored). An object that no anchor covers that well gets none — unless the rule adds "and
# each object's best anchor, whatever its IoU", which RetinaNet and YOLO both do.
#
# **Anchor-free** heads predict from each cell centre directly. dllab's `yolo-n` (read
# `task_aligned_assign` in `src/dllab/models/detector.py`) makes every cell whose **centre
# lies inside** an object a candidate, at any of the three levels, and takes the 10 candidates
# whose current prediction is best aligned with it (class score$^{0.5}$ x IoU$^6$, TOOD). No
# box shape is preset: there is nothing to tune to the dataset's sizes and aspect ratios.
#
# We count both on 20 scenes, with an untrained `yolo-n` giving the predictions that the
# assignment ranks — the assignment of the very first training step.


# %%
def anchor_boxes(image_size=128, strides=(8, 16, 32)):
    """RetinaNet-style anchors (A, 4) xyxy: 9 per cell, level by level."""
    out = []
    for s in strides:
        centres, _ = grid_points((image_size, image_size), (s,))  # (cells, 2) as (x, y)
        for scale in (1, 2 ** (1 / 3), 2 ** (2 / 3)):
            for ratio in (0.5, 1.0, 2.0):  # height / width
                side = 2 * s * scale
                half = torch.tensor([side / ratio**0.5, side * ratio**0.5]) / 2  # (w/2, h/2)
                out.append(torch.cat([centres - half, centres + half], 1))
    return torch.cat(out)


anchors = anchor_boxes()
scenes = [render_scene(pool, spec, seed=0, index=i) for i in range(20)]
targets = [
    {"boxes": torch.from_numpy(s.boxes), "labels": torch.from_numpy(s.labels)} for s in scenes
]
images = torch.stack([torch.from_numpy(s.image).permute(2, 0, 1) for s in scenes]).float() / 255

torch.manual_seed(0)
detector = create_model("yolo-n", num_classes=10).eval()
with torch.no_grad():
    _, logits, predicted, points, strides = detector.split(detector(images), (128, 128))
gt_boxes, gt_labels, gt_valid = pad_targets(targets, torch.device("cpu"))
target_boxes, _, foreground = task_aligned_assign(
    logits.sigmoid(), predicted, points, gt_labels, gt_boxes, gt_valid, topk=10
)

rows = []  # per object: longest side, anchors at IoU >= 0.5, best anchor IoU, anchor-free positives
for i, t in enumerate(targets):
    iou = box_iou(t["boxes"], anchors)  # (M, 3024)
    for j, b in enumerate(t["boxes"]):
        mine = foreground[i] & (target_boxes[i] == b).all(-1)  # cells assigned to this object
        side = (b[2:] - b[:2]).max().item()
        rows.append((side, (iou[j] >= 0.5).sum().item(), iou[j].max().item(), mine.sum().item()))
rows = np.array(rows)
side, n_anchor, best_iou, n_free = rows.T
print(f"{len(rows)} objects of {side.min():.0f} to {side.max():.0f} px")
print(f"anchors at IoU >= 0.5 per object: {n_anchor.min():.0f} to {n_anchor.max():.0f}, "
      f"none for {(n_anchor == 0).sum():.0f} objects (best IoU there: "
      f"{best_iou[n_anchor == 0].max():.2f} at most)")  # fmt: skip
print(f"anchor-free positives per object: {n_free.min():.0f} to {n_free.max():.0f}, "
      f"median {np.median(n_free):.0f}")  # fmt: skip
assert (n_anchor == 0).any() and (n_free >= 1).all()
assert np.median(n_free) == 10 and n_free.max() <= 12
large = side >= 30  # objects with room for 10 cell centres


def spread(counts):
    return np.subtract(*np.percentile(counts, [75, 25]))  # interquartile range


print(f"objects of 30 px or more: interquartile range {spread(n_anchor[large]):.1f} anchors, "
      f"{spread(n_free[large]):.1f} anchor-free positives")  # fmt: skip
assert spread(n_anchor[large]) > 2 * spread(n_free[large])

# %% [markdown]
# With anchors, the number of positives depends on luck: where the object falls relative to
# the anchor grid and how its shape compares with the three preset ratios. Digits of the same
# size get anywhere from 3 to 14, and one gets **no** anchor at IoU 0.5 — it is learnt
# only through the best-anchor fallback, from an anchor that overlaps it by less than half.
# The anchor-free assignment gives most objects the same 10 positives, because it ranks the
# cells inside an object by how well they predict *this* object, not by a preset shape. Those
# that get fewer are small or thin (a "1") and hold fewer than 10 cell centres, or overlap a
# neighbour: a cell wanted by two objects goes to the one it overlaps most.

# %%
fig = plt.figure(figsize=(13, 5))
ax = fig.add_subplot(1, 2, 1)
i = 2
ax.imshow(scenes[i].image)
iou = box_iou(targets[i]["boxes"], anchors)
for j, b in enumerate(targets[i]["boxes"].tolist()):
    ax.add_patch(Rectangle((b[0], b[1]), b[2] - b[0], b[3] - b[1], fill=False, color="w", lw=2))
    a = anchors[iou[j].argmax()].tolist()
    ax.add_patch(Rectangle((a[0], a[1]), a[2] - a[0], a[3] - a[1], fill=False, color="C1", ls="--"))
    mine = foreground[i] & (target_boxes[i] == torch.tensor(b)).all(-1)
    ax.plot(*points[mine].T, "o", color="C2", ms=4)
ax.set(
    xlim=(0, 128),
    ylim=(128, 0),
    title="white: truth · orange: best anchor · green: anchor-free positives",
)
ax.title.set_fontsize(9)
ax = fig.add_subplot(1, 2, 2)
ax.scatter(side, n_anchor, color="C1", label="anchors at IoU >= 0.5")
ax.scatter(
    side + 0.3, n_free, color="C2", marker="x", label="anchor-free positives (dllab, topk 10)"
)
ax.set(xlabel="object's longest side (px)", ylabel="positives per object",
       title=f"{len(rows)} objects in 20 scenes: anchors match erratically")  # fmt: skip
ax.legend(fontsize=8)
fig.suptitle("Who learns to predict each object: preset anchors vs cell centres inside the box")
lesson.save(fig, "anchors-vs-anchor-free.png")

# %% [markdown]
# ## 4. mAP@0.5 by hand
#
# A detector is judged per class, over a whole test set:
#
# 1. pool the class's detections from every image and **sort them by score**;
# 2. walk down the list: a detection is a **true positive** if it overlaps a ground-truth box
#    of its image with IoU ≥ 0.5 that no higher-scored detection has already taken (the
#    unmatched box it overlaps most), otherwise a **false positive** — so a *duplicate*
#    detection of an already-found object is a false positive;
# 3. after each detection, precision = TP / (TP + FP) and recall = TP / (number of
#    ground-truth boxes);
# 4. replace each precision by the best precision at any higher recall — the **envelope**,
#    so the curve never rises to the right;
# 5. **AP** = mean of the envelope read at the 101 recalls 0, 0.01, …, 1 (COCO; a recall never
#    reached reads 0);
# 6. **mAP** = mean of AP over classes.
#
# COCO matches the detections of each image in score order, which is the global order
# restricted to that image, so the pooled walk above gives the same matches.


# %%
def average_precision(detections, truths, iou_threshold=0.5):
    """AP of one class. detections: (image, box, score) tuples; truths: {image: (G, 4) boxes}.
    Returns AP, and the recall and precision after each detection, and its envelope."""
    detections = sorted(detections, key=lambda d: -d[2])
    taken = {image: torch.zeros(len(b), dtype=torch.bool) for image, b in truths.items()}
    n_truth = sum(len(b) for b in truths.values())
    tp = []
    for image, box, _ in detections:
        gts = truths.get(image, torch.zeros(0, 4))
        ious = iou_by_hand(box[None], gts)[0] if len(gts) else torch.zeros(0)
        ious[taken[image]] = -1  # already matched: unavailable
        j = int(ious.argmax()) if len(ious) else -1
        hit = j >= 0 and ious[j] >= iou_threshold
        if hit:
            taken[image][j] = True
        tp.append(hit)
    tp = np.array(tp, dtype=float)
    recall = np.cumsum(tp) / n_truth
    precision = np.cumsum(tp) / np.arange(1, len(tp) + 1)
    envelope = np.maximum.accumulate(precision[::-1])[::-1]  # best precision to the right
    points = np.linspace(0, 1, 101)
    first = np.searchsorted(recall, points, side="left")  # first detection reaching each recall
    sampled = np.where(first < len(recall), envelope[np.minimum(first, len(recall) - 1)], 0.0)
    return sampled.mean(), recall, precision, envelope


# %% [markdown]
# Three images, two classes, predictions written by hand so that every case occurs: a clean
# hit, a **duplicate** of a found object (score 0.80), a box in the wrong place (IoU below
# 0.5), a detection where there is nothing, and an object nobody found.

# %%
T = torch.tensor
truth_sets = [  # per image: boxes and labels
    {"boxes": T([[10, 10, 50, 50], [60, 60, 100, 100], [20, 60, 40, 90]]), "labels": T([0, 0, 1])},
    {"boxes": T([[30, 30, 80, 80], [5, 5, 25, 35]]), "labels": T([0, 1])},
    {"boxes": T([[40, 10, 90, 60]]), "labels": T([0])},
]
prediction_sets = [
    {
        "boxes": T([[12, 12, 50, 52], [11, 9, 49, 51], [62, 58, 100, 98], [20, 62, 42, 90]]),
        "scores": T([0.95, 0.80, 0.70, 0.60]),  # the 0.80 box duplicates the 0.95 one
        "labels": T([0, 0, 0, 1]),
    },
    {
        "boxes": T([[28, 35, 78, 85], [85, 10, 110, 40], [6, 4, 24, 36], [50, 50, 70, 80]]),
        "scores": T([0.90, 0.40, 0.85, 0.55]),  # 0.40 and 0.55: nothing there
        "labels": T([0, 0, 1, 1]),
    },
    {"boxes": T([[60, 30, 110, 80]]), "scores": T([0.50]), "labels": T([0])},  # IoU < 0.5
]
for s in (*truth_sets, *prediction_sets):
    s["boxes"] = s["boxes"].float()


def map50_by_hand(predictions, truths):
    aps = {}
    for c in sorted({int(c) for t in truths for c in t["labels"]}):
        dets = [
            (i, b, float(s))
            for i, p in enumerate(predictions)
            for b, s, lab in zip(p["boxes"], p["scores"], p["labels"], strict=True)
            if lab == c
        ]
        gts = {i: t["boxes"][t["labels"] == c] for i, t in enumerate(truths)}
        aps[c] = average_precision(dets, gts)
    return np.mean([a[0] for a in aps.values()]), aps


def map50_torchmetrics(predictions, truths):
    metric = MeanAveragePrecision(iou_type="bbox", iou_thresholds=[0.5], class_metrics=True)
    metric.update(predictions, truths)
    result = metric.compute()
    return result["map"].item(), result["map_per_class"].tolist()


without = [dict(p) for p in prediction_sets]  # the same predictions, minus the duplicate
without[0] = {k: v[[0, 2, 3]] for k, v in prediction_sets[0].items()}
results = {}
for name, preds in [("with the duplicate", prediction_sets), ("without it", without)]:
    ours, per_class = map50_by_hand(preds, truth_sets)
    theirs, theirs_per_class = map50_torchmetrics(preds, truth_sets)
    results[name] = ours, per_class
    aps = [round(float(a[0]), 4) for a in per_class.values()]
    print(f"{name:19s}: mAP@0.5 by hand {ours:.4f} (per class {aps}), torchmetrics {theirs:.4f}")
    assert abs(ours - theirs) < 1e-6
    assert np.allclose([a[0] for a in per_class.values()], theirs_per_class, atol=1e-6)
assert results["with the duplicate"][0] < results["without it"][0], "a duplicate costs AP"

# %% [markdown]
# Equal to `torchmetrics` (which runs the COCO evaluation of `pycocotools`), per class and
# overall. The duplicate is the second detection of class 0 in score order: it comes before
# the last true positives, so it lowers the precision at every later recall — the detector
# that reported each object once scores higher. This is what NMS is for: without it, a
# detector's duplicates would all be false positives.
#
# The curve below is class 0's: raw precision after each detection, its envelope, and the
# 101 points COCO averages. The missed object in image 3 caps recall at 3/4, and the 25
# points above it read 0.

# %%
ap0, recall, precision, envelope = results["with the duplicate"][1][0]
ap0_clean = results["without it"][1][0][0]
fig, ax = plt.subplots(figsize=(7.5, 5))
ax.plot(recall, precision, "o", color="C3", label="precision after each detection (by score)")
ax.step(np.r_[0, recall], np.r_[envelope[0], envelope], where="pre", color="C0",
        label="envelope: best precision at this recall or more")  # fmt: skip
points = np.linspace(0, 1, 101)
first = np.searchsorted(recall, points, side="left")
sampled = np.where(first < len(recall), envelope[np.minimum(first, len(recall) - 1)], 0.0)
ax.plot(points, sampled, ".", ms=3, color="k", label=f"101 COCO points: mean = AP = {ap0:.3f}")
assert abs(sampled.mean() - ap0) < 1e-12 and recall.max() == 0.75 and (sampled == 0).sum() == 25
ax.set(xlabel="recall", ylabel="precision", xlim=(-0.02, 1.02), ylim=(0, 1.05))
ax.set_title(f"Class 0, IoU 0.5: AP {ap0:.3f} with the duplicate, {ap0_clean:.3f} without")
ax.legend(fontsize=8, loc="lower left")
lesson.save(fig, "precision-recall.png")

# %% [markdown]
# ## Summary
#
# - IoU = intersection / union of two boxes; half a width of shift already gives 1/3.
# - Greedy NMS keeps the best box and deletes overlaps above the threshold; torchvision keeps
#   a box at exactly the threshold and breaks score ties by input order. `batched_nms` does it
#   per class with a coordinate offset.
# - Anchors assign an object to the preset boxes it overlaps by IoU ≥ 0.5: erratic counts,
#   and some objects get none. dllab's anchor-free head takes the 10 cells inside the object
#   whose predictions align best: about the same number for every object.
# - AP: sort by score, greedy matching (duplicates are false positives), precision envelope,
#   101 recall points; mAP = the mean over classes. By hand == torchmetrics.
#
# ## Exercises
#
# - `dllab lab start iou` — box areas and IoU of two sets of boxes.
# - `dllab lab start nms` — greedy NMS, per image and per class.
# - `dllab lab start map50` — mAP@0.5 from matching to the 101-point AP.
#
# To try here (not graded):
#
# 1. Run NMS on the scene's raw boxes at IoU 0.3 and 0.8. Which threshold leaves duplicates,
#    and which deletes a digit that overlaps another?
# 2. Compute AP at IoU 0.75 for the hand-made predictions. Which true positive is lost?
