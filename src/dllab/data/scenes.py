"""Detection scenes composed from real objects on real textures, with exact boxes.

A scene is a crop of one of scikit-image's photographed textures (brick, grass, gravel),
tinted and dimmed, with unlabelled clutter drawn first (lines, blobs and fragments of objects)
and then 1..`max_objects` real objects pasted on top: Fashion-MNIST items and scikit-learn's
handwritten digits, each at its own scale and colour. Later objects may hide part of earlier
ones, but never more than `max_occlusion` of an object's pixels, so every labelled object
stays recognisable.

Why the boxes are exact: an object's alpha mask is thresholded after resizing
(`alpha < ALPHA_FLOOR` becomes 0), so the set of pixels an object changes is exactly its
mask, and its box is the tight box `[x1, y1, x2, y2)` of that mask in pixel units (x2, y2
exclusive, as COCO's `x + w`). Boxes are amodal: an occluded object keeps its whole box.

Every scene is a pure function of `(seed, index)` (`np.random.default_rng([seed, index])`),
so a split can be regenerated, extended or sharded without storing it. `render_clip` makes
short videos of moving, occluding objects whose true tracks are known, for tracking tests.

>>> pool = ObjectPool.from_digits()                              # doctest: +SKIP
>>> scene = render_scene(pool, SceneSpec(image_size=96), seed=0, index=3)  # doctest: +SKIP
>>> scene.image.shape, scene.boxes.shape                          # doctest: +SKIP
((96, 96, 3), (n, 4))
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import cv2
import numpy as np

__all__ = [
    "ALPHA_FLOOR",
    "Clip",
    "ObjectPool",
    "Scene",
    "SceneSpec",
    "object_pools",
    "render_clip",
    "render_scene",
    "render_scenes",
    "textures",
]

ALPHA_FLOOR = 0.2  # alpha below this is cut to 0: faint resize fringes are neither drawn nor boxed
TEXTURES = ("brick", "grass", "gravel")  # scikit-image ships these photographs in its wheel


@dataclass
class ObjectPool:
    """Grey object images (bright object on a 0 background) that scenes paste, with labels.

    `images` uint8 (N, h, w); `labels` int64 (N,) indexing `classes`.
    """

    images: np.ndarray
    labels: np.ndarray
    classes: list[str]

    def __post_init__(self) -> None:
        assert self.images.ndim == 3 and len(self.images) == len(self.labels)

    def __len__(self) -> int:
        return len(self.labels)

    def draw(self, rng: np.random.Generator) -> int:
        """An item index, the class drawn uniformly first: 1,797 digits beside 60,000
        Fashion-MNIST items would otherwise be 3 % of the objects."""
        if "by_class_" not in self.__dict__:
            self.by_class_ = [np.flatnonzero(self.labels == c) for c in np.unique(self.labels)]
        members = self.by_class_[rng.integers(len(self.by_class_))]
        return int(members[rng.integers(len(members))])

    @classmethod
    def from_digits(cls, indices: np.ndarray | None = None) -> ObjectPool:
        """scikit-learn's 8x8 digits (1,797 images, always installed), classes "digit 0"…"""
        from dllab.data.digits import load_digits_arrays

        images, labels = load_digits_arrays()
        images = images[:, 0]
        if indices is not None:
            images, labels = images[indices], labels[indices]
        return cls(images, labels, [f"digit {i}" for i in range(10)])

    @staticmethod
    def join(pools: list[ObjectPool]) -> ObjectPool:
        """One pool of several, with class ids offset so the class lists are concatenated.
        Images of different sizes are kept as a ragged list padded to the largest side."""
        side = max(max(p.images.shape[1:]) for p in pools)
        images, labels, classes = [], [], []
        for p in pools:
            pad = np.zeros((len(p), side, side), np.uint8)
            pad[:, : p.images.shape[1], : p.images.shape[2]] = p.images
            images.append(pad)
            labels.append(p.labels + len(classes))
            classes += p.classes
        return ObjectPool(np.concatenate(images), np.concatenate(labels), classes)


