"""The Decathlon layout: a folder written with nibabel reads back, and every mistake in a
user's folder is one InputError line naming the file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

nib = pytest.importorskip("nibabel")

from dllab.data.decathlon import load_case, read_decathlon  # noqa: E402
from dllab.errors import InputError  # noqa: E402

LABELS = {"0": "background", "1": "liver", "2": "tumour"}


def _affine(spacing: tuple[float, float, float] = (0.8, 0.8, 2.0)) -> np.ndarray:
    a = np.diag([*spacing, 1.0])
    a[:3, 3] = [-10.0, 5.0, 30.0]
    return a


def make_folder(root: Path, n: int = 3, *, channels: int = 1, labels: dict | None = None) -> Path:
    """A Decathlon folder of `n` small CT-like cases with labels 0..2."""
    rng = np.random.default_rng(0)
    (root / "imagesTr").mkdir(parents=True)
    (root / "labelsTr").mkdir()
    training = []
    for i in range(n):
        shape = (12, 10, 6) + ((channels,) if channels > 1 else ())
        image = rng.normal(0, 100, shape).astype(np.float32)
        label = rng.integers(0, 3, (12, 10, 6)).astype(np.uint8)
        nib.save(nib.Nifti1Image(image, _affine()), root / f"imagesTr/ct_{i}.nii.gz")
        nib.save(nib.Nifti1Image(label, _affine()), root / f"labelsTr/ct_{i}.nii.gz")
        training.append(
            {"image": f"./imagesTr/ct_{i}.nii.gz", "label": f"./labelsTr/ct_{i}.nii.gz"}
        )
    spec = {"name": "Task99", "modality": {"0": "CT"}, "labels": labels or LABELS}
    spec |= {"numTraining": n, "training": training, "test": []}
    (root / "dataset.json").write_text(json.dumps(spec))
    return root


def test_folder_reads_back_cases_labels_and_voxels(tmp_path: Path) -> None:
    root = make_folder(tmp_path)
    ds = read_decathlon(root)
    assert ds.name == "Task99" and ds.labels == ["background", "liver", "tumour"]
    assert [c.image.name for c in ds.cases] == [f"ct_{i}.nii.gz" for i in range(3)]
    image, label, affine = load_case(ds.cases[1], ds.labels)
    assert image.shape == (1, 12, 10, 6) and image.dtype == np.float32
    assert label.shape == (12, 10, 6) and label.dtype == np.uint8
    np.testing.assert_allclose(affine, _affine())
    np.testing.assert_array_equal(image[0], np.asarray(nib.load(ds.cases[1].image).dataobj))


def test_multichannel_images_come_channels_first(tmp_path: Path) -> None:
    ds = read_decathlon(make_folder(tmp_path, channels=4))
    image, label, _ = load_case(ds.cases[0], ds.labels)
    assert image.shape == (4, 12, 10, 6) and label.shape == (12, 10, 6)


def _save(path: Path, data: np.ndarray, affine: np.ndarray | None = None) -> None:
    nib.save(nib.Nifti1Image(data, _affine() if affine is None else affine), path)


def _no_json(root: Path) -> str:
    (root / "dataset.json").unlink()
    return "dataset.json not found"


def _bad_json(root: Path) -> str:
    (root / "dataset.json").write_text('{"labels": {"0": "background",}')
    return "dataset.json: not valid JSON"


def _missing_file(root: Path) -> str:
    (root / "imagesTr/ct_1.nii.gz").unlink()
    return r"training\[1\]: image ./imagesTr/ct_1.nii.gz not found"


def _shape_mismatch(root: Path) -> str:
    _save(root / "labelsTr/ct_2.nii.gz", np.zeros((12, 10, 5), np.uint8))
    return r"labelsTr/ct_2.nii.gz: label shape \(12, 10, 5\) differs from its image ct_2"


def _affine_mismatch(root: Path) -> str:
    _save(root / "labelsTr/ct_0.nii.gz", np.zeros((12, 10, 6), np.uint8), _affine((0.8, 0.8, 2.5)))
    return "labelsTr/ct_0.nii.gz: affine differs from its image ct_0.nii.gz"


def _label_outside_table(root: Path) -> str:
    label = np.zeros((12, 10, 6), np.uint8)
    label[3, 3, 3] = 7
    _save(root / "labelsTr/ct_0.nii.gz", label)
    return r"labelsTr/ct_0.nii.gz: label values 7 are not in dataset.json's labels \(0: background"


def _gappy_table(root: Path) -> str:
    spec = json.loads((root / "dataset.json").read_text())
    spec["labels"] = {"0": "background", "2": "tumour"}
    (root / "dataset.json").write_text(json.dumps(spec))
    return r"\"labels\" must number the classes 0..1"


@pytest.mark.parametrize(
    "spoil",
    [
        _no_json,
        _bad_json,
        _missing_file,
        _shape_mismatch,
        _affine_mismatch,
        _label_outside_table,
        _gappy_table,
    ],
)
def test_each_bad_input_is_one_line_naming_the_file(tmp_path: Path, spoil) -> None:
    root = make_folder(tmp_path)
    expected = spoil(root)
    with pytest.raises(InputError, match=expected) as info:
        ds = read_decathlon(root)
        for case in ds.cases:
            load_case(case, ds.labels)
    assert "\n" not in str(info.value)
    assert str(root) in str(info.value)
