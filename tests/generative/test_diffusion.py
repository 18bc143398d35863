"""The DDPM pieces against their formulas (schedules, forward noising, DDIM and DDPM steps),
and the `diffusion` task on the Trainer: a 3-step run of the shipped recipe writes its report
and pictures, times its samplers, scores its DDIM samples with the feature classifier when
asked, and resumes exactly."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from dllab.config import load_recipe
from dllab.errors import ConfigError, Interrupted
from dllab.experiment import run_recipe
from dllab.models import create_model
from dllab.models.diffusion import (
    NoiseSchedule,
    ddim_sample,
    ddim_step,
    ddim_timesteps,
    ddpm_sample,
    q_sample,
)
from dllab.train.checkpoint import load_checkpoint


# ------------------------------------------------------------------ schedules
@pytest.mark.parametrize("T", [1000, 200])
def test_linear_alphas_cumprod_is_the_product_of_one_minus_beta(T: int) -> None:
    s = NoiseSchedule.create("linear", T)
    betas = [(1e-4 + (0.02 - 1e-4) * i / (T - 1)) * 1000 / T for i in range(T)]
    expected, prod = [], 1.0
    for b in betas:
        prod *= 1 - b
        expected.append(prod)
    torch.testing.assert_close(s.alphas_cumprod, torch.tensor(expected, dtype=torch.float64))
    if T == 1000:  # Ho et al.'s numbers
        assert s.betas[0].item() == pytest.approx(1e-4) and s.betas[-1].item() == pytest.approx(
            0.02
        )


@pytest.mark.parametrize("T", [1000, 50])
def test_cosine_alphas_cumprod_follows_nichol_and_dhariwal(T: int) -> None:
    s = NoiseSchedule.create("cosine", T)
    f = lambda t: math.cos((t / T + 0.008) / 1.008 * math.pi / 2) ** 2  # noqa: E731
    expected = torch.tensor([f(t + 1) / f(0) for t in range(T)], dtype=torch.float64)
    ab = s.alphas_cumprod
    unclipped = s.betas < 0.999  # only the last steps are clipped, as in their code
    assert unclipped[: T - 1].all() and s.betas.max() <= 0.999
    torch.testing.assert_close(ab[: T - 1], expected[: T - 1])
    assert (ab[1:] < ab[:-1]).all() and ab[-1] < 1e-3


def test_an_unknown_schedule_is_refused_with_the_choices() -> None:
    with pytest.raises(ConfigError, match="'linear' or 'cosine'"):
        NoiseSchedule.create("quadratic", 10)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["linear", "cosine"])
def test_forward_noising_matches_q_xt_given_x0_statistically(name: str) -> None:
    """x_t ~ N(√ᾱ_t x_0, (1 - ᾱ_t) I): mean and variance over many draws, at several t."""
    s = NoiseSchedule.create(name, 1000)
    g = torch.Generator().manual_seed(0)
    x0 = torch.tensor([-0.8, 0.3, 1.0]).view(1, 3, 1, 1).expand(20_000, 3, 1, 1)
    for t in (0, 250, 700, 999):
        xt = q_sample(s, x0, torch.full((len(x0),), t), torch.randn(x0.shape, generator=g))
        ab = s.alphas_cumprod[t].item()
        mean, var = xt.mean(0).flatten(), xt.var(0).flatten()
        torch.testing.assert_close(mean, math.sqrt(ab) * x0[0].flatten(), atol=0.03, rtol=0)
        torch.testing.assert_close(var, torch.full((3,), 1 - ab), atol=0.03, rtol=0.03)


# ------------------------------------------------------------------ samplers
def _oracle(schedule: NoiseSchedule, x0: torch.Tensor):
    """A model that knows x_0 and so predicts the true noise of any x_t."""

    def eps(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        ab = schedule.alpha_bar(t, x)
        return (x - ab.sqrt() * x0) / (1 - ab).sqrt()

    return eps


@pytest.mark.parametrize("clip", [False, True])
def test_one_ddim_step_with_the_true_noise_gives_x0_back_exactly(clip: bool) -> None:
    s = NoiseSchedule.create("cosine", 100)
    g = torch.Generator().manual_seed(1)
    x0 = torch.rand(4, 1, 8, 8, generator=g) * 2 - 1
    noise = torch.randn(x0.shape, generator=g)
    t = torch.full((4,), 63)
    xt = q_sample(s, x0, t, noise)
    back = ddim_step(xt, noise, s.alpha_bar(t, xt), s.alpha_bar(-1, xt), clip=clip)
    torch.testing.assert_close(back, x0, atol=1e-5, rtol=0)


@pytest.mark.parametrize("eta", [0.0, 1.0])
def test_ddim_sampling_with_a_true_noise_model_ends_at_x0(eta: float) -> None:
    s = NoiseSchedule.create("linear", 200)
    x0 = torch.rand(3, 1, 6, 6, generator=torch.Generator().manual_seed(2)) * 2 - 1
    x_T = torch.randn(x0.shape, generator=torch.Generator().manual_seed(3))
    got, _ = ddim_sample(_oracle(s, x0), s, x_T, steps=20, eta=eta, generator=torch.Generator())
    torch.testing.assert_close(got, x0, atol=1e-5, rtol=0)


def _toy_model(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """A fixed nonlinear ε̂(x, t): samplers that agree on it agree on any model."""
    return torch.tanh(0.7 * x + 0.3 * x.roll(1, -1)) * (
        1 + 0.5 * torch.sin(t.to(x.dtype) / 7)
    ).view(-1, 1, 1, 1)


@pytest.mark.parametrize("clip", [False, True])
def test_ddim_with_every_step_and_eta_one_is_ddpm_with_the_posterior_variance(clip: bool) -> None:
    s = NoiseSchedule.create("cosine", 60)
    x_T = torch.randn(4, 1, 5, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    ddim, _ = ddim_sample(
        _toy_model, s, x_T, steps=60, eta=1.0, generator=torch.Generator().manual_seed(5), clip=clip
    )
    ddpm, _ = ddpm_sample(
        _toy_model,
        s,
        x_T,
        generator=torch.Generator().manual_seed(5),
        variance="posterior",
        clip=clip,
    )
    torch.testing.assert_close(ddim, ddpm, atol=1e-9, rtol=1e-9)
    other, _ = ddpm_sample(
        _toy_model, s, x_T, generator=torch.Generator().manual_seed(6), clip=clip
    )
    assert not torch.allclose(ddpm, other)  # the noise matters: the match is not trivial


def test_ddim_with_eta_zero_is_deterministic_and_eta_one_follows_its_seed() -> None:
    s = NoiseSchedule.create("cosine", 100)
    x_T = torch.randn(2, 1, 5, 5, generator=torch.Generator().manual_seed(7))
    a, _ = ddim_sample(_toy_model, s, x_T, steps=10, generator=torch.Generator().manual_seed(1))
    b, _ = ddim_sample(_toy_model, s, x_T, steps=10, generator=torch.Generator().manual_seed(2))
    assert torch.equal(a, b)
    c, _ = ddim_sample(
        _toy_model, s, x_T, steps=10, eta=1.0, generator=torch.Generator().manual_seed(1)
    )
    d, _ = ddim_sample(
        _toy_model, s, x_T, steps=10, eta=1.0, generator=torch.Generator().manual_seed(1)
    )
    e, _ = ddim_sample(
        _toy_model, s, x_T, steps=10, eta=1.0, generator=torch.Generator().manual_seed(2)
    )
    assert torch.equal(c, d) and not torch.allclose(c, e)


def test_ddim_timesteps_span_the_schedule_and_records_are_kept() -> None:
    assert ddim_timesteps(1000, 50)[0] == 0 and ddim_timesteps(1000, 50)[-1] == 999
    assert len(ddim_timesteps(1000, 50)) == 50
    assert ddim_timesteps(10, 50) == list(range(10))
    s = NoiseSchedule.create("linear", 30)
    x_T = torch.randn(1, 1, 4, 4)
    _, seen = ddpm_sample(_toy_model, s, x_T, generator=torch.Generator(), record=[29, 10, 0])
    assert sorted(seen) == [0, 10, 29] and torch.equal(seen[29], x_T)


@pytest.mark.parametrize("name", ["ddpm-unet", "ddpm-unet-small"])
def test_unet_predicts_noise_of_the_input_shape_and_depends_on_t(name: str) -> None:
    torch.manual_seed(0)
    model = create_model(name, in_channels=3, image_size=32, width=8)
    for p in model.parameters():  # the output convs start at zero (each block the identity)
        if not p.any():
            torch.nn.init.normal_(p, std=0.1)
    x = torch.randn(2, 3, 32, 32)
    out0, out9 = model(x, torch.tensor([0, 0])), model(x, torch.tensor([9, 9]))
    assert out0.shape == x.shape and not torch.allclose(out0, out9)
    with pytest.raises(ConfigError, match="divisible by 4"):
        create_model(name, image_size=30)


# ------------------------------------------------------------------ runs of the recipe
STEPS = 3
TINY = [
    "train.max_steps=3",
    "train.checkpoint_every=1",
    "train.val_every=0",
    "data.batch_size=32",
    "data.val_fraction=0.2",
    "task.timesteps=12",
    "task.ddim_steps=4",
    "task.ddpm_images=6",
    "task.sample_images=10",
    "model.kwargs.width=8",
]


class _FakeQuality:
    """Stands in for dllab.metrics.generative: records what the task hands it."""

    def __init__(self) -> None:
        self.calls: list[tuple[torch.Tensor, torch.Tensor]] = []

    def load_feature_classifier(self, run_dir, *, dataset, image_size):
        assert Path(run_dir).is_dir() and (dataset, image_size) == ("fashion-mnist", 28)
        return "classifier"

    def sample_quality(self, samples, real, classifier, *, labels=None):
        self.calls.append((samples, real))
        return {
            "fid": 12.5,
            "kid_mean": 0.01,
            "kid_std": 0.002,
            "class_histogram": {"a": 1.0},
            "collapse": "a",
        }


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, fashion_root: Path, stop_at, unpin_catalog):
    """The recipe for 3 steps straight, and stopped after step 2 then resumed; both score
    their DDIM samples with a (fake) feature classifier."""
    import dllab.metrics.generative as generative

    root = tmp_path_factory.mktemp("ddpm")
    (root / "classifier-run").mkdir()
    fake = _FakeQuality()
    recipe = load_recipe(
        "ddpm-fashion",
        [f"data.data_dir={fashion_root}", f"task.feature_run={root / 'classifier-run'}", *TINY],
    )
    quiet = {"echo": lambda s: None, "progress": False}
    with pytest.MonkeyPatch.context() as mp:
        unpin_catalog(mp)
        mp.setattr(generative, "load_feature_classifier", fake.load_feature_classifier)
        mp.setattr(generative, "sample_quality", fake.sample_quality)
        whole = run_recipe(recipe, run_dir=root / "whole", **quiet)
        with pytest.raises(Interrupted):
            run_recipe(recipe, run_dir=root / "cut", extra_callbacks=[stop_at(2)], **quiet)
        cut = run_recipe(recipe, resume=root / "cut", **quiet)
    return whole, cut, fake


def test_a_short_run_writes_the_report_pictures_and_sampling_times(runs) -> None:
    whole, _, _ = runs
    report = (whole / "report.md").read_text()
    for picture in ("samples_ddim", "samples_ddpm", "reverse_process"):
        assert (whole / f"{picture}.png").stat().st_size > 3_000
        assert f"({picture}.png)" in report
    assert "DDPM sampling (all 12 steps)" in report and "per 1,000" in report
    record = json.loads((whole / "generation.json").read_text())
    assert record["ddpm_images"] == 6 and record["ddpm_seconds"] > 0
    assert record["sample_images"] == 10 and record["seconds_per_1000"] > 0


def test_ddim_samples_are_scored_against_the_test_images(runs) -> None:
    whole, _, fake = runs
    samples, real = fake.calls[0]
    assert samples.shape == (10, 1, 28, 28) and real.shape == (60, 1, 28, 28)
    assert samples.min() >= 0 and samples.max() <= 1 and real.max() <= 1
    record = json.loads((whole / "generation.json").read_text())
    assert record["quality"]["fid"] == 12.5
    report = (whole / "report.md").read_text()
    assert "| fid | 12.5 |" in report and "| collapse | a |" in report


def test_a_stopped_run_resumes_to_the_same_weights_and_numbers(runs) -> None:
    whole, cut, _ = runs
    a, b = (json.loads((r / "summary.json").read_text()) for r in (whole, cut))
    assert a["steps"] == b["steps"] == STEPS
    assert a["test"] == b["test"] and a["best"] == b["best"]
    wa = load_checkpoint(whole / "checkpoints" / "last.safetensors")["model"]
    wb = load_checkpoint(cut / "checkpoints" / "last.safetensors")["model"]
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    ja, jb = (json.loads((r / "generation.json").read_text()) for r in (whole, cut))
    assert ja["quality"] == jb["quality"]


def test_more_ddim_steps_than_timesteps_is_refused_in_one_line() -> None:
    from dllab.tasks import create_task

    with pytest.raises(ConfigError, match="ddim_steps=50 is more than task.timesteps=20"):
        create_task("diffusion", recipe=load_recipe("ddpm-fashion", ["task.timesteps=20"]))
