"""The MVTec-AD loader: our generated folder round-trips, and bad folders get one clear line."""

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from dllab.data.defects import DEFECT_TYPES, DefectConfig, make_part, materialize
from dllab.data.mvtec import load_mvtec, split_validation
from dllab.errors import DataError

TINY = DefectConfig(
    image_size=64, train_good=3, test_good=4, test_per_defect=2, textures=("gravel",)
)


@pytest.fixture
def synthetic(tmp_path) -> Path:
    return materialize(tmp_path / "synthetic", TINY)


def test_our_generated_folder_reads_back_exactly(synthetic):
    data = load_mvtec(synthetic, image_size=64, category="gravel")
    assert data.defect_types == sorted(DEFECT_TYPES)
    assert data.train.images.shape == (3, 3, 64, 64) and data.train.images.dtype == torch.uint8
    first_train, _ = make_part("gravel", "good", split="train", index=0, size=64)
    assert np.array_equal(data.train.images[0].permute(1, 2, 0).numpy(), first_train)
    assert len(data.test) == 4 + 2 * len(DEFECT_TYPES)
    for i, (kind, file) in enumerate(zip(data.test.kinds.tolist(), data.test.files, strict=True)):
        name = data.kind_names[kind]
        assert file.startswith(f"test/{name}/")
        image, mask = make_part("gravel", name, index=int(file[-7:-4]), size=64)
        assert np.array_equal(data.test.images[i].permute(1, 2, 0).numpy(), image)
        assert np.array_equal(data.test.masks[i].numpy(), mask)
    assert len(data.checksums) == 3 + len(data.test) + 2 * len(DEFECT_TYPES)  # + masks


def test_images_and_masks_are_resized_together(synthetic):
    data = load_mvtec(synthetic / "gravel", image_size=32)
    assert data.test.images.shape[-2:] == (32, 32) and data.test.masks.shape[-2:] == (32, 32)
    defective = data.test.kinds > 0
    assert data.test.masks[defective].flatten(1).any(1).all()
    assert not data.test.masks[~defective].any()


def test_validation_is_a_stratified_seeded_share_of_test(synthetic):
    test = load_mvtec(synthetic / "gravel", image_size=64).test
    val, rest = split_validation(test, 0.5, seed=0)
    assert len(val) + len(rest) == len(test)
    assert not set(val.files) & set(rest.files)
    assert torch.bincount(val.kinds).tolist() == [2] + [1] * len(DEFECT_TYPES)
    again, _ = split_validation(test, 0.5, seed=0)
    assert again.files == val.files


# ---------------------------------------------------------------- bad folders
def _png(path: Path, size: tuple[int, int] = (16, 16), value: int = 128, mode: str = "RGB"):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, value).save(path)
    return path


@pytest.fixture
def hand_made(tmp_path) -> Path:
    root = tmp_path / "mine"
    _png(root / "train" / "good" / "a.png")
    _png(root / "test" / "good" / "b.png")
    _png(root / "test" / "dent" / "c.png")
    mask = np.zeros((16, 16), np.uint8)
    mask[4:8, 4:8] = 255
    (root / "ground_truth" / "dent").mkdir(parents=True)
    Image.fromarray(mask).save(root / "ground_truth" / "dent" / "c_mask.png")
    return root


def test_a_hand_made_folder_loads(hand_made):
    data = load_mvtec(hand_made, image_size=16)
    assert data.defect_types == ["dent"] and data.test.kinds.tolist() == [0, 1]
    assert int(data.test.masks[1].sum()) == 16


def test_a_missing_mask_names_the_image_and_the_mask(hand_made):
    (hand_made / "ground_truth" / "dent" / "c_mask.png").unlink()
    with pytest.raises(DataError, match=r"test/dent/c\.png has no mask .*c_mask\.png"):
        load_mvtec(hand_made, image_size=16)


def test_a_mask_of_another_size_names_both_sizes(hand_made):
    _png(hand_made / "ground_truth" / "dent" / "c_mask.png", (8, 8), 255, "L")
    with pytest.raises(DataError, match=r"c_mask\.png is 8x8 but its image .*c\.png is 16x16"):
        load_mvtec(hand_made, image_size=16)


def test_an_empty_mask_is_refused(hand_made):
    _png(hand_made / "ground_truth" / "dent" / "c_mask.png", (16, 16), 0, "L")
    with pytest.raises(DataError, match=r"c_mask\.png is empty"):
        load_mvtec(hand_made, image_size=16)


def test_an_unreadable_image_is_named(hand_made):
    (hand_made / "test" / "good" / "b.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match=r"cannot read image .*test/good/b\.png"):
        load_mvtec(hand_made, image_size=16)


def test_a_folder_without_train_good_says_the_layout(tmp_path):
    with pytest.raises(DataError, match="does not exist; expected ROOT/train/good"):
        load_mvtec(tmp_path / "nowhere", image_size=16)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no train/good/ folder"):
        load_mvtec(tmp_path / "empty", image_size=16)


def test_a_root_of_categories_asks_for_one(synthetic):
    with pytest.raises(
        DataError, match=r"holds category folders \(gravel\); .*task.category=gravel"
    ):
        load_mvtec(synthetic, image_size=64)


def test_a_test_folder_without_defects_is_refused(hand_made):
    import shutil

    shutil.rmtree(hand_made / "test" / "dent")
    with pytest.raises(DataError, match="needs both good/ parts and at least one defect"):
        load_mvtec(hand_made, image_size=16)


def test_a_missing_category_says_which_exist(synthetic, hand_made):
    with pytest.raises(DataError, match="no category folder 'brick'; choose one of gravel"):
        load_mvtec(synthetic, image_size=64, category="brick")
    with pytest.raises(DataError, match="itself one category, set task.category=null"):
        load_mvtec(hand_made, image_size=16, category="brick")
