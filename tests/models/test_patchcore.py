"""PatchCore's pieces: the coreset, the blur, the memory bank and positional normalisation."""

import pytest
import torch
from torch import nn

from dllab.models.patchcore import PatchCore, gaussian_blur, greedy_coreset


def test_coreset_takes_one_point_from_each_far_cluster():
    g = torch.Generator().manual_seed(0)
    centres = torch.tensor([[0.0, 0.0], [100.0, 0.0], [0.0, 100.0]])
    points = torch.cat([c + torch.randn(50, 2, generator=g) for c in centres])
    chosen = greedy_coreset(points, 3, seed=1)
    assert sorted((chosen // 50).tolist()) == [0, 1, 2]


def test_blur_of_an_impulse_is_the_gaussian_kernel():
    impulse = torch.zeros(1, 41, 41)
    impulse[0, 20, 20] = 1.0
    out = gaussian_blur(impulse, 2.0)
    x = torch.arange(-8, 9, dtype=torch.float)
    k = torch.exp(-(x**2) / 8)
    k = k / k.sum()
    assert torch.allclose(out[0, 12:29, 12:29], k[:, None] * k[None, :], atol=1e-7)
    assert float(out.sum()) == pytest.approx(1.0)


class StandIn(nn.Module):
    """A backbone with `feature_maps`: the image pooled at strides 2 and 4 (no weights)."""

    def feature_maps(self, x: torch.Tensor) -> list[torch.Tensor]:
        return [nn.functional.avg_pool2d(x, 2), nn.functional.avg_pool2d(x, 4)]


def _model(bank_size: int) -> PatchCore:
    return PatchCore(
        StandIn(), layers=(0, 1), bank_size=bank_size, dim=6, grid=(16, 16), blur_sigma=0
    )


def test_a_patch_is_each_stage_averaged_over_its_3x3_neighbourhood_upsampled_and_stacked():
    """PatchCore sec. 3.1 by hand: the mean of the 9 neighbours (zeros beyond the edge count,
    as `AvgPool2d(3, 1, 1)` in anomalib), the deeper stage upsampled to the first's grid."""
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))

    def by_hand(f: torch.Tensor) -> torch.Tensor:
        padded = nn.functional.pad(f, (1, 1, 1, 1))
        h, w = f.shape[-2:]
        return sum(padded[..., dy : dy + h, dx : dx + w] for dy in range(3) for dx in range(3)) / 9

    maps = StandIn().feature_maps(x)
    deep = nn.functional.interpolate(by_hand(maps[1]), (16, 16), mode="bilinear")
    expected = torch.cat([by_hand(maps[0]), deep], 1)  # (2, 6, 16, 16)
    assert torch.allclose(_model(1).embed(x), expected, atol=1e-6)


def test_good_parts_spread_as_much_at_the_edge_as_inside():
    """Positions are normalised after the smoothing: on good parts the heat map varies as much
    on the border as in the middle. (Normalised first, the blur averages fewer independent
    patches at the mirrored edge, and the edge's larger spread put good parts' maxima there.)"""
    g = torch.Generator().manual_seed(0)
    model = PatchCore(
        StandIn(), layers=(0, 1), bank_size=64, dim=6, grid=(16, 16), blur_sigma=4, stride=2
    )
    held = model.embed(torch.rand(60, 3, 32, 32, generator=g))
    model.fit(model.embed(torch.rand(8, 3, 32, 32, generator=g)), held)
    spread = model(torch.rand(200, 3, 32, 32, generator=g)).std(0)  # (32, 32) over good parts
    edge = torch.cat([spread[0], spread[-1], spread[:, 0], spread[:, -1]]).mean()
    inside = spread[8:24, 8:24].mean()
    assert 0.85 < float(edge / inside) < 1.1  # normalised before the blur: 1.22


def test_patchcore_scores_zero_on_what_it_stored_and_high_where_a_part_changed():
    g = torch.Generator().manual_seed(0)
    good = torch.rand(2, 3, 32, 32, generator=g)
    model = _model(2 * 16 * 16)
    model.fit(model.embed(good))  # (2, 6, 16, 16): every patch in the bank
    assert bool(model.fitted)
    assert float(model(good).abs().max()) < 1e-3
    bad = good[:1].clone()
    bad[:, :, 4:8, 20:24] += 1.0
    m = model(bad)[0]
    assert m.shape == (32, 32) and float(m[4:8, 20:24].mean()) > 10 * float(m[20:, :10].mean())


def test_positional_normalisation_makes_a_per_position_offset_invisible():
    """Every good part carries the same bright mark in its top-left corner, drawn at a random
    strength: the bank holds few mark patches, so raw distances there are high on every good
    part. Normalised by held-out good parts, a new good part's mark scores no higher than the
    rest, while a defect of the same size elsewhere still stands out."""
    g = torch.Generator().manual_seed(0)

    def parts(n: int) -> torch.Tensor:
        x = torch.rand(n, 3, 32, 32, generator=g) * 0.2
        x[:, :, 2:8, 2:8] += torch.rand(n, 1, 1, 1, generator=g) * 3  # the mark (print)
        return x

    model = _model(64)
    bank, held, new = parts(12), parts(8), parts(4)
    model.fit(model.embed(bank))
    raw = model(new)
    mark = (slice(None), slice(2, 8), slice(2, 8))
    assert float(raw[mark].amax()) > 1.5 * float(raw[:, 16:, 16:].amax())  # the mark stands out

    model.fit(model.embed(bank), model.embed(held))
    z = model(new)
    bad = new[:1].clone()
    bad[:, :, 20:26, 20:26] += 1.0  # a defect where good parts are plain
    assert float(z[mark].amax()) < float(z[:, 16:, 16:].amax())  # the mark is now ordinary
    assert float(model(bad)[0, 20:26, 20:26].amax()) > 2 * float(z[mark].amax())


def test_the_bank_rejects_too_few_patches():
    model = _model(1000)
    with pytest.raises(Exception, match="cannot fill a bank of 1000"):
        model.fit(torch.zeros(1, 6, 16, 16))
