"""Classification pieces: batch augmentation, per-class metrics, prediction from metadata."""

import numpy as np
import pytest
import torch
from PIL import Image

from dllab.errors import InputError
from dllab.models import create_model
from dllab.tasks.classification import (
    load_image,
    predict_images,
    random_hflip,
    random_shift,
)
from dllab.tasks.labels import write_per_class


def test_random_shift_moves_each_image_within_the_pad():
    torch.manual_seed(0)
    x = torch.zeros(64, 1, 9, 9)
    x[:, :, 4, 4] = 1.0  # one bright pixel in the centre of every image
    y = random_shift(x, pad=2)
    assert y.shape == x.shape and torch.all(y.sum((1, 2, 3)) == 1)
    rows = y[:, 0].sum(2).argmax(1)
    cols = y[:, 0].sum(1).argmax(1)
    assert set(rows.tolist()) == {2, 3, 4, 5, 6} and set(cols.tolist()) == {2, 3, 4, 5, 6}


def test_random_hflip_flips_about_half_and_keeps_the_rest():
    torch.manual_seed(0)
    x = torch.arange(2 * 3 * 4, dtype=torch.float).view(1, 2, 3, 4).repeat(200, 1, 1, 1)
    y = random_hflip(x)
    flipped = (y == x.flip(3)).flatten(1).all(1)
    kept = (y == x).flatten(1).all(1)
    assert torch.all(flipped ^ kept) and 70 < int(flipped.sum()) < 130


def test_per_class_metrics_from_a_confusion_matrix(tmp_path):
    cm = np.array([[8, 2], [1, 9]])  # rows: true
    text = write_per_class(cm, ["cat", "dog"], tmp_path / "pc.csv").read_text()
    assert "cat,0.8889,0.8000,0.8421,10" in text and "dog,0.8182,0.9000,0.8571,10" in text


def test_load_image_converts_and_resizes(tmp_path):
    Image.new("RGB", (40, 30), (255, 0, 0)).save(tmp_path / "r.png")
    grey = load_image(str(tmp_path / "r.png"), 1, 8)
    rgb = load_image(str(tmp_path / "r.png"), 3, 8)
    assert grey.shape == (1, 8, 8) and rgb.shape == (3, 8, 8) and rgb.dtype == torch.uint8
    assert int(rgb[0, 0, 0]) == 255 and int(rgb[1, 0, 0]) == 0
    with pytest.raises(InputError, match="PNG or JPEG"):
        (tmp_path / "x.png").write_text("no")
        load_image(str(tmp_path / "x.png"), 1, 8)


def test_predict_images_uses_the_metadata_preprocessing(tmp_path):
    meta = {
        "in_channels": 1,
        "image_size": 8,
        "mean": [0.5],
        "std": [0.25],
        "classes": [str(i) for i in range(10)],
    }
    model = create_model("quickstart-cnn", num_classes=10, in_channels=1, image_size=8).eval()
    Image.fromarray(np.full((8, 8), 200, np.uint8)).save(tmp_path / "a.png")
    [p] = predict_images(model, meta, [str(tmp_path / "a.png")], top_k=3)
    x = (torch.full((1, 1, 8, 8), 200 / 255) - 0.5) / 0.25
    with torch.no_grad():
        expected = model(x).softmax(1)[0]
    assert p.scores[0] == pytest.approx(float(expected.max()), abs=1e-6)
    assert p.labels[0] == str(int(expected.argmax())) and len(p.labels) == 3
