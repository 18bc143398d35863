"""`dllab predict RUN scan.nii.gz`: a medical-segmentation run labels a user's scan.

The scan goes through the run's own deterministic MONAI transforms (`prepare_transform`:
RAS orientation, resampling to the run's voxel size, its intensity scaling, padding to one
window), is labelled by sliding-window inference, and the class probabilities are mapped
back to the scan's grid by MONAI's `Invertd` (each invertible transform undone in reverse
order, probabilities resampled bilinearly) before the argmax, as MONAI's tutorials save their
predictions. So `<scan>.seg.nii.gz` has the scan's shape and affine and overlays it in any
viewer; `<scan>.seg.png` shows axial, coronal and sagittal slices of the prediction on the
resampled RAS grid the model saw.

A file that is not a readable 3D NIfTI volume is an `InputError` naming it (the CLI prints
one line and exits 2), as is an output that exists already unless `force`.
"""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from dllab.errors import InputError
from dllab.tasks.base import Prediction
from dllab.tasks.medical import prepare_transform
from dllab.tasks.outputs import plan_outputs
from dllab.train.checkpoint import atomic_write_bytes

__all__ = ["outputs_for", "predict_volumes", "read_volume", "segment_volume"]

SUFFIXES = (".nii.gz", ".nii")


def _nibabel() -> Any:
    try:
        import nibabel
    except ImportError as exc:
        raise InputError("reading NIfTI needs nibabel: pip install 'dllab[medical]'") from exc
    return nibabel


def outputs_for(source: Path, out_dir: Path) -> tuple[Path, Path]:
    """(label map, picture) paths for `source`: `scan.nii.gz` -> `scan.seg.nii.gz`,
    `scan.seg.png` in `out_dir`."""
    stem = next((source.name[: -len(s)] for s in SUFFIXES if source.name.endswith(s)), source.stem)
    return out_dir / f"{stem}.seg.nii.gz", out_dir / f"{stem}.seg.png"


def read_volume(path: Path, in_channels: int) -> tuple[np.ndarray, Any]:
    """(image float32 (C, X, Y, Z), the nibabel image) of a NIfTI scan with `in_channels`
    channels (a 4D file stores them last); InputError naming `path` for anything else."""
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    if not path.name.endswith(SUFFIXES):
        raise InputError(f"{path}: not a NIfTI volume (expected a .nii or .nii.gz file)")
    nib = _nibabel()
    try:
        img = nib.load(str(path))
        data = np.asarray(img.dataobj, dtype=np.float32)
    except Exception as exc:  # noqa: BLE001  nibabel, gzip and zlib raise many kinds
        why = " ".join(str(exc).replace(str(path), "the file").split())  # one line
        raise InputError(f"{path}: cannot read as NIfTI ({type(exc).__name__}: {why})") from exc
    if data.ndim == 4 and data.shape[-1] == in_channels:
        data = np.moveaxis(data, -1, 0)  # (X, Y, Z, C) -> (C, X, Y, Z)
    elif data.ndim == 3 and in_channels == 1:
        data = data[None]
    else:
        want = "(X, Y, Z)" if in_channels == 1 else f"(X, Y, Z, {in_channels})"
        raise InputError(
            f"{path}: shape {data.shape} is not a 3D volume {want} as this run was trained on"
        )
    if not np.isfinite(data).all():
        raise InputError(f"{path}: holds NaN or infinite voxel values")
    return data, img


@torch.no_grad()
def segment_volume(
    model: nn.Module, meta: dict[str, Any], image: np.ndarray, affine: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Class ids (X, Y, Z) uint8 on the grid of `image` (C, X, Y, Z) with `affine` (4, 4),
    and, for pictures, the preprocessed image and its class ids (X', Y', Z') in RAS at the
    run's voxel size."""
    from monai.data import MetaTensor
    from monai.inferers import sliding_window_inference
    from monai.transforms import Invertd

    r = int(meta["roi_size"])
    pre = prepare_transform(meta["pixdim"], meta["intensity_range"], r, keys=("image",))
    scan = MetaTensor(image, affine=torch.as_tensor(affine), meta={"original_channel_dim": 0})
    data = pre({"image": scan})
    x = data["image"]  # (C, X', Y', Z') MetaTensor that remembers every transform applied
    device = next(model.parameters()).device
    model.eval()
    logits = sliding_window_inference(
        x.as_tensor()[None].to(device),
        [r] * 3,
        int(meta.get("sw_batch_size", 4)),
        model,
        overlap=float(meta.get("sw_overlap", 0.25)),
    )  # (1, K, X', Y', Z')
    probs = torch.as_tensor(logits)[0].float().softmax(0).cpu()
    data["pred"] = MetaTensor(probs, affine=x.affine)
    back = Invertd(keys="pred", transform=pre, orig_keys="image", nearest_interp=False)(data)
    labels = torch.as_tensor(back["pred"]).argmax(0).to(torch.uint8).numpy()
    return labels, x.as_tensor()[0].numpy(), probs.argmax(0).to(torch.uint8).numpy()


def predict_volumes(
    model: nn.Module,
    meta: dict[str, Any],
    inputs: list[str],
    top_k: int = 5,
    *,
    out_dir: Path | None = None,
    force: bool = False,
) -> list[Prediction]:
    """Label each NIfTI scan of `inputs`, writing `<scan>.seg.nii.gz` (uint8 class ids, the
    scan's shape and affine) and `<scan>.seg.png` into `out_dir` (default: the current
    folder). Every input is checked, and no output may exist (unless `force`), before any is
    written. Each Prediction lists the `top_k` classes by their share of the scan's voxels."""
    from dllab.viz.medical_slices import plot_slices

    nib = _nibabel()
    out_dir = Path.cwd() if out_dir is None else Path(out_dir)
    classes = list(meta["classes"])
    planned = [(source, outputs_for(Path(source), out_dir)) for source in inputs]
    plan_outputs(planned, force=force)  # a/scan.nii.gz and b/scan.nii.gz: refused here
    jobs = [
        (source, *read_volume(Path(source), int(meta.get("in_channels", 1))), nii, png)
        for source, (nii, png) in planned
    ]
    results = []
    for source, image, img, nii, png in jobs:
        affine = np.asarray(img.affine, dtype=np.float64)
        labels, seen, pred = segment_volume(model, meta, image, affine)
        header = img.header.copy()
        header.set_data_dtype(np.uint8)
        out = nib.Nifti1Image(labels, affine, header=header)
        out.header.set_slope_inter(1.0, 0.0)  # class ids as stored, never rescaled
        out.header["cal_min"], out.header["cal_max"] = 0, len(classes) - 1  # not the CT window
        plot_slices(  # the picture first: a failure there leaves no label map without it
            seen,
            {"prediction": pred},
            classes,
            png,
            title=f"{Path(source).name}: prediction (RAS, {meta['pixdim']} mm voxels)",
        )
        # Atomic: Ctrl-C or a full disk never leaves a truncated map (or, with --force,
        # destroys the one it was replacing).
        atomic_write_bytes(nii, gzip.compress(out.to_bytes(), mtime=0))
        share = np.bincount(labels.ravel(), minlength=len(classes)) / labels.size
        order = np.argsort(-share, kind="stable")[:top_k]
        names = [classes[i] for i in order]
        text = f"wrote {nii.name}, {png.name}: " + ", ".join(
            f"{classes[i]} {share[i]:.1%}" for i in order
        )
        results.append(
            Prediction(source=source, labels=names, scores=share[order].tolist(), text=text)
        )
    return results
