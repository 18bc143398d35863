"""Adversarial training of an image generator: DCGAN, WGAN-GP and a conditional GAN, as one Task.

One batch is one adversarial step on the shared Trainer: the task steps its own two
optimisers (`automatic_optimization = False`, `configure_optimizers` returns a dict), so the
Trainer checkpoints both by name and a resumed run continues exactly.

- `task.loss: dcgan`: the critic is a discriminator trained with binary cross-entropy, the
  generator with the non-saturating loss -log D(G(z)) (Goodfellow et al. 2014, section 3;
  Radford et al. 2016 for the architecture and Adam(2e-4, beta1 = 0.5)).
- `task.loss: wgan-gp`: Algorithm 1 of Gulrajani et al., "Improved training of Wasserstein
  GANs" (2017): the critic minimises D(x~) - D(x) + lambda (||grad D(x^)|| - 1)^2 at random
  points x^ between real and generated images (lambda = 10), and the generator steps once
  every `n_critic` = 5 critic steps, with Adam(1e-4, betas (0, 0.9)).
- `task.conditional: true`: both networks read the class (`dllab.models.gan`), and samples of
  each class are drawn in turn.

At every validation the model samples its fixed latent grid into its own buffer (kept in the
checkpoint), so the report shows the grids over training and their animation. With
`task.feature_run` (a Fashion-MNIST classifier run) the report adds FID, KID, the class
histogram of 10,000 samples and, when conditional, the classifier's accuracy on them
(`dllab.metrics.generative`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn
from torchmetrics import Metric, MetricCollection

from dllab.data.types import ImageData, TensorSplit
from dllab.data.vision import load_recipe_images
from dllab.errors import ConfigError
from dllab.tasks import TASKS
from dllab.tasks.base import BaseTask, StepOutput, TaskOptions
from dllab.train.batches import TensorBatches

__all__ = ["GANOptions", "GANTask", "gradient_penalty", "slerp"]


def gradient_penalty(
    critic: nn.Module,
    real: torch.Tensor,
    fake: torch.Tensor,
    labels: torch.Tensor | None = None,
    eps: torch.Tensor | None = None,
) -> torch.Tensor:
    """WGAN-GP's penalty (Gulrajani et al. 2017, eq. 3): E[(||grad_x^ D(x^)||_2 - 1)^2] at
    x^ = eps x + (1 - eps) x~, one eps ~ U[0, 1] per sample (`eps` `(B, 1, 1, 1)` to fix it).

    Differentiable with respect to the critic's weights (`create_graph`), so it trains them.
    Example: a linear critic with a unit-norm weight has gradient norm 1 everywhere: penalty 0.
    """
    if eps is None:
        eps = torch.rand(len(real), *[1] * (real.ndim - 1), device=real.device)
    mixed = (eps * real + (1 - eps) * fake).requires_grad_(True)  # (B, C, H, W)
    score = critic(mixed) if labels is None else critic(mixed, labels)  # (B,)
    (grad,) = torch.autograd.grad(score.sum(), mixed, create_graph=True)
    return ((grad.flatten(1).norm(2, dim=1) - 1) ** 2).mean()


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation of latents `(D,)` at fractions `t` `(T,)` -> `(T, D)`: it stays
    where a Gaussian's mass is, unlike the straight line (White, "Sampling generative
    networks", 2016)."""
    omega = torch.arccos((a / a.norm() * b / b.norm()).sum().clamp(-1, 1))
    if float(omega) < 1e-6:
        return a + t[:, None] * (b - a)
    so = torch.sin(omega)
    return (torch.sin((1 - t) * omega) / so)[:, None] * a + (torch.sin(t * omega) / so)[:, None] * b


class ItemMean(Metric):
    """Mean over validation items of one per-item value the step hands in `preds[key]`."""

    def __init__(self, key: str) -> None:
        super().__init__()
        self.key = key
        self.add_state("total", torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, preds: dict[str, torch.Tensor], target: Any = None) -> None:
        values = preds[self.key].double()
        self.total += values.sum()
        self.count += values.numel()

    def compute(self) -> torch.Tensor:
        return self.total / self.count.clamp(min=1)


