"""A user's own folder of images trains, streams through DataLoader workers, and predicts."""

import json

import numpy as np
from PIL import Image


def _write_folder(root, per_class=24, size=20, seed=0):
    """Two classes a CNN separates easily: a bright square vs a bright horizontal bar."""
    rng = np.random.default_rng(seed)
    for split, n in (("train", per_class), ("val", 6), ("test", 6)):
        for label in ("bar", "square"):
            folder = root / split / label
            folder.mkdir(parents=True)
            for i in range(n):
                img = rng.integers(0, 40, (size, size, 3), dtype=np.uint8)
                y, x = rng.integers(2, size - 10, 2)
                if label == "square":
                    img[y : y + 8, x : x + 8] = 230
                else:
                    img[y : y + 3, 1 : size - 1] = 230
                ext = "png" if i % 2 else "jpg"
                Image.fromarray(img).save(folder / f"{i}.{ext}")


def test_folder_recipe_trains_and_predicts(tmp_path, dllab):
    _write_folder(tmp_path / "shapes")
    out = dllab(
        "run",
        "quickstart",
        "data.name=folder",
        f"data.path={tmp_path / 'shapes'}",
        "data.image_size=16",
        "data.num_workers=1",
        "train.max_epochs=8",
        "--run-dir",
        "runs/shapes",
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    run = tmp_path / "runs/shapes"
    summary = json.loads((run / "summary.json").read_text())
    assert summary["test"]["test/accuracy"] >= 0.9
    assert json.loads((run / "env.json").read_text())["data_checksums"] is not None
    sample = tmp_path / "shapes/test/square/0.jpg"
    pred = dllab("predict", str(run), str(sample), "--top-k", "1", cwd=tmp_path)
    assert pred.returncode == 0 and ": square" in pred.stdout, pred.stdout + pred.stderr


def test_unreadable_file_in_folder_is_a_one_line_error(tmp_path, dllab):
    _write_folder(tmp_path / "shapes", per_class=4)
    (tmp_path / "shapes/train/bar/broken.png").write_bytes(b"\x89PNG not really")
    out = dllab(
        "run",
        "quickstart",
        "data.name=folder",
        f"data.path={tmp_path / 'shapes'}",
        "data.image_size=16",
        cwd=tmp_path,
    )
    assert out.returncode == 2 and "broken.png" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
