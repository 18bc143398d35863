"""Labelled 3D scans in the Medical Segmentation Decathlon layout, read through nibabel.

The layout (Simpson et al., arXiv:1902.09063; what MONAI's `DecathlonDataset` and nnU-Net
read)::

    root/dataset.json       {"name": …, "modality": {"0": "CT"},
                             "labels": {"0": "background", "1": "spleen"},
                             "training": [{"image": "./imagesTr/a.nii.gz",
                                           "label": "./labelsTr/a.nii.gz"}, …]}
    root/imagesTr/*.nii.gz  3D (X, Y, Z), or 4D (X, Y, Z, C) for several modalities
    root/labelsTr/*.nii.gz  3D integer labels, indexing `labels`

Paths in dataset.json are relative to `root`. `read_decathlon` checks everything it can from
the JSON and the NIfTI headers (files present, image and label of the same grid: shape and
affine); `load_case` reads the voxels and checks the label values against the table. Each
mistake raises `InputError` with one line naming the file, so `dllab` exits with status 2.
`write_decathlon` writes volumes in the same layout (the synthetic ones, or a user's arrays).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dllab.errors import InputError

__all__ = ["Case", "DecathlonSet", "load_case", "read_decathlon", "write_decathlon"]

AFFINE_ATOL = 1e-3  # mm: float32 headers round-trip affines to ~1e-6; a real mismatch is > 0.1


@dataclass
class Case:
    """One training pair of files."""

    image: Path
    label: Path


@dataclass
class DecathlonSet:
    """A Decathlon folder: its cases and the label table (index -> name, background first)."""

    root: Path
    cases: list[Case]
    labels: list[str]
    name: str = ""
    modality: dict[str, str] | None = None


def _nibabel() -> Any:
    try:
        import nibabel
    except ImportError as exc:
        raise InputError("reading NIfTI needs nibabel: pip install 'dllab[medical]'") from exc
    return nibabel


def _header(path: Path) -> tuple[tuple[int, ...], np.ndarray]:
    """(shape, affine) of a NIfTI file from its header alone."""
    nib = _nibabel()
    try:
        img = nib.load(str(path))
    except Exception as exc:  # noqa: BLE001  nibabel raises many kinds on a damaged file
        why = " ".join(str(exc).split())  # nibabel's text may span lines; the error is one
        raise InputError(f"{path}: cannot read as NIfTI ({type(exc).__name__}: {why})") from exc
    return tuple(int(n) for n in img.shape), np.asarray(img.affine, dtype=np.float64)


def _label_table(raw: Any, path: Path) -> list[str]:
    if not isinstance(raw, dict) or not raw:
        raise InputError(f'{path}: needs "labels", a mapping like {{"0": "background", …}}')
    try:
        table = {int(k): str(v) for k, v in raw.items()}
    except ValueError as exc:
        raise InputError(f'{path}: "labels" keys must be integers, got {list(raw)}') from exc
    if sorted(table) != list(range(len(table))):
        raise InputError(
            f'{path}: "labels" must number the classes 0..{len(table) - 1} (0: background), '
            f"got {sorted(table)}"
        )
    return [table[k] for k in range(len(table))]


def read_decathlon(root: str | Path, key: str = "training") -> DecathlonSet:
    """The labelled cases of a Decathlon folder, checked against their headers.

    `key` names the list of `{image, label}` entries (`training`; some sets add others).
    """
    root = Path(root)
    path = root / "dataset.json"
    if not path.is_file():
        raise InputError(
            f"{path} not found; a Decathlon folder holds dataset.json, imagesTr/ and labelsTr/"
        )
    try:
        spec = json.loads(path.read_text("utf-8"))
    except json.JSONDecodeError as exc:
        raise InputError(
            f"{path}: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
        ) from exc
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text; save it as UTF-8 JSON") from exc
    if not isinstance(spec, dict):
        raise InputError(f"{path}: must be a JSON object with `labels` and `{key}`")
    labels = _label_table(spec.get("labels"), path)
    entries = spec.get(key)
    if not isinstance(entries, list) or not entries:
        raise InputError(f'{path}: needs "{key}", a non-empty list of {{image, label}} entries')
    cases = []
    for i, entry in enumerate(entries):
        where = f"{path} {key}[{i}]"
        if not isinstance(entry, dict) or not {"image", "label"} <= set(entry):
            raise InputError(f"{where}: needs both `image` and `label`, got {entry!r:.80}")
        files = {}
        for k in ("image", "label"):
            f = root / str(entry[k])
            if not f.is_file():
                raise InputError(f"{where}: {k} {entry[k]} not found (looked for {f})")
            files[k] = f
        case = Case(files["image"], files["label"])
        _check_grid(case)
        cases.append(case)
    modality = spec.get("modality") if isinstance(spec.get("modality"), dict) else None
    return DecathlonSet(root, cases, labels, str(spec.get("name", root.name)), modality)


def _check_grid(case: Case) -> None:
    """The image and its label must lie on the same voxel grid (shape and affine)."""
    ishape, iaff = _header(case.image)
    lshape, laff = _header(case.label)
    if len(ishape) not in (3, 4):
        raise InputError(f"{case.image}: a 3D (or 4D multi-channel) volume, got shape {ishape}")
    if len(lshape) != 3:
        raise InputError(f"{case.label}: labels must be a 3D volume, got shape {lshape}")
    if ishape[:3] != lshape:
        raise InputError(
            f"{case.label}: label shape {lshape} differs from its image {case.image.name} "
            f"{ishape[:3]}; they must be on the same voxel grid"
        )
    if not np.allclose(iaff, laff, atol=AFFINE_ATOL):
        worst = float(np.abs(iaff - laff).max())
        raise InputError(
            f"{case.label}: affine differs from its image {case.image.name}'s by {worst:.3g} "
            "mm; image and label must share one voxel-to-world mapping (resample the label)"
        )


def load_case(case: Case, labels: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(image float32 (C, X, Y, Z), label uint8 (X, Y, Z), affine (4, 4)) of one case; the
    label's values must index `labels`."""
    nib = _nibabel()
    img = nib.load(str(case.image))
    image = np.asarray(img.dataobj, dtype=np.float32)
    image = image[None] if image.ndim == 3 else np.moveaxis(image, -1, 0)  # channels first
    raw = np.asarray(nib.load(str(case.label)).dataobj)
    values = np.unique(raw)
    bad = [v for v in values.tolist() if v != int(v) or not 0 <= v < len(labels)]
    if bad:
        shown = ", ".join(f"{v:g}" for v in bad[:5]) + (", …" if len(bad) > 5 else "")
        table = ", ".join(f"{i}: {n}" for i, n in enumerate(labels))
        raise InputError(
            f"{case.label}: label values {shown} are not in dataset.json's labels ({table})"
        )
    return image, raw.astype(np.uint8), np.asarray(img.affine, dtype=np.float64)


