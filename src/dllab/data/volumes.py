"""Synthetic 3D volumes with exact labels: MONAI's spheres, made harder.

MONAI's `create_test_image_3d` draws random spheres whose intensity is their class, on a
background of uniform noise. Its own integration test trains to Dice 0.93 on one class in 6
epochs; here a volume is harder in the three ways real scans are:

- two (or more) foreground classes, told apart by intensity only (class k is k/K bright);
- noise: MONAI's uniform background noise (`noise`), then Gaussian noise on every voxel
  (`sigma`, after the slices are formed, so it is not averaged away);
- thick slices: the spheres are drawn on a 1 mm grid, then the volume is stored with
  `spacing` (1 x 1 x 2.5 mm by default): each stored slice is the mean of the 2.5 mm slab it
  covers (partial volume, as a CT reconstructs thick slices) and its label is the class
  covering most of that slab. The affine says so, and stores the axes as DICOM does (x to the left,
  y to the back: "LPS"), so a pipeline must reorient to RAS and resample to isotropic
  voxels to see round spheres again.

A volume is a pure function of `(spec, seed, index)`: `np.random.RandomState` seeded from
`SeedSequence([seed, index])`, so splits are regenerated, never stored or cached. They are
made in memory (a 64 mm volume takes ~20 ms); `dllab.data.decathlon.write_decathlon` writes
them as NIfTI in the Decathlon layout when files are wanted.

>>> v = synthetic_volume(VolumeSpec(size=32), seed=0, index=0)   # doctest: +SKIP
>>> v.image.shape, v.label.shape, np.diag(v.affine)[:3].tolist()   # doctest: +SKIP
((32, 32, 13), (32, 32, 13), [-1.0, -1.0, 2.5])
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Volume", "VolumeSpec", "class_names", "synthetic_volume", "synthetic_volumes"]


@dataclass(frozen=True)
class VolumeSpec:
    """How synthetic volumes are drawn; lengths in mm."""

    size: int = 64  # side of the cube (mm); the 1 mm grid the spheres are drawn on
    classes: int = 2  # foreground classes (label 0 is background)
    objects: int = 10  # spheres per volume (later ones cover earlier ones)
    radius: tuple[float, float] = (0.06, 0.2)  # sphere radii as fractions of `size`
    noise: float = 0.3  # MONAI's noise_max: uniform background noise up to classes * noise
    sigma: float = 0.08  # Gaussian noise on every stored voxel (image range is [0, 1])
    spacing: tuple[float, float, float] = (1.0, 1.0, 2.5)  # stored voxel size (x, y, z)


@dataclass
class Volume:
    """One scan: intensities, labels and where its voxels lie."""

    image: np.ndarray  # (X, Y, Z) float32
    label: np.ndarray  # (X, Y, Z) uint8 in 0..classes
    affine: np.ndarray  # (4, 4) float64: voxel index -> RAS mm, as NIfTI stores it


def class_names(classes: int) -> list[str]:
    """Names of a synthetic label table: background, then `sphere 1`… by brightness."""
    return ["background", *(f"sphere {k}" for k in range(1, classes + 1))]


def _radii(spec: VolumeSpec) -> tuple[int, int]:
    lo, hi = (max(1, round(f * spec.size)) for f in spec.radius)
    hi = min(max(hi, lo + 1), (spec.size - 1) // 2)  # create_test_image_3d: side > 2 * rad_max
    if hi <= lo:
        raise ValueError(f"a {spec.size} mm volume is too small for spheres of radius >= {lo}")
    return lo, hi


def synthetic_volume(spec: VolumeSpec, *, seed: int, index: int) -> Volume:
    """Volume number `index` of the series `seed` (see the module docstring)."""
    from monai.data import create_test_image_3d

    sx, sy, sz = spec.spacing
    state = np.random.SeedSequence([seed, index]).generate_state(1)[0]
    rs = np.random.RandomState(state)
    nx, ny, nz = round(spec.size / sx), round(spec.size / sy), max(1, round(spec.size / sz))
    depth = max(round(nz * sz), 2 * _radii(spec)[1] + 1)  # fine z extent covering nz slabs
    lo, hi = _radii(spec)
    fine, fine_label = create_test_image_3d(
        spec.size,
        spec.size,
        depth,
        num_objs=spec.objects,
        rad_max=hi,
        rad_min=lo,
        noise_max=spec.noise,
        num_seg_classes=spec.classes,
        random_state=rs,
    )  # (size, size, depth) on a 1 mm grid, image rescaled to [0, 1]
    # In-plane: 1 mm voxels sampled at `sx`, `sy` (nearest; equal sizes by default).
    ix = np.minimum((np.arange(nx) * sx + sx / 2).astype(int), spec.size - 1)
    iy = np.minimum((np.arange(ny) * sy + sy / 2).astype(int), spec.size - 1)
    fine, fine_label = fine[ix][:, iy], fine_label[ix][:, iy]
    # Through-plane: slab means (partial volume); a slice's label is the class covering most
    # of its slab, as an annotator marks what the thick slice shows (ties: the lower class).
    slab = np.minimum((np.arange(depth) * nz) // depth, nz - 1)  # fine z -> stored slice
    image = np.stack([fine[..., slab == k].mean(-1) for k in range(nz)], -1)
    share = np.stack(
        [np.stack([(fine_label[..., slab == k] == c).mean(-1) for k in range(nz)], -1)
         for c in range(spec.classes + 1)]
    )  # (classes + 1, X, Y, nz): fraction of each slab per class  # fmt: skip
    label = share.argmax(0)
    image = image + rs.normal(0.0, spec.sigma, image.shape)
    # LPS voxel axes (x to the left, y to the back), as DICOM-derived NIfTI files often are.
    affine = np.diag([-sx, -sy, sz, 1.0])
    affine[:3, 3] = [(nx - 1) * sx, (ny - 1) * sy, 0.0]
    return Volume(image.astype(np.float32), label.astype(np.uint8), affine)


def synthetic_volumes(spec: VolumeSpec, *, seed: int, count: int) -> list[Volume]:
    """Volumes `0..count-1` of the series `seed`."""
    return [synthetic_volume(spec, seed=seed, index=i) for i in range(count)]