class GANOptions(TaskOptions):
    """The `task:` section of a GAN recipe."""

    # dcgan: BCE discriminator and non-saturating generator; wgan-gp: critic + gradient penalty
    loss: Literal["dcgan", "wgan-gp"] = "dcgan"
    conditional: bool = False  # generate a requested class (cGAN with a projection critic)
    # Critic steps per generator step (None: 5 for wgan-gp as in the paper, 1 for dcgan)
    n_critic: int | None = Field(None, ge=1)
    gp_weight: float = Field(10.0, ge=0)  # lambda of the gradient penalty (the paper's 10)
    # Run folder of a Fashion-MNIST classifier (`dllab run fashion-mnist-fast`): FID, KID and
    # the class histogram in the report; None: the report says how to get them
    feature_run: str | None = None
    quality_samples: int = Field(10_000, ge=2)  # samples for FID/KID and coverage (the 10k)
    interpolations: int = Field(8, ge=1)  # rows of latent interpolations in the report


@TASKS.register("gan")
class GANTask(BaseTask):
    """Adversarial training on an in-memory image dataset (Fashion-MNIST)."""

    name = "gan"
    Options: ClassVar[type[TaskOptions]] = GANOptions
    options: GANOptions
    automatic_optimization = False
    not_exportable = "a GAN run is a generator and a critic trained together; sample it instead"
    # critic_gap: mean critic score of held-out real images minus generated ones (for
    # WGAN-GP the critic's Wasserstein estimate); generator_steps grows with training, so
    # `train.monitor: val/generator_steps` makes the latest weights the ones reported, since
    # GAN losses do not rank checkpoints
    metric_names = ("critic_gap", "generator_steps")

    # ------------------------------------------------------------ data
    def setup(self, *, rank: int = 0, world: int = 1) -> None:
        d = self.recipe.data
        if world > 1:  # DDP syncs gradients of its forward, not of networks called apart
            raise ConfigError(
                "task gan steps its networks one by one, which DistributedDataParallel does "
                "not synchronise: run it in one process, without torchrun"
            )
        self.data_: ImageData = load_recipe_images(self.recipe)
        if not isinstance(self.data_.train, TensorSplit):
            raise ConfigError(
                f"task gan trains on an in-memory dataset (fashion-mnist, mnist…); got {d.name!r}"
            )
        self.rank_, self.world_ = rank, world
        self.classifier_ = None
        if self.options.feature_run is not None:  # refused now, not after the training
            from dllab.metrics.generative import load_feature_classifier

            self.classifier_ = load_feature_classifier(
                Path(self.options.feature_run),
                dataset=self.data_.name,
                image_size=self.data_.image_size,
            )

    def data_checksums(self) -> dict[str, str]:
        return dict(self.data_.checksums)

    @property
    def classes(self) -> list[str]:
        return self.data_.classes

    @staticmethod
    def to_model_range(images: torch.Tensor) -> torch.Tensor:
        """uint8 images -> floats in [-1, 1], the range of the generator's tanh."""
        return images.float() / 127.5 - 1.0

    def _batches(self, split: str) -> TensorBatches:
        data: TensorSplit = getattr(self.data_, split)
        kwargs = self.batch_kwargs(split)
        if split == "train":  # a last batch of one would break BatchNorm
            return TensorBatches(
                data.images, data.labels, drop_last=True, transform=self.to_model_range, **kwargs
            )
        # Evaluation batches carry each image's index: its label and latent are looked up, so
        # every validation pairs the same real image with the same generated one.
        index = torch.arange(len(data))
        return TensorBatches(data.images, index, transform=self.to_model_range, **kwargs)

    # ------------------------------------------------------------ model and optimisers
    def model_kwargs(self) -> dict[str, Any]:
        o = self.options
        kwargs = {
            "in_channels": self.data_.in_channels,
            "image_size": self.data_.image_size,
            "num_classes": len(self.classes),
            "conditional": o.conditional,
            "critic_norm": "layer" if o.loss == "wgan-gp" else "batch",
            "grid_size": 10 * len(self.classes) if o.conditional else 64,
            **self.recipe.model.kwargs,
        }
        if o.loss == "wgan-gp" and kwargs["critic_norm"] == "batch":
            raise ConfigError(
                "task.loss=wgan-gp penalises each sample's gradient, which BatchNorm mixes "
                "across the batch: set model.kwargs.critic_norm=layer (or none)"
            )
        return kwargs

    @property
    def n_critic(self) -> int:
        if self.options.n_critic is not None:
            return self.options.n_critic
        return 5 if self.options.loss == "wgan-gp" else 1

    def configure_optimizers(self, model: nn.Module) -> dict[str, torch.optim.Optimizer]:
        """One optimiser per network, both with the recipe's settings (the papers use the
        same learning rate and betas for both)."""
        from dllab.train.optim import build_optimizer

        if self.recipe.optim.name == "sgd":
            raise ConfigError("GANs train with Adam (optim.name=adam), as both papers do")
        return {
            "generator": build_optimizer(self.recipe.optim, model.generator),
            "critic": build_optimizer(self.recipe.optim, model.critic),
        }

    # ------------------------------------------------------------ steps
    def _labels(self, model: nn.Module, y: torch.Tensor) -> torch.Tensor | None:
        return y if model.conditional else None

    def critic_loss(
        self, model: nn.Module, real: torch.Tensor, fake: torch.Tensor, labels: Any
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The critic's loss on a real and a generated batch, and what to log of it (the
        gradient penalty only in training, where it trains the critic)."""
        c_real, c_fake = model.critic(real, labels), model.critic(fake, labels)  # (B,), (B,)
        logs = {"critic_gap": c_real.mean() - c_fake.mean()}
        if self.options.loss == "wgan-gp":
            loss = c_fake.mean() - c_real.mean()
            if torch.is_grad_enabled():
                gp = gradient_penalty(model.critic, real, fake, labels)
                loss, logs["gp"] = loss + self.options.gp_weight * gp, gp
        else:
            loss = F.binary_cross_entropy_with_logits(
                c_real, torch.ones_like(c_real)
            ) + F.binary_cross_entropy_with_logits(c_fake, torch.zeros_like(c_fake))
        return loss, logs

    def generator_loss(self, model: nn.Module, fake: torch.Tensor, labels: Any) -> torch.Tensor:
        score = model.critic(fake, labels)  # (B,)
        if self.options.loss == "wgan-gp":
            return -score.mean()
        return F.binary_cross_entropy_with_logits(score, torch.ones_like(score))  # non-saturating

    def training_step(self, model: nn.Module, batch: Any) -> StepOutput:
        """One critic step, and a generator step every `n_critic` of them."""
        real, y = batch  # (B, C, H, W) in [-1, 1], (B,)
        labels = self._labels(model, y)
        opt_g, opt_c = self.optimizers["generator"], self.optimizers["critic"]
        step_generator = (int(model.critic_steps) + 1) % self.n_critic == 0
        z = torch.randn(len(real), model.latent_dim, device=real.device)
        with torch.set_grad_enabled(step_generator):  # G's graph only when G will step
            fake = model(z, labels)  # (B, C, H, W)
        loss, values = self.critic_loss(model, real, fake.detach(), labels)
        opt_c.zero_grad(set_to_none=True)
        loss.backward()
        opt_c.step()
        model.critic_steps += 1
        logs = {f"train/{k}": float(v.detach()) for k, v in values.items()}
        if step_generator:
            model.critic.requires_grad_(False)  # its weight gradients would be thrown away
            g_loss = self.generator_loss(model, fake, labels)
            opt_g.zero_grad(set_to_none=True)
            g_loss.backward()
            opt_g.step()
            model.critic.requires_grad_(True)
            model.generator_steps += 1
            logs["train/loss_generator"] = float(g_loss.detach())
        return StepOutput(loss=loss.detach(), logs=logs, count=len(real))

    def _eval_step(self, model: nn.Module, batch: Any, split: str) -> StepOutput:
        real, index = batch  # (B, C, H, W), (B,) positions in the split
        data: TensorSplit = getattr(self.data_, split)
        y = data.labels[index.cpu()].to(real.device)
        labels = self._labels(model, y)
        z = self._latents(split, len(data), model.latent_dim)[index.cpu()].to(real.device)
        loss, values = self.critic_loss(model, real, model(z, labels), labels)
        n = len(real)
        preds = {
            "critic_gap": values["critic_gap"].expand(n),
            "generator_steps": model.generator_steps.double().expand(n),
        }
        return StepOutput(loss=loss, preds=preds, count=n)

    def _latents(self, split: str, n: int, dim: int) -> torch.Tensor:
        """One fixed latent per image of an evaluation split (seeded by train.seed)."""
        cache = self.__dict__.setdefault("latents_", {})
        if split not in cache:
            g = torch.Generator().manual_seed(self.recipe.train.seed + (split == "test"))
            cache[split] = torch.randn(n, dim, generator=g)
        return cache[split]

    def validation_step(self, model: nn.Module, batch: Any) -> StepOutput:
        model.record_frame()  # the fixed grid, once per validation (it checks the step)
        return self._eval_step(model, batch, "val")

    def test_step(self, model: nn.Module, batch: Any) -> StepOutput:
        return self._eval_step(model, batch, "test")

    def build_metrics(self) -> MetricCollection:
        return MetricCollection({k: ItemMean(k) for k in self.metric_names})

    def metadata(self) -> dict[str, Any]:
        return {
            "classes": self.classes,
            "dataset": self.data_.name,
            "image_size": self.data_.image_size,
            "in_channels": self.data_.in_channels,
        }

    # ------------------------------------------------------------ report
    def visualize(self, model: nn.Module, run_dir: Path, outputs: list[Any]) -> list[Path]:
        """Grids over training (PNGs and an animated GIF), samples, latent interpolations,
        the losses, and with a feature classifier FID/KID and the class histogram, all
        gathered in gan.md."""
        model.eval()
        nrow = len(self.classes) if model.conditional else 8
        frames, steps = model.recorded_frames()
        grid_paths, gif = save_grids(
            frames, steps, nrow, run_dir / "grids", run_dir / "training.gif"
        )
        last = frames[-1] if len(frames) else None
        pictures = []
        if last is not None:
            what = "one class per column, in class order" if model.conditional else "fixed latents"
            pictures.append(
                plot_samples(last, nrow, run_dir / "samples.png", f"Final samples ({what})")
            )
        pictures.append(self._interpolations(model, run_dir / "interpolation.png"))
        pictures.append(
            plot_gan_losses(run_dir / "metrics.jsonl", run_dir / "losses.png", self.options.loss)
        )
        quality, lines = self._quality(model, run_dir)
        if quality and quality.get("class_histogram"):
            pictures.append(
                plot_class_histogram(
                    quality["class_histogram"], run_dir / "class_histogram.png", quality["collapse"]
                )
            )
        lines += self._grid_lines(grid_paths, steps, gif, run_dir)
        md = run_dir / "gan.md"
        md.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return [*pictures, md, *([gif] if gif else [])]

    def _interpolations(self, model: nn.Module, path: Path) -> Path:
        """Rows of images along a great circle between two random latents (the class of a
        conditional row is fixed: row i is class i)."""
        g = torch.Generator().manual_seed(self.recipe.train.seed + 2)
        rows, cols = self.options.interpolations, 10
        t = torch.linspace(0, 1, cols)
        ends = torch.randn(rows, 2, model.latent_dim, generator=g)
        z = torch.cat([slerp(a, b, t) for a, b in ends])  # (rows * cols, D)
        labels = (torch.arange(rows * cols) // cols) % len(self.classes)
        device = model.fixed_z.device
        with torch.no_grad():
            images = (model(z.to(device), labels.to(device)) + 1) / 2
        images = (images.clamp(0, 1) * 255).round().to(torch.uint8).cpu()
        title = "Latent interpolations (spherical)" + (
            ": row i keeps class i" if model.conditional else ""
        )
        return plot_samples(images, cols, path, title)

    def _quality(self, model: nn.Module, run_dir: Path) -> tuple[dict[str, Any] | None, list[str]]:
        """FID/KID/coverage of `quality_samples` samples against the test split (and the
        floor, train vs test), in the features of the classifier of `task.feature_run`."""
        from dllab.metrics.generative import feature_recipe_hint, fid_floor, sample_quality

        lines = [
            "# Sample quality",
            "",
            "FID and KID here use the penultimate features of a Fashion-MNIST classifier "
            "trained by dllab, not Inception-v3: these FIDs are NOT comparable to the "
            "Inception-feature FIDs in papers (Lucic et al. 2018 report 21.5-30.7 on "
            "Fashion-MNIST); compare them only with each other and with the floor.",
            "",
        ]
        if self.classifier_ is None:
            lines += [f"FID skipped: no feature classifier; {feature_recipe_hint()}.", ""]
            return None, lines
        clf = self.classifier_.to(model.fixed_z.device)
        n = self.options.quality_samples
        labels = torch.arange(n) % len(self.classes)
        g = torch.Generator().manual_seed(self.recipe.train.seed + 3)
        samples = model.sample(n, labels.to(model.fixed_z.device), generator=g)
        test = self.data_.test.images.float() / 255
        train = self.data_.train.images[: len(test)].float() / 255
        q = sample_quality(samples, test, clf, labels=labels if model.conditional else None)
        q["fid_floor"] = fid_floor(train, test, clf)
        q["feature_run"] = self.options.feature_run
        (run_dir / "quality.json").write_text(json.dumps(q, indent=2), encoding="utf-8")
        lines += [
            f"Features: `{self.options.feature_run}`; {q['n_samples']} samples against "
            f"{q['n_real']} test images.",
            "",
            "| measure | value |",
            "|---|---|",
            f"| FID | {q['fid']:.3f} |",
            f"| FID floor (real train vs real test) | {q['fid_floor']:.3f} |",
            f"| KID | {q['kid_mean']:.5f} ± {q['kid_std']:.5f} |",
        ]
        if "accuracy" in q:
            lines.append(
                f"| classifier accuracy on conditional samples (goal ≥ 0.90) | {q['accuracy']:.4f} |"
            )
        top = max(q["class_histogram"], key=q["class_histogram"].get)
        lines += [
            f"| largest class share | {top} {q['class_histogram'][top]:.3f} |",
            "",
            (
                f"**Mode collapse: {q['collapse']} takes more than 30 % of the samples.**"
                if q["collapse"]
                else "No mode collapse: no class takes more than 30 % of the samples."
            ),
            "",
        ]
        return q, lines

    @staticmethod
    def _grid_lines(
        paths: list[Path], steps: list[int], gif: Path | None, run_dir: Path
    ) -> list[str]:
        lines = ["# Samples over training", ""]
        if gif is not None:
            lines += [f"![the fixed latent grid over training]({gif.relative_to(run_dir)})", ""]
        shown = (
            paths
            if len(paths) <= 12
            else [paths[round(i)] for i in np.linspace(0, len(paths) - 1, 12)]
        )
        for p in shown:
            step = steps[paths.index(p)]
            lines += [
                f"generator step {step}:",
                "",
                f"![step {step}]({p.relative_to(run_dir)})",
                "",
            ]
        if not paths:
            lines.append("No validation ran: no grids were sampled.")
        return lines


# ---------------------------------------------------------------- pictures
# (here until `dllab.viz` has a generative module: they draw only what this task makes)


def tile(images: torch.Tensor, nrow: int, pad: int = 2) -> np.ndarray:
    """uint8 images `(N, C, H, W)` -> one picture `(rows * (H + pad) + pad, ...)`, `nrow` per
    row on a white background; grey `(H', W')` for one channel, else `(H', W', C)`."""
    n, c, h, w = images.shape
    rows = -(-n // nrow)
    canvas = np.full((c, pad + rows * (h + pad), pad + nrow * (w + pad)), 255, dtype=np.uint8)
    for i, img in enumerate(images.numpy()):
        r, col = divmod(i, nrow)
        canvas[
            :,
            pad + r * (h + pad) : (r + 1) * (h + pad),
            pad + col * (w + pad) : (col + 1) * (w + pad),
        ] = img
    return canvas[0] if c == 1 else canvas.transpose(1, 2, 0)


def save_grids(
    frames: torch.Tensor, steps: list[int], nrow: int, folder: Path, gif: Path, scale: int = 2
) -> tuple[list[Path], Path | None]:
    """One PNG per recorded grid (`folder/step_000123.png`), captioned with its generator
    step, and all of them as an animated GIF (Pillow), the last frame held longest."""
    from PIL import Image, ImageDraw

    folder.mkdir(parents=True, exist_ok=True)
    paths, pictures = [], []
    for grid, step in zip(frames, steps, strict=True):
        picture = Image.fromarray(tile(grid, nrow)).convert("L")
        picture = picture.resize((picture.width * scale, picture.height * scale), Image.NEAREST)
        framed = Image.new("L", (picture.width, picture.height + 16), 255)
        framed.paste(picture, (0, 16))
        ImageDraw.Draw(framed).text((4, 2), f"generator step {step}", fill=0)
        path = folder / f"step_{step:06d}.png"
        framed.save(path)
        paths.append(path)
        pictures.append(framed)
    if not pictures:
        return paths, None
    durations = [400] * (len(pictures) - 1) + [2000]
    pictures[0].save(gif, save_all=True, append_images=pictures[1:], duration=durations, loop=0)
    return paths, gif


def plot_samples(images: torch.Tensor, nrow: int, path: Path, title: str) -> Path:
    """uint8 images `(N, C, H, W)` as one titled grid."""
    from dllab.viz.figure import new_figure, save_figure

    picture = tile(images, nrow)
    fig = new_figure(0.6 * nrow + 0.4, 0.6 * (-(-len(images) // nrow)) + 0.6)
    ax = fig.add_subplot()
    ax.imshow(picture, cmap="gray", vmin=0, vmax=255)
    ax.set_title(title, fontsize=9)
    ax.set_axis_off()
    return save_figure(fig, path)


def plot_gan_losses(metrics: Path, path: Path, loss: str) -> Path:
    """Critic and generator losses, and the critic's real-minus-fake gap (WGAN-GP: its
    Wasserstein estimate) with the gradient penalty, against the step."""
    from dllab.viz.figure import new_figure, save_figure

    records = [json.loads(line) for line in metrics.read_text("utf-8").splitlines() if line.strip()]
    fig = new_figure(10, 3.6)
    left, right = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    series = {
        left: [("train/loss", "critic"), ("train/loss_generator", "generator")],
        right: [("train/critic_gap", "critic gap"), ("train/gp", "gradient penalty")],
    }
    for ax, keys in series.items():
        for key, label in keys:
            points = [(r["step"], r[key]) for r in records if key in r]
            if points:
                ax.plot(*zip(*points, strict=True), label=label)
        ax.set_xlabel("step (critic updates)")
        if ax.lines:
            ax.legend()
    left.set_title(f"{loss} losses (train)")
    left.set_ylabel("loss")
    right.set_title("E[D(real)] - E[D(fake)]" + (" (W estimate)" if loss == "wgan-gp" else ""))
    right.set_ylabel("score")
    return save_figure(fig, path)


def plot_class_histogram(shares: dict[str, float], path: Path, collapse: str | None) -> Path:
    """Share of samples per class under the feature classifier, with the uniform share and
    the 30 % collapse threshold."""
    from dllab.viz.figure import new_figure, save_figure

    fig = new_figure(8, 3.6)
    ax = fig.add_subplot()
    names = list(shares)
    ax.bar(range(len(names)), [shares[n] for n in names], color="tab:blue")
    ax.axhline(1 / len(names), color="grey", ls="--", label="uniform")
    ax.axhline(0.30, color="tab:red", ls=":", label="collapse threshold (30 %)")
    ax.set_xticks(range(len(names)), names, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("share of samples")
    verdict = f"mode collapse: {collapse}" if collapse else "no mode collapse"
    ax.set_title(f"Classes of generated samples under the feature classifier ({verdict})")
    ax.legend(fontsize=8)
    return save_figure(fig, path)
