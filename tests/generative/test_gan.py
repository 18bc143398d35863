"""GANs on the shared Trainer: the gradient penalty, the models, the recipes end to end, and
exact resume with two optimisers (`dllab.models.gan`, `dllab.tasks.gan`)."""

from __future__ import annotations

import json

import pytest
import torch
from PIL import Image
from torch import nn

from dllab.config import load_recipe
from dllab.errors import ConfigError
from dllab.experiment import build_task, run_recipe
from dllab.models import create_model
from dllab.tasks.gan import gradient_penalty, slerp
from dllab.train.callbacks import Checkpoint
from dllab.train.checkpoint import load_checkpoint
from dllab.train.trainer import Trainer


class Squared(nn.Module):
    """D(x) = a * ||x||^2 / 2, so grad_x D = a x: the penalty has a closed form."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Parameter(torch.tensor(0.7))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.a * 0.5 * x.flatten(1).pow(2).sum(1)


def test_gradient_penalty_equals_the_closed_form_and_trains_the_critic() -> None:
    g = torch.Generator().manual_seed(0)
    real, fake = torch.rand(5, 1, 4, 4, generator=g), torch.rand(5, 1, 4, 4, generator=g)
    eps = torch.rand(5, 1, 1, 1, generator=g)
    critic = Squared()
    gp = gradient_penalty(critic, real, fake, eps=eps)
    mixed_norm = (eps * real + (1 - eps) * fake).flatten(1).norm(dim=1)
    a = critic.a.detach()
    assert gp.item() == pytest.approx(((a * mixed_norm - 1) ** 2).mean().item(), rel=1e-6)
    gp.backward()  # d/da of mean((a |x^| - 1)^2): the penalty reaches the critic's weights
    expected = (2 * (a * mixed_norm - 1) * mixed_norm).mean()
    assert critic.a.grad.item() == pytest.approx(expected.item(), rel=1e-5)


def test_gradient_penalty_is_zero_for_a_unit_norm_linear_critic() -> None:
    critic = nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, 1))
    with torch.no_grad():
        critic[1].weight /= critic[1].weight.norm()
    real, fake = torch.rand(8, 1, 28, 28), torch.rand(8, 1, 28, 28)
    assert gradient_penalty(critic, real, fake).item() < 1e-10
    with torch.no_grad():
        critic[1].weight *= 2  # gradient norm 2 everywhere: penalty (2 - 1)^2
    assert gradient_penalty(critic, real, fake).item() == pytest.approx(1.0, rel=1e-5)


def test_slerp_keeps_its_ends_and_the_norm_between_equal_norm_latents() -> None:
    a, b = torch.tensor([3.0, 0.0]), torch.tensor([0.0, 3.0])
    path = slerp(a, b, torch.linspace(0, 1, 5))
    assert torch.allclose(path[0], a) and torch.allclose(path[-1], b, atol=1e-6)
    assert torch.allclose(path.norm(dim=1), torch.full((5,), 3.0))


@pytest.mark.parametrize("size", [28, 32])
def test_generator_and_critic_shapes_for_both_image_sizes(size: int) -> None:
    gan = create_model("dcgan-small", image_size=size, conditional=True)
    z, labels = torch.randn(3, gan.latent_dim), torch.tensor([0, 4, 9])
    images = gan(z, labels)
    assert images.shape == (3, 1, size, size)
    assert images.min() >= -1 and images.max() <= 1
    assert gan.critic(images, labels).shape == (3,)
    samples = gan.eval().sample(4)
    assert samples.shape == (4, 1, size, size) and samples.min() >= 0 and samples.max() <= 1


def test_a_conditional_critic_without_labels_and_a_bad_size_are_one_line() -> None:
    gan = create_model("dcgan-small", conditional=True)
    with pytest.raises(ConfigError, match="needs labels"):
        gan.critic(torch.zeros(2, 1, 28, 28))
    with pytest.raises(ConfigError, match="divisible by 4"):
        create_model("dcgan", image_size=30)


def test_frames_are_kept_once_per_generator_step_and_thinned_when_full() -> None:
    gan = create_model("dcgan-small", max_frames=4, grid_size=4).eval()
    assert gan.record_frame() and not gan.record_frame()  # same step: one frame
    for _ in range(4):
        gan.generator_steps += 1
        gan.record_frame()
    frames, steps = gan.recorded_frames()
    assert steps == [0, 2, 4] and frames.shape == (3, 4, 1, 28, 28)  # 5 frames into 4: thinned


def test_wgan_gp_with_a_batchnorm_critic_is_refused(tiny_catalog) -> None:
    recipe = load_recipe(
        "gan-wgan-gp", [f"data.data_dir={tiny_catalog}", "model.kwargs.critic_norm=batch"]
    )
    task = build_task(recipe)
    task.setup()
    with pytest.raises(ConfigError, match="critic_norm=layer"):
        task.model_kwargs()


def test_a_missing_feature_run_is_refused_before_training(tiny_catalog, tmp_path) -> None:
    recipe = load_recipe(
        "gan-dcgan", [f"data.data_dir={tiny_catalog}", f"task.feature_run={tmp_path / 'none'}"]
    )
    with pytest.raises(ConfigError, match="dllab run fashion-mnist-fast"):
        build_task(recipe).setup()


def _smoke(recipe: str, root, extra=()) -> list[str]:
    return [
        f"data.data_dir={root}",
        "data.batch_size=16",
        "data.val_fraction=0.2",
        "data.eval_batch_size=100",
        "train.max_steps=3",
        "train.val_every=2",
        "train.checkpoint_every=0",
        "train.log_every=1",
        "train.threads=1",
        "task.quality_samples=50",
        *(["task.n_critic=1"] if recipe == "gan-wgan-gp" else []),
        *extra,
    ]


@pytest.mark.parametrize("recipe", ["gan-dcgan", "gan-wgan-gp", "gan-conditional"])
def test_each_recipe_trains_and_writes_its_report(recipe, tiny_catalog, classifier_run, tmp_path):
    conditional = recipe == "gan-conditional"
    extra = [f"task.feature_run={classifier_run}"] if conditional else []
    run = run_recipe(
        load_recipe(recipe, _smoke(recipe, tiny_catalog, extra)),
        run_dir=tmp_path / "run",
        echo=lambda s: None,
        progress=False,
    )
    grids = sorted((run / "grids").glob("step_*.png"))
    assert [p.name for p in grids] == ["step_000002.png", "step_000003.png"]
    with Image.open(run / "training.gif") as gif:
        assert gif.n_frames == 2
    for name in ("samples.png", "interpolation.png", "losses.png", "curves.png"):
        assert (run / name).stat().st_size > 1000, name
    report = (run / "report.md").read_text("utf-8")
    assert "NOT comparable to the Inception-feature FIDs" in report
    assert "](training.gif)" in report and "](grids/step_000003.png)" in report
    logged = set().union(*(json.loads(line) for line in (run / "metrics.jsonl").open()))
    assert {"train/loss", "train/loss_generator", "train/critic_gap"} <= logged
    assert ("train/gp" in logged) == (recipe == "gan-wgan-gp")
    if conditional:
        quality = json.loads((run / "quality.json").read_text("utf-8"))
        assert {"fid", "kid_mean", "fid_floor", "accuracy", "class_histogram"} <= set(quality)
        assert "| FID |" in report and "goal ≥ 0.90" in report
        assert (run / "class_histogram.png").exists()
    else:
        assert "FID skipped" in report and "dllab run fashion-mnist-fast" in report


def _fit(task, steps: int, callbacks=(), resume=None) -> Trainer:
    torch.manual_seed(int(resume is not None))  # resumed: other weights until loaded
    model = task.build_model()
    trainer = Trainer(max_epochs=9, max_steps=steps, val_every=2, callbacks=callbacks)
    trainer.fit(task, model, task.configure_optimizers(model), resume=resume)
    return trainer


def test_a_killed_wgan_gp_run_resumes_to_the_same_weights_and_optimisers(
    tiny_catalog, tmp_path, stop_at
):
    overrides = _smoke("gan-wgan-gp", tiny_catalog) + ["task.n_critic=2"]
    task = build_task(load_recipe("gan-wgan-gp", overrides))
    task.setup()
    straight = _fit(task, 7).state_dict()
    with pytest.raises(KeyboardInterrupt):
        _fit(
            task, 7, [Checkpoint(tmp_path, every=3, monitor="val/generator_steps"), stop_at(5)]
        )  # last checkpoint: step 3
    state = load_checkpoint(tmp_path / "last.safetensors")
    assert state["trainer"]["step"] == 4 and set(state["optimizers"]) == {"generator", "critic"}
    resumed = _fit(task, 7, resume=state).state_dict()

    assert int(resumed["model"]["generator_steps"]) == 3  # at critic steps 2, 4 and 6
    assert resumed["model"]["frame_steps"].tolist()[:4] == [1, 2, 3, -1]
    for name, tensor in straight["model"].items():
        assert torch.equal(tensor, resumed["model"][name]), name
    for opt in ("generator", "critic"):
        moments = straight["optimizers"][opt]["state"]
        for key, value in moments.items():
            again = resumed["optimizers"][opt]["state"][key]
            assert torch.equal(value["exp_avg_sq"], again["exp_avg_sq"]), (opt, key)
