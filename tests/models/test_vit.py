"""The ViT's attention maps: every block's, rows that are distributions, the class token's
view of the patch grid, and the same logits from the fused and the spelled-out attention."""

import torch

from dllab.models import create_model
from dllab.viz.attention_maps import class_token_attention


def small_vit(**kw):
    torch.manual_seed(0)
    return create_model("vit-tiny", num_classes=10, n_layers=3, d_model=32, **kw).eval()


def test_every_blocks_attention_rows_sum_to_one():
    maps = small_vit().attention_maps(torch.randn(2, 1, 28, 28))
    assert maps.shape == (3, 2, 4, 50, 50)  # blocks, batch, heads, class token + 7 x 7 patches
    assert bool((maps >= 0).all())
    torch.testing.assert_close(maps.sum(-1), torch.ones(3, 2, 4, 50))


def test_attention_maps_last_block_is_what_forward_returns():
    model, x = small_vit(), torch.randn(2, 1, 28, 28)
    logits, last = model(x, return_attention=True)
    torch.testing.assert_close(model.attention_maps(x)[-1], last)
    torch.testing.assert_close(model(x), logits)


def test_class_token_attention_covers_the_patch_grid():
    model = small_vit(patch_size=7)  # 4 x 4 patches
    maps = model.attention_maps(torch.randn(5, 1, 28, 28))
    cls = class_token_attention(maps[-1], grid=4)
    assert cls.shape == (5, 4, 4, 4)  # batch, heads, grid rows, grid columns
    # What is left of each head's row goes to the class token itself.
    torch.testing.assert_close(cls.sum((-1, -2)) + maps[-1][:, :, 0, 0], torch.ones(5, 4))
    assert torch.equal(cls[:, :, 1, 2], maps[-1][:, :, 0, 1 + 1 * 4 + 2])  # row-major patches


def test_fused_and_spelled_out_attention_give_the_same_logits():
    fused, spelled = small_vit(fused_attention=True), small_vit(fused_attention=False)
    x = torch.randn(3, 1, 28, 28)
    torch.testing.assert_close(fused(x), spelled(x), atol=1e-5, rtol=1e-5)
