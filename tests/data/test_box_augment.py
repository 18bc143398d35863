"""Scale and translation jitter moves each box with its object, and drops boxes pushed out."""

import torch

from dllab.data.box_augment import scale_translate


def _square_scene(box: list[float]) -> tuple[torch.Tensor, dict]:
    image = torch.zeros(3, 64, 64)
    x1, y1, x2, y2 = (int(v) for v in box)
    image[:, y1:y2, x1:x2] = 1.0
    return image, {"boxes": torch.tensor([box]), "labels": torch.tensor([7])}


def test_a_box_follows_its_object_through_zoom_and_shift():
    jitter = scale_translate(fill=0.0)
    for seed in range(10):
        torch.manual_seed(seed)
        image, target = _square_scene([20.0, 24.0, 36.0, 40.0])
        out, moved = jitter(image, target)
        ys, xs = torch.nonzero(out[0] > 0.5, as_tuple=True)
        seen = torch.tensor([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], dtype=torch.float)
        assert moved["labels"].tolist() == [7]
        assert torch.allclose(moved["boxes"][0], seen, atol=1.5), (seed, moved["boxes"], seen)
        assert out.shape == image.shape and out.dtype == torch.float32


def test_a_box_pushed_out_of_the_image_is_dropped_with_its_label():
    jitter = scale_translate(scale=(1.4, 1.4), translate=0.1)
    kept = []
    for seed in range(20):
        torch.manual_seed(seed)
        image, target = _square_scene([0.0, 0.0, 3.0, 3.0])  # a 3 px object in the corner
        _, moved = jitter(image, target)
        assert len(moved["boxes"]) == len(moved["labels"])
        kept.append(len(moved["labels"]))
        for box in moved["boxes"]:
            assert 0 <= box[0] < box[2] <= 64 and 0 <= box[1] < box[3] <= 64
    assert 0 in kept  # shifted away from the corner, it leaves the image
