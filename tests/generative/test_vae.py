"""The VAE: its KL term against the closed form and torch.distributions, its likelihoods, and
the `vae` task on the Trainer: a 3-step run of the shipped recipe writes its report and
pictures, logs the ELBO terms apart, measures its samples, and resumes exactly."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from torch.distributions import Normal, kl_divergence

from dllab.config import load_recipe
from dllab.errors import ConfigError, Interrupted
from dllab.experiment import run_recipe
from dllab.models import create_model
from dllab.models.vae import gaussian_kl, reparameterize
from dllab.tasks import create_task
from dllab.train.checkpoint import load_checkpoint


def test_kl_term_equals_the_closed_form_and_torch_distributions() -> None:
    g = torch.Generator().manual_seed(0)
    mu, logvar = torch.randn(5, 3, generator=g), torch.randn(5, 3, generator=g)
    std = (0.5 * logvar).exp()
    closed = 0.5 * (mu**2 + std**2 - 1 - 2 * std.log()).sum(1)  # Kingma & Welling, app. B
    torch_kl = kl_divergence(Normal(mu, std), Normal(0.0, 1.0)).sum(1)
    torch.testing.assert_close(gaussian_kl(mu, logvar), closed)
    torch.testing.assert_close(gaussian_kl(mu, logvar), torch_kl)
    assert gaussian_kl(torch.zeros(1, 2), torch.zeros(1, 2)).item() == 0.0  # q = p


def test_reparameterised_kl_estimate_and_its_gradient_match_the_closed_form() -> None:
    """E_q[log q(z) - log p(z)] over reparameterised draws converges to the closed form, and
    its gradient (through z = μ + σε) to the closed form's gradient."""
    mu = torch.tensor([0.7, -1.2], requires_grad=True)
    logvar = torch.tensor([-0.5, 0.4], requires_grad=True)
    n = 200_000
    g = torch.Generator().manual_seed(1)
    z = reparameterize(mu.expand(n, 2), logvar.expand(n, 2), generator=g)
    q, p = Normal(mu, (0.5 * logvar).exp()), Normal(0.0, 1.0)
    estimate = (q.log_prob(z) - p.log_prob(z)).sum(1)
    closed = gaussian_kl(mu[None], logvar[None])[0]
    sem = float(estimate.detach().std()) / math.sqrt(n)
    assert abs(float(estimate.detach().mean()) - float(closed.detach())) < 4 * sem
    grad_mc = torch.autograd.grad(estimate.mean(), (mu, logvar))
    grad_closed = torch.autograd.grad(closed, (mu, logvar))
    for a, b in zip(grad_mc, grad_closed, strict=True):
        torch.testing.assert_close(a, b, atol=0.02, rtol=0.02)


def test_reparameterised_draws_have_the_posterior_mean_and_spread() -> None:
    mu, logvar = torch.tensor([[2.0, -3.0]]), torch.tensor([[math.log(0.25), 0.0]])
    z = reparameterize(
        mu.expand(100_000, 2), logvar.expand(100_000, 2), torch.Generator().manual_seed(2)
    )
    torch.testing.assert_close(z.mean(0), mu[0], atol=0.01, rtol=0)
    torch.testing.assert_close(z.std(0), torch.tensor([0.5, 1.0]), atol=0.01, rtol=0)


@pytest.mark.parametrize("kind", ["bce", "mse"])
def test_reconstruction_term_is_the_decoders_negative_log_likelihood(kind: str) -> None:
    task = create_task("vae", recipe=load_recipe("vae-fashion", [f"task.reconstruction={kind}"]))
    g = torch.Generator().manual_seed(3)
    logits, x = torch.randn(2, 1, 4, 4, generator=g), torch.rand(2, 1, 4, 4, generator=g)
    mean = torch.sigmoid(logits)
    if kind == "bce":  # Bernoulli: -[x log m + (1 - x) log(1 - m)] summed over pixels
        expected = -(x * mean.log() + (1 - x) * (1 - mean).log()).flatten(1).sum(1)
    else:  # Gaussian with the fixed σ = 0.1
        expected = -Normal(mean, 0.1).log_prob(x).flatten(1).sum(1)
    torch.testing.assert_close(task.reconstruction_nll(logits, x), expected)


def test_vae_maps_images_to_logits_and_a_posterior_of_latent_dim() -> None:
    model = create_model("conv-vae", latent_dim=3, width=8, hidden=16)
    out = model(torch.rand(4, 1, 28, 28))
    assert out.logits.shape == (4, 1, 28, 28)
    assert out.mu.shape == out.logvar.shape == (4, 3)
    assert model.decode(torch.zeros(2, 3)).shape == (2, 1, 28, 28)
    with pytest.raises(ConfigError, match="divisible by 4"):
        create_model("conv-vae", image_size=30)