@dataclass
class SceneSpec:
    """How scenes are drawn; the defaults are the `detection-scenes` recipe's."""

    image_size: int = 128  # side of the square scene in pixels
    min_objects: int = 1
    max_objects: int = 6  # labelled objects per scene, drawn uniformly in [min, max]
    min_size: int = 14  # longest side of a pasted object, in pixels (several scales)
    max_size: int = 56
    max_occlusion: float = 0.4  # at most this share of an object's pixels may be covered
    clutter: int = 4  # unlabelled distractors drawn under the objects (lines, blobs, fragments)
    attempts: int = 30  # placements tried per object before it is left out
    noise: float = 0.02  # std of Gaussian sensor noise on the 0..1 scale, over the whole image


@dataclass
class Scene:
    """One rendered scene: the image and its exact labels."""

    image: np.ndarray  # (H, W, 3) uint8 RGB
    boxes: np.ndarray  # (N, 4) float32 xyxy in pixels, x2/y2 exclusive
    labels: np.ndarray  # (N,) int64 class ids of the pool
    visible: np.ndarray  # (N,) float32 share of each object's pixels left uncovered
    masks: list[np.ndarray] = field(default_factory=list, repr=False)  # (H, W) bool, full


@cache
def textures() -> tuple[np.ndarray, ...]:
    """scikit-image's texture photographs as float32 (512, 512) arrays in [0, 1]."""
    import skimage.data

    return tuple(getattr(skimage.data, n)().astype(np.float32) / 255.0 for n in TEXTURES)


def background(size: int, rng: np.random.Generator) -> np.ndarray:
    """A tinted, dimmed random crop of a texture, flipped at random: float32 (size, size, 3)."""
    tex = textures()[rng.integers(len(TEXTURES))]
    scale = rng.uniform(0.5, 1.5)  # zoom, so texture grain varies across scenes
    side = min(int(size * scale), tex.shape[0])
    y, x = rng.integers(0, tex.shape[0] - side + 1, size=2)
    crop = cv2.resize(tex[y : y + side, x : x + side], (size, size), interpolation=cv2.INTER_AREA)
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    tint = rng.uniform(0.5, 1.0, size=3).astype(np.float32)
    level = rng.uniform(0.35, 0.75)
    return np.ascontiguousarray(crop[..., None] * tint * level, dtype=np.float32)


def _object_alpha(image: np.ndarray, size: int) -> np.ndarray:
    """A pool image cropped to its pixels, resized so its longest side is `size`, as alpha
    float32 (h, w) in [0, 1], with values under ALPHA_FLOOR cut to exactly 0."""
    ys, xs = np.nonzero(image > 0)
    crop = image[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1].astype(np.float32) / 255.0
    h, w = crop.shape
    f = size / max(h, w)
    new = (max(2, round(w * f)), max(2, round(h * f)))
    interp = cv2.INTER_AREA if f < 1 else cv2.INTER_LINEAR
    alpha = np.clip(cv2.resize(crop, new, interpolation=interp) * 1.6, 0.0, 1.0)
    alpha[alpha < ALPHA_FLOOR] = 0.0
    return alpha


def _colour(rng: np.random.Generator, bg_mean: float) -> np.ndarray:
    """An object colour that stands out from the background: brighter when it is dark."""
    lo = 0.55 if bg_mean < 0.5 else 0.0
    hi = 1.0 if bg_mean < 0.5 else 0.35
    base = rng.uniform(lo, hi)
    return np.clip(base + rng.uniform(-0.25, 0.25, size=3), 0.0, 1.0).astype(np.float32)


def _paste(canvas: np.ndarray, alpha: np.ndarray, colour: np.ndarray, x: int, y: int) -> None:
    """Blend `colour`, shaded by the object's own grey levels, into `canvas` at (x, y)."""
    h, w = alpha.shape
    region = canvas[y : y + h, x : x + w]
    shade = (0.45 + 0.55 * alpha)[..., None] * colour  # keeps the item's folds and strokes
    a = alpha[..., None]
    region[:] = region * (1.0 - a) + shade * a