def write_decathlon(
    root: str | Path,
    volumes: list[Any],
    labels: list[str],
    *,
    name: str = "synthetic",
    modality: str = "synthetic",
) -> DecathlonSet:
    """Write `volumes` (each with `image`, `label`, `affine`, as `data.volumes.Volume`) as
    `imagesTr/case_000.nii.gz`… with their labels and dataset.json; returns the set."""
    nib = _nibabel()
    root = Path(root)
    (root / "imagesTr").mkdir(parents=True, exist_ok=True)
    (root / "labelsTr").mkdir(parents=True, exist_ok=True)
    training = []
    for i, v in enumerate(volumes):
        rel = {k: f"./{k}sTr/case_{i:03d}.nii.gz" for k in ("image", "label")}
        nib.save(nib.Nifti1Image(v.image.astype(np.float32), v.affine), str(root / rel["image"]))
        nib.save(nib.Nifti1Image(v.label.astype(np.uint8), v.affine), str(root / rel["label"]))
        training.append(rel)
    spec = {
        "name": name,
        "modality": {"0": modality},
        "labels": {str(i): n for i, n in enumerate(labels)},
        "numTraining": len(training),
        "training": training,
    }
    (root / "dataset.json").write_text(json.dumps(spec, indent=2), "utf-8")
    return read_decathlon(root)
