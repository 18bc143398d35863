"""CycleGAN on the shared Trainer: the networks, the losses, the image pool, one step of both
optimisers, the recipe end to end and exact resume (`dllab.models.cyclegan`,
`dllab.tasks.cyclegan`)."""

from __future__ import annotations

import json

import pytest
import torch
from PIL import Image
from torch import nn

import dllab.models.cyclegan  # noqa: F401  registers the models until dllab.models imports it
import dllab.tasks.cyclegan  # noqa: F401  registers the task until dllab.tasks imports it
from dllab.config import load_recipe
from dllab.errors import ConfigError
from dllab.experiment import build_task, run_recipe
from dllab.models import create_model
from dllab.models.cyclegan import ImagePool, PatchDiscriminator, receptive_field
from dllab.tasks.cyclegan import (
    CycleGANTask,
    cycle_loss,
    identity_loss,
    train_domain_classifier,
)
from dllab.train.callbacks import Checkpoint
from dllab.train.checkpoint import load_checkpoint
from dllab.train.trainer import Trainer

TINY = [  # 32x64 scenes, a few of each, and networks a few thousand parameters big
    "task.image_height=32",
    "task.image_width=64",
    "task.train_images=8",
    "task.val_images=2",
    "task.test_images=4",
    "task.classifier_steps=3",
    "task.grid_rows=2",
    "model.kwargs.width=4",
    "model.kwargs.n_blocks=1",
    "model.kwargs.disc_width=4",
    "model.kwargs.pool_size=6",
    "data.batch_size=2",
    "data.eval_batch_size=4",
    "train.threads=1",
]


@pytest.fixture(scope="module")
def task():
    torch.set_num_threads(1)
    t = build_task(load_recipe("cyclegan-fog", TINY))
    t.setup()
    return t


def test_generators_keep_the_shape_and_patchgan_scores_patches() -> None:
    gan = create_model("cyclegan-small", image_height=64, image_width=128)
    x = torch.rand(2, 3, 64, 128) * 2 - 1
    y = gan(x)
    assert y.shape == x.shape and y.min() >= -1 and y.max() <= 1
    assert gan.gen_ba(x).shape == x.shape
    assert gan.disc_a(x).shape == (2, 1, 14, 30)  # 34x34 patches, every 4 px
    assert [receptive_field(n) for n in (1, 2, 3)] == [16, 34, 70]  # 3: pix2pix's 70x70