def _clutter(canvas: np.ndarray, pool: ObjectPool, spec: SceneSpec, rng: np.random.Generator):
    """Unlabelled distractors drawn under the objects: lines, blobs, and fragments of pool
    objects (a quarter or less of one), so the detector must learn what a whole object is."""
    s = spec.image_size
    for _ in range(spec.clutter):
        kind = rng.integers(3)
        colour = tuple(float(c) for c in rng.uniform(0.0, 1.0, size=3))
        if kind == 0:
            p1, p2 = rng.integers(0, s, size=2), rng.integers(0, s, size=2)
            cv2.line(
                canvas, tuple(map(int, p1)), tuple(map(int, p2)), colour, int(rng.integers(1, 3))
            )
        elif kind == 1:
            c = tuple(int(v) for v in rng.integers(0, s, size=2))
            axes = tuple(int(v) for v in rng.integers(2, max(3, s // 12), size=2))
            cv2.ellipse(canvas, c, axes, float(rng.uniform(0, 180)), 0, 360, colour, -1)
        else:
            alpha = _object_alpha(pool.images[rng.integers(len(pool))], spec.max_size)
            h, w = alpha.shape
            fh, fw = max(2, h // 2), max(2, w // 2)
            oy, ox = rng.integers(0, h - fh + 1), rng.integers(0, w - fw + 1)
            frag = alpha[oy : oy + fh, ox : ox + fw]
            fh, fw = min(fh, s), min(fw, s)
            y, x = rng.integers(0, s - fh + 1), rng.integers(0, s - fw + 1)
            _paste(canvas, frag[:fh, :fw], np.asarray(colour, np.float32), int(x), int(y))


def _box(mask: np.ndarray) -> np.ndarray:
    """The tight box [x1, y1, x2, y2) of a boolean mask's pixels (x2, y2 exclusive)."""
    ys, xs = np.nonzero(mask)
    return np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], np.float32)


def render_scene(pool: ObjectPool, spec: SceneSpec, *, seed: int, index: int) -> Scene:
    """Scene number `index` of the stream drawn with `seed` (a pure function of both)."""
    rng = np.random.default_rng([seed, index])
    s = spec.image_size
    canvas = background(s, rng)
    _clutter(canvas, pool, spec, rng)
    bg_mean = float(canvas.mean())
    masks: list[np.ndarray] = []  # full masks of the placed objects
    visible: list[np.ndarray] = []  # what is still uncovered of each
    labels: list[int] = []
    for _ in range(rng.integers(spec.min_objects, spec.max_objects + 1)):
        item = pool.draw(rng)
        size = int(rng.integers(spec.min_size, min(spec.max_size, s) + 1))
        alpha = _object_alpha(pool.images[item], size)
        h, w = alpha.shape
        if not alpha.any():  # too faint to leave a pixel after the floor: nothing to label
            continue
        for _ in range(spec.attempts):
            y, x = int(rng.integers(0, s - h + 1)), int(rng.integers(0, s - w + 1))
            mask = np.zeros((s, s), bool)
            mask[y : y + h, x : x + w] = alpha > 0
            left = [v & ~mask for v in visible]
            keep = 1 - spec.max_occlusion
            if all(n.sum() >= keep * m.sum() for n, m in zip(left, masks, strict=True)):
                break
        else:
            continue  # no place keeps the others visible enough: leave this object out
        _paste(canvas, alpha, _colour(rng, bg_mean), x, y)
        visible = [*left, mask.copy()]
        masks.append(mask)
        labels.append(int(pool.labels[item]))
    if spec.noise:
        canvas += rng.normal(0.0, spec.noise, canvas.shape).astype(np.float32)
    image = np.clip(canvas * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return Scene(
        image=image,
        boxes=np.stack([_box(m) for m in masks]) if masks else np.zeros((0, 4), np.float32),
        labels=np.asarray(labels, np.int64),
        visible=np.asarray(
            [v.sum() / m.sum() for v, m in zip(visible, masks, strict=True)], np.float32
        ),
        masks=masks,
    )


def render_scenes(pool: ObjectPool, spec: SceneSpec, *, seed: int, count: int) -> list[Scene]:
    """Scenes 0..count-1 of the stream drawn with `seed` (masks dropped to save memory)."""
    scenes = []
    for i in range(count):
        scene = render_scene(pool, spec, seed=seed, index=i)
        scene.masks = []
        scenes.append(scene)
    return scenes


def object_pools(
    data_dir: str | Path | None = None, *, seed: int = 0, val_fraction: float = 0.1
) -> tuple[dict[str, ObjectPool], dict[str, str]]:
    """Train/val/test object pools: Fashion-MNIST items (its own train/test split, val held
    out of train) and digits (a seeded 70/15/15 split), so no test object is seen in training.

    Returns the pools and the sha256 of every Fashion-MNIST file read (for env.json).
    """
    import torch

    from dllab.data.vision import load_image_dataset

    fm = load_image_dataset(
        "fashion-mnist", data_dir=data_dir, val_fraction=val_fraction, seed=seed
    )
    order = np.random.default_rng(seed).permutation(1797)
    cut = {"train": order[:1257], "val": order[1257:1527], "test": order[1527:]}
    pools = {}
    for split in ("train", "val", "test"):
        part = getattr(fm, split)
        assert isinstance(part.images, torch.Tensor)
        fashion = ObjectPool(part.images[:, 0].numpy(), part.labels.numpy(), list(fm.classes))
        pools[split] = ObjectPool.join([fashion, ObjectPool.from_digits(cut[split])])
    return pools, dict(fm.checksums)


# ---------------------------------------------------------------- video clips
@dataclass
class Clip:
    """A generated video whose true tracks are known."""

    frames: np.ndarray  # (T, H, W, 3) uint8 RGB
    boxes: list[np.ndarray]  # per frame: (N_t, 4) float32 xyxy of the objects in view
    ids: list[np.ndarray]  # per frame: (N_t,) int64 true track ids
    labels: list[np.ndarray]  # per frame: (N_t,) int64 class ids

    def write(self, path: str | Path, fps: float = 25.0) -> Path:
        """The frames as an .mp4 (OpenCV's mp4v codec, BGR as video files expect)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        h, w = self.frames.shape[1:3]
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
        try:
            for frame in self.frames:
                writer.write(np.ascontiguousarray(frame[..., ::-1]))
        finally:
            writer.release()
        return path


def render_clip(
    pool: ObjectPool,
    spec: SceneSpec,
    *,
    frames: int = 60,
    objects: int = 3,
    speed: float = 2.0,
    seed: int = 0,
    paths: list[tuple[tuple[float, float], tuple[float, float]]] | None = None,
) -> Clip:
    """Objects gliding over a fixed textured background, bouncing off its edges; drawn in a
    fixed depth order, so they occlude each other where they cross.

    `paths`, when given, fixes each object's start (x, y) and velocity (px per frame) instead
    of drawing them: a test crafts a crossing that way. Box and id lists follow the objects
    at every frame (an object is always fully in view).
    """
    rng = np.random.default_rng([seed, 1_000_003])
    s = spec.image_size
    base = background(s, rng)
    bg_mean = float(base.mean())
    n = len(paths) if paths is not None else objects
    items = np.array([pool.draw(rng) for _ in range(n)])
    alphas = [
        _object_alpha(pool.images[i], int(rng.integers(spec.min_size, spec.max_size + 1)))
        for i in items
    ]
    colours = [_colour(rng, bg_mean) for _ in range(n)]
    pos, vel = np.zeros((n, 2)), np.zeros((n, 2))
    for k, a in enumerate(alphas):
        if paths is not None:
            pos[k], vel[k] = paths[k]
        else:
            pos[k] = rng.uniform(0, [s - a.shape[1], s - a.shape[0]])
            angle = rng.uniform(0, 2 * np.pi)
            vel[k] = speed * np.array([np.cos(angle), np.sin(angle)])
    out, boxes = [], []
    for _ in range(frames):
        canvas = base.copy()
        frame_boxes = []
        for k, a in enumerate(alphas):
            h, w = a.shape
            x, y = (int(round(v)) for v in np.clip(pos[k], 0, [s - w, s - h]))
            _paste(canvas, a, colours[k], x, y)
            frame_boxes.append(_box(np.pad(a > 0, ((y, s - y - h), (x, s - x - w)))))
            pos[k] += vel[k]
            for d, limit in enumerate((s - w, s - h)):  # bounce off the edges
                if not 0 <= pos[k, d] <= limit:
                    vel[k, d] = -vel[k, d]
                    pos[k, d] = np.clip(pos[k, d], 0, limit)
        out.append(np.clip(canvas * 255.0 + 0.5, 0, 255).astype(np.uint8))
        boxes.append(np.stack(frame_boxes))
    ids = [np.arange(n, dtype=np.int64)] * frames
    labels = [pool.labels[items].astype(np.int64)] * frames
    return Clip(np.stack(out), boxes, ids, labels)
