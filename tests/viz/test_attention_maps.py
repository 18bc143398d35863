"""Attention rollout against its definition, and the attention figure on real shapes."""

import numpy as np
import torch
from PIL import Image

from dllab.viz.attention_maps import attention_rollout, plot_attention_maps


def random_attention(layers, batch, heads, tokens, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(layers, batch, heads, tokens, tokens, generator=g).softmax(-1)


def test_rollout_equals_the_product_of_residual_averaged_blocks():
    maps = random_attention(3, 2, 4, 10)  # 3 blocks, class token + 3 x 3 patches
    got = attention_rollout(maps, grid=3)
    for b in range(2):
        r = np.eye(10)
        for layer in maps[:, b].double().numpy():  # first block first
            a = 0.5 * layer.mean(0) + 0.5 * np.eye(10)
            r = (a / a.sum(1, keepdims=True)) @ r
        np.testing.assert_allclose(got[b].numpy(), r[0, 1:].reshape(3, 3), rtol=1e-5)


def test_rollout_of_uniform_attention_is_uniform_over_the_patches():
    maps = torch.full((4, 1, 2, 17, 17), 1 / 17)
    rolled = attention_rollout(maps, grid=4)
    torch.testing.assert_close(rolled, torch.full((1, 4, 4), float(rolled[0, 0, 0])))
    assert 0 < float(rolled.sum()) < 1  # the class token keeps a share through the residual


def test_attention_figure_has_a_row_per_image(tmp_path):
    images = torch.randint(0, 256, (3, 1, 28, 28), dtype=torch.uint8)
    maps = random_attention(2, 3, 4, 50)
    path = plot_attention_maps(images, maps, tmp_path / "attention.png", row_titles=["a", "b", "c"])
    with Image.open(path) as img:
        w, h = img.size
    assert h > 2 * 28 * 3 and w > h  # 3 rows; 7 columns: input, rollout, mean, 4 heads
