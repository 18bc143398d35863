"""The segmentation task on the Trainer: weighted cross-entropy + Dice, augmentation that moves
image and mask together, mIoU through torchmetrics, AdaBN, a recipe run with its report, exact
resume, predict and ONNX export."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from dllab.config import load_recipe
from dllab.errors import ConfigError, InputError
from dllab.experiment import load_trained, run_recipe
from dllab.models.unet import UNet
from dllab.tasks import create_task
from dllab.tasks.segmentation import (
    SegmentationScores,
    SegmentationTask,
    adapt_batchnorm,
    class_weights,
    dice_loss,
)
from dllab.train.checkpoint import load_checkpoint, save_checkpoint
from dllab.train.trainer import Trainer

TINY = [
    "task.image_height=32",
    "task.image_width=64",
    "task.crop_height=16",  # training windows, as the recipe's (at 1/4 of the scene)
    "task.crop_width=32",
    "task.train_images=8",
    "task.val_images=2",
    "task.test_images=3",
    "task.shifted_images=4",
    "task.show=2",
    "data.batch_size=4",
    "data.eval_batch_size=4",
    "model.kwargs.width=4",
    "train.max_time=null",
    "schedule.follow_time=false",
    "train.threads=1",
]


# ---------------------------------------------------------------- loss
def test_dice_loss_matches_a_hand_computation() -> None:
    # Two pixels, two classes; the second pixel's truth is ignored.
    logits = torch.tensor([[[[2.0, 0.0]], [[0.0, 3.0]]]])  # (1, 2, 1, 2)
    target = torch.tensor([[[0, 255]]])
    p0 = torch.softmax(torch.tensor([2.0, 0.0]), 0)  # the only valid pixel, truth class 0
    dice0 = (2 * p0[0] + 1) / (p0[0] + 1 + 1)  # eps = 1
    dice1 = (0 + 1) / (p0[1] + 0 + 1)
    expected = 1 - (dice0 + dice1) / 2
    assert dice_loss(logits, target).item() == pytest.approx(expected.item(), abs=1e-6)
    changed = logits.clone()
    changed[0, :, 0, 1] = torch.tensor([-5.0, 7.0])  # the ignored pixel does not count
    assert dice_loss(changed, target).item() == pytest.approx(expected.item(), abs=1e-6)


def test_dice_loss_gradient_passes_gradcheck() -> None:
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 3, 4, 5, generator=g, dtype=torch.float64, requires_grad=True)
    target = torch.randint(0, 3, (2, 4, 5), generator=g)
    target[0, 0, :2] = 255
    assert torch.autograd.gradcheck(lambda x: dice_loss(x, target, eps=0.5), (logits,))


def test_dice_loss_is_zero_for_a_perfect_confident_prediction() -> None:
    target = torch.tensor([[[0, 1], [2, 1]]])
    logits = torch.nn.functional.one_hot(target, 3).permute(0, 3, 1, 2).double() * 100
    assert dice_loss(logits, target).item() == pytest.approx(0.0, abs=1e-9)


def test_class_weights_from_pixel_frequencies() -> None:
    masks = torch.tensor([[[0, 0, 0, 0, 0, 0, 1, 1, 255, 255]]], dtype=torch.uint8)  # f = .75, .25
    w = class_weights(masks, 3, "inverse-sqrt")
    raw = torch.tensor([0.75**-0.5, 0.25**-0.5])
    expected = raw / (0.75 * raw[0] + 0.25 * raw[1])  # the average pixel weighs 1
    assert torch.allclose(w[:2], expected.float()) and w[2] == 0  # class 2 has no pixels
    w = class_weights(masks, 3, "median-frequency")  # median(.75, .25) = .5: .5/.75, .5/.25
    raw = torch.tensor([0.5 / 0.75, 0.5 / 0.25])
    assert torch.allclose(w[:2], (raw / (0.75 * raw[0] + 0.25 * raw[1])).float())
    assert torch.equal(class_weights(masks, 3, "none")[:2], torch.ones(2))
    with pytest.raises(InputError, match="mask value 7 is not a class"):
        class_weights(torch.tensor([[0, 7]], dtype=torch.uint8), 3)


# ---------------------------------------------------------------- metric and AdaBN
def test_scores_match_iou_by_hand_and_skip_ignored_pixels() -> None:
    m = SegmentationScores(3)
    pred = torch.tensor([[0, 0, 1, 1, 2, 0]])
    true = torch.tensor([[0, 1, 1, 1, 255, 0]])
    m.update(pred, true)
    # class 0: inter 2, union 3; class 1: inter 2, union 3; class 2: no pixel anywhere valid
    iou = m.per_class()
    assert iou[:2].tolist() == pytest.approx([2 / 3, 2 / 3]) and iou[2].isnan()
    out = m.compute()
    assert out["miou"].item() == pytest.approx(2 / 3)
    assert out["pixel_accuracy"].item() == pytest.approx(4 / 5)


def test_adabn_changes_batchnorm_statistics_only() -> None:
    torch.manual_seed(0)
    model = UNet(num_classes=3, width=4).eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    shifted = [torch.rand(2, 3, 32, 32) * 0.3 + 0.6 for _ in range(3)]
    adapted = adapt_batchnorm(model, shifted)
    assert not adapted.training
    for k, v in model.state_dict().items():  # the original is untouched
        assert torch.equal(v, before[k]), k
    after = adapted.state_dict()
    stats = [k for k in after if k.endswith(("running_mean", "running_var"))]
    weights = [k for k in after if k not in stats and not k.endswith("num_batches_tracked")]
    assert all(torch.equal(after[k], before[k]) for k in weights)
    assert all(not torch.equal(after[k], before[k]) for k in stats)
    # The first BatchNorm's mean is the plain average of its inputs' means over the batches.
    conv = model.stem.block[0]
    expected = torch.stack([conv(x).mean((0, 2, 3)) for x in shifted]).mean(0)
    assert torch.allclose(after["stem.block.1.running_mean"], expected, atol=1e-5)
    assert adapted.stem.block[1].momentum == model.stem.block[1].momentum


# ---------------------------------------------------------------- augmentation
def _task(*overrides: str) -> SegmentationTask:
    recipe = load_recipe("segmentation-unet", [*TINY, *overrides])
    task = create_task("segmentation", recipe=recipe)
    task.setup()
    return task


def _pattern() -> tuple[torch.Tensor, torch.Tensor]:
    """An asymmetric mask (3 classes in blocks) and an image whose grey level encodes it."""
    mask = torch.zeros(32, 64, dtype=torch.uint8)
    mask[:, :20] = 1
    mask[20:, 40:] = 2
    return (mask * 100).expand(3, 32, 64).clone(), mask


def test_augmentation_moves_image_and_mask_together() -> None:
    augment = _task(
        "task.jitter=0", "task.min_scale=0.5", "task.crop_height=null", "task.crop_width=null"
    )._augmenter()
    image, mask = _pattern()
    torch.manual_seed(0)
    for _ in range(8):
        a, b = augment(image, mask)
        assert a.shape == (3, 32, 64) and b.shape == (32, 64) and b.dtype == torch.uint8
        assert set(b.unique().tolist()) <= {0, 1, 2}  # nearest: no blended labels
        agree = ((a[0].float() / 100).round() == b).float().mean()
        assert agree > 0.95  # bilinear and nearest differ only along the block edges


def test_flips_mirror_image_and_mask_alike() -> None:
    augment = _task(
        "task.jitter=0", "task.min_scale=1.0", "task.crop_height=null", "task.crop_width=null"
    )._augmenter()  # the crop is all
    image, mask = _pattern()
    torch.manual_seed(0)
    seen = set()
    for _ in range(8):
        a, b = augment(image, mask)
        flipped = torch.equal(b, mask.flip(-1))
        assert flipped or torch.equal(b, mask)
        assert torch.equal(a, (image.flip(-1) if flipped else image))
        seen.add(flipped)
    assert seen == {True, False}


def test_colour_jitter_changes_the_image_never_the_mask() -> None:
    augment = _task(
        "task.jitter=0.5",
        "task.min_scale=1.0",
        "task.flip=false",
        "task.crop_height=null",
        "task.crop_width=null",
    )._augmenter()
    image, mask = _pattern()
    image = image.clone()
    image[1] = 50  # some colour, so saturation has something to change
    torch.manual_seed(1)
    a, b = augment(image, mask)
    assert torch.equal(b, mask)
    assert not torch.equal(a, image)


def test_training_crops_are_windows_at_the_images_own_scale() -> None:
    augment = _task(
        "task.jitter=0",
        "task.min_scale=1.0",
        "task.flip=false",
        "task.crop_height=16",
        "task.crop_width=24",
    )._augmenter()
    image, mask = _pattern()
    torch.manual_seed(0)
    corners = set()
    for _ in range(8):
        a, b = augment(image, mask)
        assert a.shape == (3, 16, 24) and b.shape == (16, 24)
        # Not resized: the window equals the source at some offset, pixel for pixel.
        hits = [
            (i, j)
            for i in range(32 - 16 + 1)
            for j in range(64 - 24 + 1)
            if torch.equal(b, mask[i : i + 16, j : j + 24])
            and torch.equal(a, image[:, i : i + 16, j : j + 24])
        ]
        assert hits
        corners.add(hits[0])
    assert len(corners) > 1  # the window moves


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        (["task.crop_width=null"], "together"),
        (["task.crop_height=64", "task.crop_width=32"], "must fit"),
    ],
)
def test_bad_crops_are_refused_in_one_line(overrides: list[str], words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        create_task("segmentation", recipe=load_recipe("segmentation-unet", [*TINY, *overrides]))


# ---------------------------------------------------------------- the recipe on the Trainer
@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    recipe = load_recipe("segmentation-unet", [*TINY, "train.max_steps=3"])
    root = tmp_path_factory.mktemp("seg")
    return run_recipe(recipe, run_dir=root / "run", echo=lambda _: None, progress=False)


def test_recipe_runs_and_reports_miou_shift_and_pictures(run_dir: Path) -> None:
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["steps"] == 3
    assert 0.0 <= summary["test"]["test/miou"] <= 1.0
    assert {"test/miou", "test/pixel_accuracy", "test/loss"} == set(summary["test"])
    report = (run_dir / "report.md").read_text()
    for picture in ("overlays", "worst", "shifted", "confusion", "per_class_iou"):
        assert f"({picture}.png)" in report
        assert (run_dir / f"{picture}.png").stat().st_size > 5000
    shift = json.loads((run_dir / "shift.json").read_text())
    assert set(shift) == {"test", "shifted", "shifted_adabn", "fps", "threads"}
    assert shift["test"]["miou"] == pytest.approx(summary["test"]["test/miou"], abs=1e-6)
    assert "| shifted, after AdaBN |" in report and "frames per second at 32x64" in report
    rows = (run_dir / "per_class.csv").read_text().splitlines()
    assert rows[0] == "class,iou_test,iou_shifted,iou_shifted_adabn,test_pixel_share"
    assert len(rows) == 1 + len(_classes(run_dir))


def _classes(run_dir: Path) -> list[str]:
    return load_trained(run_dir)[1]["classes"]


def test_a_resumed_run_matches_an_uninterrupted_one(tmp_path: Path) -> None:
    task = _task()

    def fit(steps: int, resume: dict | None = None) -> tuple[Trainer, torch.nn.Module]:
        torch.manual_seed(3)
        model = task.build_model()
        trainer = Trainer(max_epochs=5, max_steps=steps)
        trainer.fit(task, model, torch.optim.AdamW(model.parameters(), 1e-3), resume=resume)
        return trainer, model

    _, straight = fit(4)  # two epochs of two batches, augmentation on
    half, _ = fit(3)
    save_checkpoint(tmp_path / "last.safetensors", half.state_dict())
    trainer, resumed = fit(4, resume=load_checkpoint(tmp_path / "last.safetensors"))
    assert trainer.state.step == 4
    for (name, a), b in zip(
        straight.state_dict().items(), resumed.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b), name


def test_predict_writes_a_colour_mask_of_the_image_size(
    run_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model, meta = load_trained(run_dir)
    image = tmp_path / "street.png"
    Image.fromarray(np.full((40, 90, 3), 120, np.uint8)).save(image)
    monkeypatch.chdir(tmp_path)
    (pred,) = SegmentationTask.predict_with(model, meta, [str(image)])
    out = np.asarray(Image.open(tmp_path / "street.mask.png"))
    assert out.shape == (40, 90, 3)
    palette = {tuple(c) for c in meta["colors"]}
    assert {tuple(c) for c in out.reshape(-1, 3).tolist()} <= palette
    assert pred.text.startswith("wrote street.mask.png") and sum(pred.scores) <= 1.0 + 1e-6
    (tmp_path / "street.mask.png").write_bytes(b"mine")
    with pytest.raises(InputError, match="already exists.*--force"):
        SegmentationTask.predict_with(model, meta, [str(image)])
    assert (tmp_path / "street.mask.png").read_bytes() == b"mine"
    SegmentationTask.predict_with(model, meta, [str(image)], force=True)
    assert np.asarray(Image.open(tmp_path / "street.mask.png")).shape == (40, 90, 3)
    (tmp_path / "b").mkdir()
    twin = tmp_path / "b" / "street.png"
    twin.write_bytes(image.read_bytes())
    with pytest.raises(InputError, match="would both write"):
        SegmentationTask.predict_with(model, meta, [str(image), str(twin)], force=True)


def test_force_on_a_task_whose_predict_writes_nothing_is_one_line(
    run_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dllab import experiment

    def writes_nothing(cls, model, meta, inputs, top_k=5):  # a classifier's signature
        return []

    monkeypatch.setattr(SegmentationTask, "predict_with", classmethod(writes_nothing))
    with pytest.raises(InputError, match="--force replaces files"):
        experiment.predict(run_dir, ["x.png"], force=True)
    assert experiment.predict(run_dir, ["x.png"]) == []  # without --force: no objection


def test_onnx_export_matches_pytorch(run_dir: Path) -> None:
    pytest.importorskip("onnxruntime")
    from dllab.deploy.export import export_onnx

    res = export_onnx(run_dir)
    assert res.ok, (res.max_abs_diff, res.exporter)
    assert res.inputs == [{"name": "images", "dtype": "float32", "shape": ["batch", 3, 32, 64]}]


@pytest.mark.parametrize("layout", ["cityscapes", "camvid"])
def test_a_users_folder_in_a_standard_layout_loads_resized(layout: str, tmp_path: Path) -> None:
    from dllab.data.driving_scenes import CLASSES, render_driving_scenes
    from dllab.data.segmentation_formats import write_camvid, write_cityscapes

    write = write_cityscapes if layout == "cityscapes" else write_camvid
    for i, split in enumerate(("train", "val", "test")):
        images, masks = render_driving_scenes(3, height=40, width=80, seed=i)
        write(tmp_path, split, list(images), list(masks))
    task = _task(f"data.name={layout}", f"data.path={tmp_path}")
    assert task.classes == [c.name for c in CLASSES]
    assert task.images_["train"].shape == (3, 3, 32, 64) and task.masks_["val"].shape == (3, 32, 64)
    assert "test_shifted" not in task.images_  # only generated scenes have a shifted split
    if layout == "cityscapes":  # its test labels are not public: val is the test split
        assert torch.equal(task.masks_["test"], task.masks_["val"])
        return
    model = task.build_model()
    pred = task.predict_split(model, "test")
    out = task.visualize(model, tmp_path / "report", [{"pred": pred, "index": torch.arange(3)}])
    assert "shifted.png" not in {p.name for p in out}
    assert "no shifted split" in (tmp_path / "report" / "shift.md").read_text()


def test_bad_settings_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="'driving-scenes', 'cityscapes' or 'camvid'"):
        _task("data.name=cifar10")
    with pytest.raises(ConfigError, match="task.image_height and task.image_width"):
        _task("data.image_size=64")
    with pytest.raises(ConfigError, match="needs data.path"):
        _task("data.name=camvid")
    with pytest.raises(ConfigError, match="nothing would train"):
        _task("task.ce_weight=0", "task.dice_weight=0")
