"""Write a small image folder of real photographs to try `transfer.py --folder` on.

Six classes of grey crops from scikit-image's bundled photographs (no download): three
texture photos (`brick`, `grass`, `gravel`) and three other photos with a texture of their own
(`moon`: the lunar surface, `coins`: a tray of coins, `cell`: a microscope image). Each source
image is cut into three bands of rows, top to bottom train / val / test, and crops are drawn
only inside their band, so no test crop overlaps a training one. Crops are square, 40-96 px
(the loader resizes them to the recipe's 64), with random flips, so the classes differ by
texture, not by where the crop came from. Seeded: the same folder every time.

    python benchmarks/make_texture_folder.py OUT [--train 20] [--val 10] [--test 30] [--seed 0]

OUT/{train,val,test}/<class>/NNN.png: the ROOT/{train,val,test}/CLASS layout of
`dllab.data.folder`, 20 labelled training images per class by default.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image
from skimage import data

SOURCES = ("brick", "grass", "gravel", "moon", "coins", "cell")
BANDS = {"train": (0.0, 0.5), "val": (0.5, 0.68), "test": (0.68, 1.0)}  # fractions of the rows
CROP = (40, 96)  # side of a square crop, in source pixels


def band_crops(image: np.ndarray, rows: tuple[float, float], n: int, rng: np.random.Generator):
    """`n` random square crops (uint8, side in CROP, clipped to the band) inside one band."""
    top, bottom = int(rows[0] * image.shape[0]), int(rows[1] * image.shape[0])
    band = image[top:bottom]
    for _ in range(n):
        side = int(rng.integers(CROP[0], min(CROP[1], band.shape[0], band.shape[1]) + 1))
        y = int(rng.integers(0, band.shape[0] - side + 1))
        x = int(rng.integers(0, band.shape[1] - side + 1))
        crop = band[y : y + side, x : x + side]
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        if rng.random() < 0.5:
            crop = crop[::-1]
        yield np.ascontiguousarray(crop)


def make_folder(out: Path, counts: dict[str, int], seed: int = 0) -> Path:
    """Write OUT/{train,val,test}/<class>/NNN.png; returns OUT."""
    rng = np.random.default_rng(seed)
    for name in SOURCES:
        image = np.asarray(getattr(data, name)())
        if image.ndim == 3:  # none of the sources is colour today; keep them grey regardless
            image = image[..., :3].mean(axis=2).astype(np.uint8)
        for split, n in counts.items():
            folder = out / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for i, crop in enumerate(band_crops(image, BANDS[split], n, rng)):
                Image.fromarray(crop).save(folder / f"{i:03d}.png")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--train", type=int, default=20, help="labelled training images per class")
    ap.add_argument("--val", type=int, default=10)
    ap.add_argument("--test", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    counts = {"train": args.train, "val": args.val, "test": args.test}
    out = make_folder(args.out, counts, args.seed)
    total = sum(counts.values()) * len(SOURCES)
    print(f"wrote {total} images of {len(SOURCES)} classes to {out}/{{train,val,test}}/")


if __name__ == "__main__":
    main()