# ------------------------------------------------------------------ runs of the recipe
STEPS = 3
TINY = [
    "train.max_steps=3",
    "train.checkpoint_every=1",
    "train.log_every=1",
    "data.batch_size=32",
    "data.val_fraction=0.2",
    "task.sample_images=16",
    "model.kwargs.width=8",
    "model.kwargs.hidden=32",
]


@pytest.fixture(scope="module")
def runs(
    tmp_path_factory: pytest.TempPathFactory, fashion_root: Path, stop_at, unpin_catalog
) -> tuple[Path, Path]:
    """The recipe for 3 steps straight, and stopped after step 2 then resumed."""
    root = tmp_path_factory.mktemp("vae")
    recipe = load_recipe("vae-fashion", [f"data.data_dir={fashion_root}", *TINY])
    quiet = {"echo": lambda s: None, "progress": False}
    with pytest.MonkeyPatch.context() as mp:
        unpin_catalog(mp)
        whole = run_recipe(recipe, run_dir=root / "whole", **quiet)
        with pytest.raises(Interrupted):
            run_recipe(recipe, run_dir=root / "cut", extra_callbacks=[stop_at(2)], **quiet)
        cut = run_recipe(recipe, resume=root / "cut", **quiet)
    return whole, cut


def test_a_short_run_writes_the_report_and_its_pictures(runs) -> None:
    whole, _ = runs
    report = (whole / "report.md").read_text()
    for picture in ("reconstructions", "samples", "latent_map", "latent_grid"):
        assert (whole / f"{picture}.png").stat().st_size > 3_000
        assert f"({picture}.png)" in report
    assert "per 1,000" in report and "task.feature_run=" in report  # how to get FID
    record = json.loads((whole / "generation.json").read_text())
    assert record["sample_images"] == 16 and record["quality"] is None


def test_elbo_terms_are_logged_apart_and_add_up(runs) -> None:
    whole, _ = runs
    records = [json.loads(line) for line in (whole / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in records if "train/loss" in r]
    assert len(train) == STEPS
    for r in train:  # β = 1: the loss is the negative ELBO, rec + kl
        assert r["kl"] >= 0 and r["rec"] > 0
        assert r["train/loss"] == pytest.approx(r["rec"] + r["kl"], rel=1e-5)
        assert r["elbo"] == pytest.approx(-r["train/loss"], rel=1e-5)
    test = json.loads((whole / "summary.json").read_text())["test"]
    assert set(test) == {"test/loss", "test/rec", "test/kl", "test/elbo"}
    assert test["test/elbo"] == pytest.approx(-(test["test/rec"] + test["test/kl"]), rel=1e-5)


def test_a_stopped_run_resumes_to_the_same_weights_and_numbers(runs) -> None:
    whole, cut = runs
    a, b = (json.loads((r / "summary.json").read_text()) for r in (whole, cut))
    assert a["steps"] == b["steps"] == STEPS
    assert a["test"] == b["test"] and a["best"] == b["best"]
    wa = load_checkpoint(whole / "checkpoints" / "last.safetensors")["model"]
    wb = load_checkpoint(cut / "checkpoints" / "last.safetensors")["model"]
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert json.loads((whole / "generation.json").read_text())["quality"] is None


def test_a_feature_run_that_does_not_exist_names_the_recipe_that_makes_one(tmp_path) -> None:
    recipe = load_recipe("vae-fashion", [f"task.feature_run={tmp_path / 'nothing'}"])
    task = create_task("vae", recipe=recipe)
    with pytest.raises(ConfigError, match="dllab run fashion-mnist-fast"):
        task.setup()


def test_a_latent_above_two_dimensions_is_mapped_by_its_principal_components(
    tiny_catalog: Path, tmp_path: Path
) -> None:
    recipe = load_recipe("vae-fashion", [f"data.data_dir={tiny_catalog}", "task.sample_images=8"])
    task = create_task("vae", recipe=recipe)
    task.setup()
    model = create_model("conv-vae", latent_dim=5, width=8, hidden=16)
    mu = torch.randn(60, 5)
    paths = task.visualize(model, tmp_path, [{"mu": mu, "labels": torch.arange(60) % 10}])
    names = {p.name for p in paths}
    assert {"latent_map.png", "samples.png", "reconstructions.png"} <= names
    assert "latent_grid.png" not in names  # a decoded grid only makes sense in 2-D
    assert "| latent_dim | 5 |" in (tmp_path / "generation.md").read_text()
