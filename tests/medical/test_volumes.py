"""Synthetic volumes: a pure function of (seed, index), two foreground classes told apart by
brightness, noise everywhere, and thick slices whose spacing survives a NIfTI round trip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("monai")
nib = pytest.importorskip("nibabel")

from dllab.data.decathlon import write_decathlon  # noqa: E402
from dllab.data.volumes import VolumeSpec, class_names, synthetic_volume  # noqa: E402

SPEC = VolumeSpec(size=32, objects=6)


def test_same_seed_and_index_give_the_same_volume_and_others_differ() -> None:
    a, b = (synthetic_volume(SPEC, seed=3, index=1) for _ in range(2))
    np.testing.assert_array_equal(a.image, b.image)
    np.testing.assert_array_equal(a.label, b.label)
    for other in (synthetic_volume(SPEC, seed=3, index=2), synthetic_volume(SPEC, seed=4, index=1)):
        assert not np.array_equal(a.label, other.label)


def test_volume_has_two_bright_classes_noise_and_thick_slices() -> None:
    v = synthetic_volume(VolumeSpec(size=64), seed=0, index=0)
    assert v.image.shape == v.label.shape == (64, 64, 26)  # 64 mm of 2.5 mm slices
    assert v.image.dtype == np.float32 and v.label.dtype == np.uint8
    np.testing.assert_allclose(np.diag(v.affine), [-1.0, -1.0, 2.5, 1.0])  # LPS voxel axes
    assert set(np.unique(v.label).tolist()) == {0, 1, 2}
    means = [float(v.image[v.label == k].mean()) for k in range(3)]
    assert means[0] < means[1] < means[2]  # class k is k/K bright
    assert float(v.image[v.label == 0].std()) > 0.05  # noisy background
    # Gaussian noise of `sigma` on every voxel, drawn after the spheres (same spheres without)
    quiet = synthetic_volume(VolumeSpec(size=64, sigma=0.0), seed=0, index=0)
    np.testing.assert_array_equal(quiet.label, v.label)
    assert float((v.image - quiet.image).std()) == pytest.approx(0.08, rel=0.03)
    assert class_names(2) == ["background", "sphere 1", "sphere 2"]


def test_thick_slices_average_the_slab_they_cover() -> None:
    """Without noise a 1 mm grid holds only the class intensities (0, 1/2, 1); 2.5 mm slices
    average the slab they cover, so sphere caps take values in between (partial volume)."""
    quiet = {"size": 48, "noise": 0.0, "sigma": 0.0}
    thin = synthetic_volume(VolumeSpec(**quiet, spacing=(1.0, 1.0, 1.0)), seed=0, index=0)
    assert set(np.unique(thin.image).round(6).tolist()) <= {0.0, 0.5, 1.0}
    thick = synthetic_volume(VolumeSpec(**quiet), seed=0, index=0)
    partial = ~np.isin(thick.image.round(6), [0.0, 0.5, 1.0])
    assert partial.mean() > 0.01
    # Each slice's label is the label at its slab's centre, so partial voxels sit on edges:
    # none lies deep inside a sphere (all six neighbours of the same class).
    lab = thick.label
    inner = np.zeros_like(partial)
    core = lab[1:-1, 1:-1, 1:-1]
    same = [
        core == lab[2:, 1:-1, 1:-1],
        core == lab[:-2, 1:-1, 1:-1],
        core == lab[1:-1, 2:, 1:-1],
        core == lab[1:-1, :-2, 1:-1],
        core == lab[1:-1, 1:-1, 2:],
        core == lab[1:-1, 1:-1, :-2],
    ]
    inner[1:-1, 1:-1, 1:-1] = np.logical_and.reduce(same) & (core > 0)
    assert not (partial & inner).any()


def test_anisotropic_spacing_round_trips_through_nifti(tmp_path: Path) -> None:
    volumes = [synthetic_volume(SPEC, seed=0, index=i) for i in range(2)]
    ds = write_decathlon(tmp_path, volumes, class_names(2))
    for v, case in zip(volumes, ds.cases, strict=True):
        img, lab = nib.load(case.image), nib.load(case.label)
        assert img.header.get_zooms() == pytest.approx((1.0, 1.0, 2.5))
        np.testing.assert_allclose(img.affine, v.affine, atol=1e-6)
        np.testing.assert_array_equal(np.asarray(img.dataobj), v.image)
        np.testing.assert_array_equal(np.asarray(lab.dataobj), v.label)
