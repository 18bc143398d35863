"""`dllab predict RUN scan.nii.gz` on a medical-segmentation run: the label map comes back on
the scan's own grid (shape and affine, through anisotropic LPS voxels), with a picture; bad
files are refused in one line naming them; outputs are never replaced without force."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

pytest.importorskip("monai")
nib = pytest.importorskip("nibabel")

from dllab.config import load_recipe  # noqa: E402
from dllab.errors import InputError  # noqa: E402
from dllab.experiment import load_trained, predict, run_recipe  # noqa: E402
from dllab.tasks.medical_predict import predict_volumes, segment_volume  # noqa: E402

TINY = [
    "data.image_size=24",
    "data.batch_size=2",
    "data.eval_batch_size=2",
    "task.roi_size=16",
    "task.train_volumes=2",
    "task.val_volumes=1",
    "task.test_volumes=1",
    "task.objects=4",
    "model.name=monai-unet3d-s",
    "model.kwargs.channels=[8, 16, 32, 64]",
    "train.max_steps=1",
    "train.max_time=null",
    "schedule.follow_time=false",
    "train.threads=1",
]
# An LPS scan (x to the left, y to the back) of 0.9 x 1.3 x 2.5 mm voxels, an odd shape
AFFINE = np.array(
    [[-0.9, 0.0, 0.0, 10.0], [0.0, -1.3, 0.0, 12.0], [0.0, 0.0, 2.5, -5.0], [0.0, 0.0, 0.0, 1.0]]
)
SHAPE = (22, 17, 9)
BOX = np.s_[3:10, 2:8, 1:4]  # off-centre: a flipped or shifted map would not match it


def _scan() -> np.ndarray:
    image = np.random.default_rng(0).normal(0.0, 0.1, SHAPE).astype(np.float32)
    image[BOX] += 2.0
    return image


def _write(path: Path, data: np.ndarray, affine: np.ndarray = AFFINE) -> Path:
    nib.save(nib.Nifti1Image(data, affine), str(path))
    return path


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    recipe = load_recipe("medical-3d", TINY)
    root = tmp_path_factory.mktemp("medical-predict")
    return run_recipe(recipe, run_dir=root / "run", echo=lambda _: None, progress=False)


def test_prediction_is_written_on_the_scans_own_grid(
    run_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scan = _write(tmp_path / "scan.nii.gz", _scan())
    monkeypatch.chdir(tmp_path)
    (result,) = predict(run_dir, [str(scan)])
    out = nib.load(str(tmp_path / "scan.seg.nii.gz"))
    assert out.shape == SHAPE
    np.testing.assert_allclose(out.affine, AFFINE, atol=1e-5)
    labels = np.asarray(out.dataobj)
    classes = load_trained(run_dir)[1]["classes"]
    assert labels.dtype == np.uint8 and labels.max() < len(classes)
    assert (tmp_path / "scan.seg.png").stat().st_size > 5000
    assert result.text.startswith("wrote scan.seg.nii.gz, scan.seg.png: ")
    assert sum(result.scores) == pytest.approx(1.0)


def test_the_inverse_transforms_put_each_label_back_on_its_voxel() -> None:
    """A 'model' that labels bright voxels class 1: after RAS, 1 mm resampling, z-scoring,
    padding and their inverses, the label map is exactly the bright box of the scan."""
    threshold = nn.Conv3d(1, 3, 1)
    with torch.no_grad():
        threshold.weight.zero_()
        threshold.weight[1] = 10.0  # class 1 wins where the z-scored intensity passes 2
        threshold.bias.copy_(torch.tensor([0.0, -20.0, -100.0]))
    meta = {"roi_size": 16, "pixdim": [1.0, 1.0, 1.0], "intensity_range": None}
    labels, seen, pred = segment_volume(threshold, meta, _scan()[None], AFFINE)
    truth = np.zeros(SHAPE, np.uint8)
    truth[BOX] = 1
    np.testing.assert_array_equal(labels, truth)
    assert seen.shape == pred.shape == (20, 22, 21)  # the 1 mm RAS grid, padded to 16 a side
    assert pred.sum() > 0


def _bad_files(tmp: Path) -> list[tuple[str, Path]]:
    png = tmp / "photo.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    fake = tmp / "notes.nii.gz"
    fake.write_bytes(gzip.compress(b"not a nifti header at all"))
    flat = _write(tmp / "flat.nii.gz", np.zeros((20, 18), np.float32), np.eye(4))
    cut = []
    for name in ("cut.nii", "cut.nii.gz"):  # the header intact, the voxels half there
        whole = _write(tmp / f"whole_{name}", _scan()).read_bytes()
        cut.append(tmp / name)
        cut[-1].write_bytes(whole[: len(whole) // 2])
    return [
        ("not a NIfTI volume", png),
        ("cannot read as NIfTI", fake),
        (r"shape \(20, 18\) is not a 3D volume", flat),
        *(("cannot read as NIfTI", c) for c in cut),
    ]


def test_bad_files_are_refused_in_one_line_naming_them(run_dir: Path, tmp_path: Path) -> None:
    model, meta = load_trained(run_dir)
    for why, path in _bad_files(tmp_path):
        with pytest.raises(InputError, match=why) as err:
            predict_volumes(model, meta, [str(path)], out_dir=tmp_path)
        assert str(err.value).startswith(f"{path}: ") and "\n" not in str(err.value)
    assert not list(tmp_path.glob("*.seg.*"))  # nothing written for any of them


def test_an_existing_output_is_replaced_only_with_force(run_dir: Path, tmp_path: Path) -> None:
    model, meta = load_trained(run_dir)
    scan = _write(tmp_path / "scan.nii", _scan())
    kept = tmp_path / "scan.seg.nii.gz"
    kept.write_bytes(b"mine")
    with pytest.raises(InputError, match="already exists.*--force"):
        predict_volumes(model, meta, [str(scan)], out_dir=tmp_path)
    assert kept.read_bytes() == b"mine" and not (tmp_path / "scan.seg.png").exists()
    predict_volumes(model, meta, [str(scan)], out_dir=tmp_path, force=True)
    assert nib.load(str(kept)).shape == SHAPE


def test_the_command_line_refuses_to_overwrite_then_replaces_with_force(
    run_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    import sys

    from dllab.cli import main

    monkeypatch.chdir(tmp_path)  # the label map is written to the current folder
    scan = _write(tmp_path / "scan.nii", _scan())
    kept = tmp_path / "scan.seg.nii.gz"
    kept.write_bytes(b"mine")
    monkeypatch.setattr(sys, "argv", ["dllab", "predict", str(run_dir), str(scan)])
    with pytest.raises(SystemExit) as exit_:
        main()
    assert exit_.value.code == 2 and kept.read_bytes() == b"mine"
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and "--force" in lines[0], lines
    monkeypatch.setattr(sys, "argv", ["dllab", "predict", str(run_dir), str(scan), "--force"])
    with pytest.raises(SystemExit) as exit_:
        main()
    assert exit_.value.code == 0 and nib.load(str(kept)).shape == SHAPE


def test_two_scans_with_one_name_are_refused_before_anything_is_written(
    run_dir: Path, tmp_path: Path
) -> None:
    model, meta = load_trained(run_dir)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = _write(tmp_path / "a" / "scan.nii", _scan())
    second = _write(tmp_path / "b" / "scan.nii.gz", _scan())
    with pytest.raises(InputError, match="would both write"):
        predict_volumes(model, meta, [str(first), str(second)], out_dir=tmp_path, force=True)
    assert not list(tmp_path.glob("scan.seg.*"))


def test_a_failed_write_leaves_the_old_label_map_whole(
    run_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    model, meta = load_trained(run_dir)
    scan = _write(tmp_path / "scan.nii", _scan())
    kept = tmp_path / "scan.seg.nii.gz"
    kept.write_bytes(b"mine")

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", full_disk)
    with pytest.raises(OSError, match="No space"):
        predict_volumes(model, meta, [str(scan)], out_dir=tmp_path, force=True)
    assert kept.read_bytes() == b"mine"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
