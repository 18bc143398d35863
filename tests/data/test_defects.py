"""Synthetic defects: seeded to the byte, masks exactly where pixels changed, MVTec layout."""

from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from dllab.data.defects import (
    DEFECT_TYPES,
    DefectConfig,
    make_pair,
    make_part,
    materialize,
    synthetic_defects,
)
from dllab.errors import ConfigError, DataError

TINY = DefectConfig(
    image_size=64, train_good=2, test_good=2, test_per_defect=1, textures=("grass",)
)


def _tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_same_seed_writes_identical_bytes_and_another_seed_does_not(tmp_path):
    a, b = _tree(materialize(tmp_path / "a", TINY)), _tree(materialize(tmp_path / "b", TINY))
    assert a == b
    other = _tree(materialize(tmp_path / "c", DefectConfig(**{**TINY.__dict__, "seed": 1})))
    assert other.keys() == a.keys()
    pngs = [k for k in a if k.endswith(".png")]
    assert all(other[k] != a[k] for k in pngs if "ground_truth" not in k)


def test_materialize_writes_the_mvtec_layout(tmp_path):
    root = materialize(tmp_path / "d", TINY)
    files = set(_tree(root))
    assert {
        "grass/train/good/000.png",
        "grass/train/good/001.png",
        "grass/test/good/001.png",
    } <= files
    for kind in DEFECT_TYPES:
        assert f"grass/test/{kind}/000.png" in files
        assert f"grass/ground_truth/{kind}/000_mask.png" in files
    assert not any("ground_truth/good" in f for f in files)
    assert "dataset.json" in files


@pytest.mark.parametrize("kind", DEFECT_TYPES)
def test_mask_is_exactly_the_pixels_that_changed(kind):
    for texture in ("brick", "grass", "gravel"):
        for index in range(3):
            clean, image, mask = make_pair(texture, kind, index=index, size=128)
            changed = clean != image  # (S, S, 3)
            assert mask.any()
            assert np.array_equal(mask, changed.any(2))  # nothing changed outside the mask
            assert changed[mask].all()  # every channel of every masked pixel changed


def test_make_part_is_the_defective_half_of_make_pair():
    _, image, mask = make_pair("brick", "crack", seed=3, index=5, size=64)
    image2, mask2 = make_part("brick", "crack", seed=3, index=5, size=64)
    assert np.array_equal(image, image2) and np.array_equal(mask, mask2)


def test_good_parts_have_empty_masks_and_differ_from_each_other():
    a, mask = make_part("gravel", "good", index=0, size=64)
    b, _ = make_part("gravel", "good", index=1, size=64)
    assert not mask.any() and not np.array_equal(a, b)


def test_scratches_are_one_to_three_pixels_wide():
    widths = set()
    for index in range(12):
        _, mask = make_part("grass", "scratch", index=index)
        # Half-width: the largest distance from a scratch pixel to the outside (1 px -> 1,
        # 2 px -> 1, 3 px -> 2): no scratch is wider than 3 px.
        widths.add(float(ndimage.distance_transform_cdt(mask, metric="chessboard").max()))
    assert widths <= {1.0, 2.0} and 2.0 in widths and 1.0 in widths


def test_contrast_scales_the_change_but_not_where_it_is():
    faint = make_pair("brick", "spot", index=2, contrast=0.5)
    strong = make_pair("brick", "spot", index=2, contrast=2.0)
    assert np.array_equal(faint[2], strong[2])
    change = [np.abs(p[1].astype(int) - p[0].astype(int))[p[2]].mean() for p in (faint, strong)]
    assert 3.0 < change[1] / change[0] < 5.0  # 4x, blurred only by rounding


def test_defects_change_less_than_the_texture_varies():
    """Barely visible: a typical defect moves pixels by less than the texture's own spread."""
    for kind in ("scratch", "spot", "crack", "contamination"):
        clean, image, mask = make_pair("grass", kind, index=1)
        change = np.abs(image.astype(int) - clean.astype(int))[mask].mean()
        assert change < clean.std(), (kind, change, clean.std())


def test_synthetic_defects_generates_once_then_reuses(tmp_path):
    root = synthetic_defects(TINY, root=tmp_path)
    stamp = (root / "dataset.json").stat().st_mtime_ns
    assert synthetic_defects(TINY, root=tmp_path) == root
    assert (root / "dataset.json").stat().st_mtime_ns == stamp
    assert root.parent == tmp_path / "synthetic-defects"


def test_bad_requests_say_what_is_allowed(tmp_path):
    with pytest.raises(ConfigError, match="32..512"):
        DefectConfig(image_size=1024)
    with pytest.raises(ConfigError, match="brick, grass, gravel"):
        DefectConfig(textures=("marble",))
    with pytest.raises(ConfigError, match="scratch, spot"):
        make_part("grass", "dent")
    (tmp_path / "x").mkdir()
    with pytest.raises(DataError, match="already exists"):
        materialize(tmp_path / "x", TINY)