@pytest.mark.parametrize("n_layers", [1, 2])
def test_one_patchgan_score_sees_exactly_its_receptive_field(n_layers: int) -> None:
    disc = PatchDiscriminator(width=4, n_layers=n_layers)
    for i, layer in enumerate(disc.net):  # InstanceNorm mixes every pixel: take it out here
        if isinstance(layer, nn.InstanceNorm2d):
            disc.net[i] = nn.Identity()
    x = torch.randn(1, 3, 96, 96, requires_grad=True)
    scores = disc(x)  # (1, 1, h, w)
    scores[0, 0, scores.shape[2] // 2, scores.shape[3] // 2].backward()
    rows, cols = x.grad.abs().sum((0, 1)).nonzero(as_tuple=True)
    side = receptive_field(n_layers)
    assert int(rows.max() - rows.min()) + 1 == side and int(cols.max() - cols.min()) + 1 == side


def test_cycle_and_identity_losses_are_zero_for_identity_generators() -> None:
    a, b = torch.rand(2, 3, 8, 8) * 2 - 1, torch.rand(2, 3, 8, 8) * 2 - 1
    same = nn.Identity()
    assert cycle_loss(same, same, a, b).item() == 0.0
    assert identity_loss(same, same, a, b).item() == 0.0

    class Affine(nn.Module):
        def __init__(self, scale: float, shift: float) -> None:
            super().__init__()
            self.scale, self.shift = scale, shift

        def forward(self, x):
            return self.scale * x + self.shift

    g, f = Affine(0.5, 0.0), Affine(1.0, 0.25)  # G halves, F brightens: not each other's inverse
    cycle = (0.5 * a + 0.25 - a).abs().mean() + (0.5 * (b + 0.25) - b).abs().mean()
    assert cycle_loss(g, f, a, b).item() == pytest.approx(cycle.item(), rel=1e-6)
    identity = (0.5 * b - b).abs().mean() + 0.25  # |G(b) - b| + |F(a) - a|
    assert identity_loss(g, f, a, b).item() == pytest.approx(identity.item(), rel=1e-6)


def test_the_image_pool_fills_then_returns_a_stored_image_half_of_the_time() -> None:
    torch.manual_seed(0)
    pool = ImagePool(10, (1, 1, 1))
    first = torch.arange(10.0).view(10, 1, 1, 1)
    assert torch.equal(pool.query(first), first)  # filling: each image comes straight back
    assert int(pool.count) == 10 and torch.equal(pool.images, first)
    new = torch.arange(100.0, 2100.0)  # values never seen before, queried in order
    returned = torch.cat([pool.query(c.view(-1, 1, 1, 1)) for c in new.split(4)]).flatten()
    old = returned != new  # a stored image came back instead of the one queried
    assert abs(old.float().mean().item() - 0.5) < 0.04
    # each stored image that came back was queried earlier (or filled the pool), and once only
    position = {v: i for i, v in enumerate(new.tolist())}
    assert all(
        position.get(v, -1) < i
        for i, v in zip(old.nonzero().flatten().tolist(), returned[old].tolist(), strict=True)
    )
    assert len(set(returned[old].tolist())) == int(old.sum())
    assert int(pool.count) == 10
    assert torch.equal(ImagePool(0, (1, 1, 1)).query(first), first)  # size 0: no pool


def test_a_training_step_freezes_the_discriminators_for_the_generators_and_steps_both(
    task,
) -> None:
    torch.manual_seed(0)
    model = task.build_model()
    task.optimizers = opts = task.configure_optimizers(model)
    gen = {id(p) for p in model.generators.parameters()}
    disc = {id(p) for p in model.discriminators.parameters()}
    assert {id(p) for g in opts["generator"].param_groups for p in g["params"]} == gen
    assert {id(p) for g in opts["discriminator"].param_groups for p in g["params"]} == disc

    seen = {}
    generator_step = opts["generator"].step

    def spy(*args, **kw):  # the discriminators' gradients when the generators step
        seen["disc_grads"] = [p.grad for p in model.discriminators.parameters()]
        seen["gen_grads"] = [p.grad is not None for p in model.generators.parameters()]
        return generator_step(*args, **kw)

    opts["generator"].step = spy
    before = {k: v.clone() for k, v in model.state_dict().items()}
    out = task.training_step(model, next(iter(task.train_batches().epoch(0))))

    assert all(g is None for g in seen["disc_grads"]) and all(seen["gen_grads"])
    assert all(p.requires_grad for p in model.parameters())  # unfrozen afterwards
    for name, p in model.named_parameters():
        assert not torch.equal(p, before[name]), f"{name} was not updated"
    for opt in opts.values():
        assert all(int(s["step"]) == 1 for s in opt.state.values())
        assert len(opt.state) == sum(len(g["params"]) for g in opt.param_groups)
    assert int(model.generator_steps) == 1 and int(model.pool_a.count) == 2
    assert set(out.logs) == {
        f"train/loss_{k}" for k in ("adversarial", "cycle", "identity", "discriminator")
    }


def test_the_domain_classifier_cannot_be_passed_by_darkening_alone(task) -> None:
    a, b = task.images_["train"]
    clf = train_domain_classifier(a, b, steps=2, seed=0)
    even = a // 2 * 2  # uint8 images that halve exactly
    x, darker = CycleGANTask.to_model_range(even), CycleGANTask.to_model_range(even // 2)
    with torch.no_grad():  # the same verdict at half the brightness and contrast
        assert torch.allclose(clf(x), clf(darker), atol=1e-4)


def test_bad_sizes_and_another_dataset_are_refused_in_one_line() -> None:
    with pytest.raises(ConfigError, match="multiples of 4"):
        build_task(load_recipe("cyclegan-fog", ["task.image_height=30"])).setup()
    with pytest.raises(ConfigError, match="driving-scenes"):
        build_task(load_recipe("cyclegan-fog", ["data.name=mnist"])).setup()
    with pytest.raises(ConfigError, match="disc_layers"):
        create_model("cyclegan", image_height=32, image_width=64)


def test_the_recipe_trains_and_writes_the_cycle_grid_losses_and_score(tmp_path) -> None:
    overrides = [*TINY, "train.max_steps=3", "train.val_every=2", "train.log_every=1"]
    run = run_recipe(
        load_recipe("cyclegan-fog", [*overrides, "train.checkpoint_every=0"]),
        run_dir=tmp_path / "run",
        echo=lambda s: None,
        progress=False,
    )
    with Image.open(run / "translations.png") as grid:  # 2 rows of 6 images of 64x32, x2
        assert grid.size == (2 * (2 + 6 * 66), 16 + 2 * (2 + 2 * 34))
    assert (run / "losses.png").stat().st_size > 1000
    logged = set().union(*(json.loads(line) for line in (run / "metrics.jsonl").open()))
    for k in ("adversarial", "cycle", "identity", "discriminator"):
        assert f"train/loss_{k}" in logged and f"val/{k}" in logged
    score = json.loads((run / "translation.json").read_text("utf-8"))
    assert 0 <= score["translated_accuracy"] <= 1 and set(score["shifted_share"]) == {
        "a",
        "ab",
        "aba",
        "b",
        "ba",
        "bab",
    }
    assert 0 <= score["darkened_clear_called_shifted"] <= 1
    br = score["brightness"]
    assert score["gap_closed"]["brightness"]["G(clear)"] == pytest.approx(
        (br["ab"] - br["a"]) / (br["b"] - br["a"])
    )
    report = (run / "report.md").read_text("utf-8")
    assert "](translations.png)" in report and "Does the translation work?" in report


def _fit(task, steps: int, callbacks=(), resume=None) -> Trainer:
    torch.manual_seed(int(resume is not None))  # resumed: other weights until loaded
    model = task.build_model()
    trainer = Trainer(max_epochs=9, max_steps=steps, val_every=2, callbacks=callbacks)
    trainer.fit(task, model, task.configure_optimizers(model), resume=resume)
    return trainer


def test_a_killed_run_resumes_to_the_same_weights_pools_and_optimisers(
    task, tmp_path, stop_at
) -> None:
    straight = _fit(task, 9).state_dict()
    with pytest.raises(KeyboardInterrupt):
        _fit(task, 9, [Checkpoint(tmp_path, every=3, monitor="val/generator_steps"), stop_at(7)])
    state = load_checkpoint(tmp_path / "last.safetensors")  # mid-epoch: 4 batches an epoch
    assert (state["trainer"]["step"], state["trainer"]["batch"]) == (6, 2) and set(
        state["optimizers"]
    ) == {
        "generator",
        "discriminator",
    }
    resumed = _fit(task, 9, resume=state).state_dict()

    assert int(resumed["model"]["generator_steps"]) == 9
    assert int(resumed["model"]["pool_a.count"]) == 6  # 9 steps x 2 images, pool of 6: full
    for name, tensor in straight["model"].items():
        assert torch.equal(tensor, resumed["model"][name]), name
    for opt in ("generator", "discriminator"):
        moments = straight["optimizers"][opt]["state"]
        for key, value in moments.items():
            again = resumed["optimizers"][opt]["state"][key]
            assert torch.equal(value["exp_avg_sq"], again["exp_avg_sq"]), (opt, key)
