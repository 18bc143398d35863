"""Labelled detection images in the two layouts people have: YOLO txt and COCO JSON.

YOLO (Ultralytics' layout)::

    root/data.yaml            names: [cat, dog]   (or classes.txt, one name a line)
    root/images/<split>/a.jpg
    root/labels/<split>/a.txt  one object a line: class cx cy w h (fractions of the image)

An image without a label file is a background image (no objects), as in Ultralytics; an
*empty* label file is refused, because it usually means a labelling tool crashed mid-save.

COCO: one JSON file with `images` (id, file_name, width, height), `annotations` (image_id,
category_id, bbox = [x, y, w, h] in pixels) and `categories` (id, name); image files are
found relative to `image_dir` (default: the JSON's folder). Category ids may be any integers;
they are mapped to 0..K-1 in the order of `categories`.

Everything wrong in a user's files (a missing image, a box outside the image, a negative or
zero-size box, an unknown class id, an empty label file) raises `InputError` with one line
that names the file and the line (YOLO) or the entry (COCO), so `dllab` exits with status 2.
Boxes come out as float32 xyxy pixels, the convention of `torchvision.ops`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml
from PIL import Image

from dllab.data.image_io import (
    READ_ERRORS,
    open_image,
    read_image_rgb,  # re-exported: detection and segmentation import it from here
    unreadable_message,
    upright_size,
)
from dllab.errors import InputError

__all__ = [
    "IMAGE_SUFFIXES",
    "DetectionSet",
    "LabelledImage",
    "read_coco",
    "read_image_rgb",
    "read_yolo",
    "write_coco",
    "write_yolo",
]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")
EDGE_TOLERANCE = 1e-3  # YOLO fractions written with 6 decimals may overshoot 1 by rounding


@dataclass
class LabelledImage:
    """One image file and its objects."""

    path: Path
    width: int
    height: int
    boxes: np.ndarray  # (N, 4) float32 xyxy in pixels
    labels: np.ndarray  # (N,) int64 in 0..K-1


@dataclass
class DetectionSet:
    """Labelled images and the class names their labels index."""

    images: list[LabelledImage]
    classes: list[str]


def _image_size(path: Path, origin: str) -> tuple[int, int]:
    """(width, height) from the file's header, upright by its EXIF orientation as
    `read_image_rgb` turns the pixels (as Ultralytics reads YOLO fractions), so the boxes
    match them; InputError naming `origin` if unreadable."""
    if not path.is_file():
        raise InputError(f"{origin}: image {path} not found; put the image there or drop its label")
    try:
        with open_image(path) as img:
            return upright_size(img)
    except READ_ERRORS as exc:
        raise InputError(f"{origin}: {unreadable_message(path, exc)}") from exc


def _check_box(box: np.ndarray, w: int, h: int, where: str) -> None:
    """Refuse zero-size, negative and outside-the-image boxes, saying which and where."""
    x1, y1, x2, y2 = (float(v) for v in box)
    if x2 <= x1 or y2 <= y1:
        raise InputError(
            f"{where}: box has zero or negative size (width {x2 - x1:g}, height {y2 - y1:g} px)"
        )
    tol_x, tol_y = EDGE_TOLERANCE * w, EDGE_TOLERANCE * h
    if x1 < -tol_x or y1 < -tol_y or x2 > w + tol_x or y2 > h + tol_y:
        raise InputError(
            f"{where}: box [{x1:g}, {y1:g}, {x2:g}, {y2:g}] lies outside the {w}x{h} image"
        )


# ---------------------------------------------------------------- YOLO
def _yolo_classes(root: Path) -> list[str]:
    txt, data = root / "classes.txt", root / "data.yaml"
    if data.is_file():
        try:
            names = (yaml.safe_load(data.read_text("utf-8")) or {}).get("names")
        except (yaml.YAMLError, AttributeError) as exc:
            raise InputError(f"{data}: not a YAML mapping with `names`") from exc
        if isinstance(names, dict):  # Ultralytics also writes {0: cat, 1: dog}
            names = [names[k] for k in sorted(names)]
        if not isinstance(names, list) or not names:
            raise InputError(f"{data}: needs `names`, a list of class names")
        return [str(n) for n in names]
    if txt.is_file():
        names = [line.strip() for line in txt.read_text("utf-8").splitlines() if line.strip()]
        if names:
            return names
        raise InputError(f"{txt}: empty; write one class name a line")
    raise InputError(f"{root} has neither data.yaml (with `names`) nor classes.txt")


def _read_yolo_labels(path: Path, classes: list[str], w: int, h: int) -> tuple[np.ndarray, ...]:
    lines = path.read_text("utf-8").splitlines()
    if not any(line.strip() for line in lines):
        raise InputError(
            f"{path}: empty label file; delete it for an image with no objects, or label it"
        )
    boxes, labels = [], []
    for no, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path}:{no}"
        fields = line.split()
        if len(fields) != 5:
            raise InputError(f"{where}: expected 'class cx cy w h', got {len(fields)} fields")
        try:
            cls = int(fields[0])
            cx, cy, bw, bh = (float(v) for v in fields[1:])
        except ValueError as exc:
            raise InputError(f"{where}: expected 'class cx cy w h' numbers, got {line!r}") from exc
        if not 0 <= cls < len(classes):
            raise InputError(
                f"{where}: unknown class id {cls}; valid ids are 0..{len(classes) - 1}"
            )
        box = np.array([(cx - bw / 2) * w, (cy - bh / 2) * h, (cx + bw / 2) * w, (cy + bh / 2) * h])
        _check_box(box, w, h, where)
        boxes.append(np.clip(box, 0, [w, h, w, h]))
        labels.append(cls)
    return np.asarray(boxes, np.float32).reshape(-1, 4), np.asarray(labels, np.int64)


def read_yolo(root: str | Path, split: str = "train") -> DetectionSet:
    """The images of `root/images/<split>` with their `root/labels/<split>` boxes.

    Example: `read_yolo("my-data", "val").images[0].boxes` -> (N, 4) xyxy pixels.
    """
    root = Path(root)
    classes = _yolo_classes(root)
    image_dir, label_dir = root / "images" / split, root / "labels" / split
    if not image_dir.is_dir():
        raise InputError(f"{image_dir} not found; YOLO layout is images/<split>, labels/<split>")
    by_stem = {p.stem: p for p in sorted(image_dir.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES}
    if label_dir.is_dir():
        for label in sorted(label_dir.glob("*.txt")):
            if label.stem not in by_stem:
                raise InputError(
                    f"{label}:1: no image {image_dir}/{label.stem}.* for this label file"
                )
    images = []
    for stem, path in by_stem.items():
        w, h = _image_size(path, str(path))
        label = label_dir / f"{stem}.txt"
        if label.is_file():
            boxes, labels = _read_yolo_labels(label, classes, w, h)
        else:  # a background image
            boxes, labels = np.zeros((0, 4), np.float32), np.zeros(0, np.int64)
        images.append(LabelledImage(path, w, h, boxes, labels))
    if not images:
        raise InputError(f"{image_dir} holds no images ({', '.join(IMAGE_SUFFIXES)})")
    return DetectionSet(images, classes)


def write_yolo(
    root: str | Path,
    split: str,
    images: Sequence[np.ndarray],
    boxes: Sequence[np.ndarray],
    labels: Sequence[np.ndarray],
    classes: list[str],
) -> Path:
    """Write RGB uint8 images (H, W, 3) as PNGs with YOLO labels; images without objects
    get no label file (the background convention). Returns `root`."""
    root = Path(root)
    (root / "images" / split).mkdir(parents=True, exist_ok=True)
    (root / "labels" / split).mkdir(parents=True, exist_ok=True)
    (root / "data.yaml").write_text(
        yaml.safe_dump({"path": ".", split: f"images/{split}", "names": list(classes)}), "utf-8"
    )
    for i, (image, b, lab) in enumerate(zip(images, boxes, labels, strict=True)):
        stem = f"{i:06d}"
        Image.fromarray(image).save(root / "images" / split / f"{stem}.png")
        if len(b) == 0:
            continue
        h, w = image.shape[:2]
        rows = [
            f"{int(c)} {(x1 + x2) / 2 / w:.6f} {(y1 + y2) / 2 / h:.6f} "
            f"{(x2 - x1) / w:.6f} {(y2 - y1) / h:.6f}"
            for (x1, y1, x2, y2), c in zip(b.tolist(), lab.tolist(), strict=True)
        ]
        (root / "labels" / split / f"{stem}.txt").write_text("\n".join(rows) + "\n", "utf-8")
    return root


# ---------------------------------------------------------------- COCO
def read_coco(path: str | Path, image_dir: str | Path | None = None) -> DetectionSet:
    """The images and boxes of one COCO JSON file (bbox [x, y, w, h] -> xyxy pixels).

    Example: `read_coco("annotations/instances_val.json", "images/val")`.
    """
    path = Path(path)
    folder = Path(image_dir) if image_dir is not None else path.parent
    try:
        data = json.loads(path.read_text("utf-8"))
    except FileNotFoundError as exc:
        raise InputError(f"{path} not found; give the COCO annotation JSON file") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        line = getattr(exc, "lineno", "?")
        raise InputError(f"{path}:{line}: not valid JSON ({exc.__class__.__name__})") from exc
    if not isinstance(data, dict) or not {"images", "annotations", "categories"} <= data.keys():
        raise InputError(f"{path}: a COCO file needs images, annotations and categories")
    cats = data["categories"]
    if not cats:
        raise InputError(f"{path}: categories is empty; list at least one class")
    cat_index = {c["id"]: k for k, c in enumerate(cats)}
    classes = [str(c["name"]) for c in cats]
    entries: dict[int, LabelledImage] = {}
    for k, im in enumerate(data["images"]):
        file = folder / im["file_name"]
        where = f"{path}: images[{k}] (id {im.get('id')})"
        w, h = _image_size(file, where)
        declared = (im.get("width"), im.get("height"))
        if None not in declared and tuple(declared) != (w, h):  # boxes are in declared pixels
            raise InputError(
                f"{where}: declares {declared[0]}x{declared[1]} but {file.name} is {w}x{h} "
                "as seen (after its EXIF orientation); fix width and height, or the image"
            )
        entries[im["id"]] = LabelledImage(file, w, h, np.zeros((0, 4)), np.zeros(0, np.int64))
    found: dict[int, tuple[list, list]] = {i: ([], []) for i in entries}
    for k, ann in enumerate(data["annotations"]):
        where = f"{path}: annotations[{k}] (id {ann.get('id')})"
        if ann.get("image_id") not in entries:
            raise InputError(f"{where}: image_id {ann.get('image_id')} is not in images")
        if ann.get("category_id") not in cat_index:
            raise InputError(
                f"{where}: unknown category_id {ann.get('category_id')}; "
                f"valid ids: {sorted(cat_index)}"
            )
        im = entries[ann["image_id"]]
        x, y, bw, bh = (float(v) for v in ann["bbox"])
        box = np.array([x, y, x + bw, y + bh])
        _check_box(box, im.width, im.height, where)
        found[ann["image_id"]][0].append(np.clip(box, 0, [im.width, im.height] * 2))
        found[ann["image_id"]][1].append(cat_index[ann["category_id"]])
    for i, (b, lab) in found.items():
        entries[i].boxes = np.asarray(b, np.float32).reshape(-1, 4)
        entries[i].labels = np.asarray(lab, np.int64)
    if not entries:
        raise InputError(f"{path}: images is empty")
    return DetectionSet(list(entries.values()), classes)


def write_coco(path: str | Path, dataset: DetectionSet) -> Path:
    """Write `dataset` as a COCO JSON file; file names are relative to the JSON's folder."""
    path = Path(path)
    images, annotations = [], []
    for i, im in enumerate(dataset.images):
        rel = Path(im.path).resolve().relative_to(path.parent.resolve())
        images.append(
            {"id": i + 1, "file_name": rel.as_posix(), "width": im.width, "height": im.height}
        )
        for box, lab in zip(im.boxes.tolist(), im.labels.tolist(), strict=True):
            x1, y1, x2, y2 = box
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": i + 1,
                    "category_id": int(lab) + 1,
                    "bbox": [x1, y1, x2 - x1, y2 - y1],
                    "area": (x2 - x1) * (y2 - y1),
                    "iscrowd": 0,
                }
            )
    categories = [{"id": k + 1, "name": n} for k, n in enumerate(dataset.classes)]
    doc = {"images": images, "annotations": annotations, "categories": categories}
    path.write_text(json.dumps(doc), "utf-8")
    return path
