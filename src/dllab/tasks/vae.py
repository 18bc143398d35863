"""Variational autoencoder on grey images (Fashion-MNIST): images in, a latent map and samples out.

The loss is the negative ELBO per image, its two terms logged separately (Kingma & Welling
2014, eq. 10): the reconstruction term -E_q[log p(x | z)] and KL(q(z | x) || p(z)), weighted
by `beta` (Higgins et al., "β-VAE", ICLR 2017; β = 1 is the ELBO itself). Whatever β is, the
`elbo` metric is the true bound, -(rec + kl), in nats per image.

- `reconstruction: bce`: each pixel a Bernoulli with mean sigmoid(logit), the usual choice for
  MNIST-like data (pixels in [0, 1] are treated as probabilities, so it is a bound only up to
  that approximation);
- `reconstruction: mse`: a Gaussian decoder N(x; sigmoid(logit), σ² I) with fixed `sigma`,
  its full negative log-density (the squared error / 2σ² plus its constant).

Validation and test draw z from a generator of fixed seed, so two validations of the same
weights score the same and the training random stream is left alone (exact resume).
The report: reconstructions, samples from the prior, the latent map of the test images
coloured by class (the first two of `latent_dim` principal components when it is above 2,
said in its title), a decoded grid of the 2-D latent space, sampling time, and sample quality
(FID, KID, class coverage) when `task.feature_run` names a trained feature classifier.

`GenerativeImageTask` and the picture helpers below are shared with `tasks/diffusion.py`.
"""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn
from torchmetrics import Metric, MetricCollection

from dllab.data.vision import load_recipe_images
from dllab.errors import ConfigError
from dllab.tasks import TASKS
from dllab.tasks.base import BaseTask, StepOutput, TaskOptions, cat_outputs
from dllab.train.batches import TensorBatches

__all__ = ["ColumnMean", "GenerativeImageTask", "VAEOptions", "VAETask", "save_image_grid"]

FID_HOW_TO = (
    "FID, KID and class coverage were not computed: set task.feature_run=<run folder of a "
    "Fashion-MNIST feature classifier> (see `dllab.metrics.generative` and "
    "benchmarks/generative.py); they use that classifier's features, not Inception's, so they "
    "are not comparable with published FIDs"
)


class ColumnMean(Metric):
    """Mean over a split of one column of per-image values `preds` (B, K): one metric per
    ELBO term, each averaged over every image (not over batch means)."""

    full_state_update = False

    def __init__(self, column: int) -> None:
        super().__init__()
        self.column = column
        self.add_state("total", torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, preds: torch.Tensor, target: torch.Tensor) -> None:
        self.total += preds[:, self.column].double().sum()
        self.count += len(preds)

    def compute(self) -> torch.Tensor:
        return self.total / self.count.clamp(min=1)


class GenerativeOptions(TaskOptions):
    """What every generative image task takes."""

    # Samples drawn at test time for the quality numbers and the sampling time
    sample_images: int = Field(1000, ge=1)
    # Run folder of a trained feature classifier: FID, KID and class coverage of the samples
    # (dllab.metrics.generative); None: the report says how to get them
    feature_run: str | None = None


class GenerativeImageTask(BaseTask):
    """In-memory grey or colour images (a catalog dataset), batches of (uint8 images, labels);
    what the VAE and the diffusion task share: data, sizes, metadata, the quality numbers."""

    items = "images"
    options: GenerativeOptions

    def setup(self, *, rank: int = 0, world: int = 1) -> None:
        d = self.recipe.data
        self.classifier_ = self._feature_classifier()  # refused before any training
        self.data_ = load_recipe_images(self.recipe)
        if not hasattr(self.data_.train, "images"):
            raise ConfigError(
                f"task {self.name!r} keeps its images in memory: use a catalog dataset "
                f"(fashion-mnist, mnist), not data.name={d.name!r}"
            )
        self.rank_, self.world_ = rank, world
        if rank == 0:
            n = [len(getattr(self.data_, s)) for s in ("train", "val", "test")]
            print(
                f"{self.name}: {d.name} {self.data_.image_size} px, {self.data_.in_channels} "
                f"channel(s); images train/val/test {n[0]}/{n[1]}/{n[2]}",
                file=sys.stderr,
            )

    def data_checksums(self) -> dict[str, str]:
        return dict(self.data_.checksums)

    @property
    def classes(self) -> list[str]:
        return self.data_.classes

    def _batches(self, split: str) -> TensorBatches:
        data = getattr(self.data_, split)
        return TensorBatches(data.images, data.labels, **self.batch_kwargs(split))

    def model_kwargs(self) -> dict[str, Any]:
        return {
            "in_channels": self.data_.in_channels,
            "image_size": self.data_.image_size,
            **self.recipe.model.kwargs,
        }

    def metadata(self) -> dict[str, Any]:
        return {
            "classes": self.classes,
            "image_size": self.data_.image_size,
            "in_channels": self.data_.in_channels,
        }

    def real_images(self, split: str = "test") -> torch.Tensor:
        """A split's images as float (N, C, H, W) in [0, 1]."""
        return getattr(self.data_, split).images.float() / 255.0

    def eval_generator(self, device: torch.device, offset: int = 0) -> torch.Generator:
        """A generator of fixed seed: evaluation noise that never touches the training RNG."""
        return torch.Generator(device=device).manual_seed(self.recipe.train.seed + offset)

    def _feature_classifier(self) -> Any:
        """`task.feature_run`'s classifier (None when unset); a missing or unfit run is one
        line naming the recipe that makes one (`dllab.metrics.generative`)."""
        if self.options.feature_run is None:
            return None
        from dllab.metrics.generative import load_feature_classifier

        d = self.recipe.data
        return load_feature_classifier(
            Path(self.options.feature_run), dataset=d.name, image_size=d.image_size or 28
        )

    def sample_quality(self, samples: torch.Tensor) -> dict[str, Any] | None:
        """FID, KID, class histogram and collapse of `samples` (N, C, H, W) in [0, 1] against
        the test images, in the features of `task.feature_run`'s classifier; None when unset."""
        if self.classifier_ is None:
            return None
        from dllab.metrics.generative import sample_quality

        return sample_quality(samples.float().cpu(), self.real_images("test"), self.classifier_)

    def write_generation(
        self, run_dir: Path, rows: list[tuple[str, str]], record: dict[str, Any]
    ) -> list[Path]:
        """generation.md (shown inline in the report) and generation.json (for the
        benchmark table): sampling times and sample quality."""
        quality = record.get("quality")
        lines = ["| measure | value |", "|---|---|", *(f"| {k} | {v} |" for k, v in rows)]
        if quality is None:
            lines += ["", FID_HOW_TO + "."]
        else:
            lines += [
                "",
                "Sample quality (features of the classifier in "
                f"`{self.options.feature_run}`, not Inception's):",
                "",
            ]
            lines += ["| quality | value |", "|---|---|"]
            lines += [f"| {k} | {_shown(v)} |" for k, v in quality.items()]
        md, js = run_dir / "generation.md", run_dir / "generation.json"
        md.write_text("\n".join(lines) + "\n", encoding="utf-8")
        js.write_text(json.dumps(_jsonable(record), indent=2), encoding="utf-8")
        return [md, js]


def _jsonable(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.tolist()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def _shown(value: Any) -> str:
    value = _jsonable(value)
    if value is None:
        return "none"
    if isinstance(value, dict):
        return ", ".join(f"{k} {_shown(v)}" for k, v in value.items())
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        return ", ".join(f"{v:.3g}" if isinstance(v, float) else str(v) for v in value)
    return str(value)


def per_thousand(seconds: float, images: int) -> str:
    """A sampling time as measured and as seconds per 1,000 images (linear extrapolation)."""
    return f"{seconds:.2f} s for {images} images ({seconds / images * 1000:.1f} s per 1,000)"


# ---------------------------------------------------------------------------- pictures
def tile_images(images: torch.Tensor, ncols: int, pad: int = 2) -> np.ndarray:
    """(N, C, H, W) in [0, 1] -> one (rows·(H+pad), ncols·(W+pad)[, 3]) array, white gaps."""
    n, c, h, w = images.shape
    rows = math.ceil(n / ncols)
    full = torch.ones(rows * ncols, c, h + pad, w + pad)
    full[:n, :, :h, :w] = images.detach().float().cpu().clamp(0, 1)
    grid = full.view(rows, ncols, c, h + pad, w + pad).permute(0, 3, 1, 4, 2)
    grid = grid.reshape(rows * (h + pad), ncols * (w + pad), c)[:-pad, :-pad]
    return grid[..., 0].numpy() if c == 1 else grid.numpy()


def save_image_grid(
    images: torch.Tensor, path: Path, title: str, ncols: int = 8, tile_inches: float = 0.6
) -> Path:
    """Images (N, C, H, W) in [0, 1] as one titled grid picture."""
    from dllab.viz.figure import new_figure, save_figure

    grid = tile_images(images, ncols)
    rows = math.ceil(len(images) / ncols)
    fig = new_figure(max(4.0, ncols * tile_inches), rows * tile_inches + 0.6)
    ax = fig.add_subplot()
    ax.imshow(grid, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.set_title(title, fontsize=9)
    ax.set_axis_off()
    return save_figure(fig, path)


def save_latent_map(
    points: torch.Tensor, labels: torch.Tensor, classes: list[str], path: Path, title: str
) -> Path:
    """A scatter of 2-D points coloured by class, with a legend of class names."""
    from matplotlib import colormaps

    from dllab.viz.figure import new_figure, save_figure

    fig = new_figure(7, 6)
    ax = fig.add_subplot()
    cmap = colormaps["tab10"]
    for k, name in enumerate(classes):
        sel = labels == k
        if sel.any():
            p = points[sel].numpy()
            ax.scatter(p[:, 0], p[:, 1], s=3, alpha=0.6, color=cmap(k % 10), label=name)
    ax.set_xlabel("latent 1")
    ax.set_ylabel("latent 2")
    ax.set_title(title, fontsize=10)
    ax.legend(markerscale=4, fontsize=7, loc="best")
    return save_figure(fig, path)


# ---------------------------------------------------------------------------- the VAE task
class VAEOptions(GenerativeOptions):
    """The recipe's `task:` section for `vae`."""

    beta: float = Field(1.0, ge=0)  # weight of the KL term (1: the ELBO; >1: β-VAE)
    reconstruction: Literal["bce", "mse"] = "bce"  # Bernoulli or Gaussian decoder
    sigma: float = Field(0.1, gt=0)  # mse: the Gaussian decoder's fixed standard deviation


@TASKS.register("vae")
class VAETask(GenerativeImageTask):
    """Task for `dllab run` recipes that train a VAE (model: `conv-vae`)."""

    name = "vae"
    Options: ClassVar[type[TaskOptions]] = VAEOptions
    options: VAEOptions
    metric_names = ("rec", "kl", "elbo")

    def reconstruction_nll(self, logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """-log p(x | z) per image (B,), in nats, for the decoder's pixel logits."""
        if self.options.reconstruction == "bce":
            nll = F.binary_cross_entropy_with_logits(logits, x, reduction="none")
        else:
            s = self.options.sigma
            nll = (torch.sigmoid(logits) - x) ** 2 / (2 * s * s) + math.log(
                s * math.sqrt(2 * math.pi)
            )
        return nll.flatten(1).sum(1)

    def _terms(
        self, model: nn.Module, x: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(rec, kl, mu), each per image; z from `generator` when given (evaluation)."""
        from dllab.models.vae import gaussian_kl, reparameterize

        if generator is None:
            logits, mu, logvar = model(x)  # the training step: through DDP, global RNG
        else:
            bare = getattr(model, "module", model)
            mu, logvar = bare.encode(x)
            logits = bare.decode(reparameterize(mu, logvar, generator))
        return self.reconstruction_nll(logits, x), gaussian_kl(mu, logvar), mu

    def training_step(self, model: nn.Module, batch: Any) -> StepOutput:
        x = batch[0].float() / 255.0
        rec, kl, _ = self._terms(model, x)
        loss = (rec + self.options.beta * kl).mean()
        logs = {
            "rec": float(rec.detach().mean()),
            "kl": float(kl.detach().mean()),
            "elbo": float(-(rec + kl).detach().mean()),
        }
        return StepOutput(loss=loss, logs=logs, count=len(x))

    def validation_step(self, model: nn.Module, batch: Any) -> StepOutput:
        x, y = batch[0].float() / 255.0, batch[1]
        rec, kl, mu = self._terms(model, x, self.eval_generator(x.device))
        loss = (rec + self.options.beta * kl).mean()
        terms = torch.stack([rec, kl, -(rec + kl)], dim=1)  # (B, 3)
        return StepOutput(loss=loss, preds=terms, target=y, count=len(x), outputs=None)

    def test_step(self, model: nn.Module, batch: Any) -> StepOutput:
        out = self.validation_step(model, batch)
        x = batch[0].float() / 255.0
        mu, _ = getattr(model, "module", model).encode(x)
        out.outputs = {"mu": mu.float().cpu(), "labels": batch[1].cpu()}
        return out

    def build_metrics(self) -> MetricCollection:
        cols = {name: ColumnMean(i) for i, name in enumerate(self.metric_names)}
        return MetricCollection(cols, compute_groups=False)

    # ------------------------------------------------------------ pictures
    @torch.no_grad()
    def visualize(self, model: nn.Module, run_dir: Path, outputs: list[Any]) -> list[Path]:
        """reconstructions.png, samples.png, latent_map.png (and latent_grid.png for a 2-D
        latent), generation.md/json."""
        from dllab.viz.embeddings import pca_2d

        model.eval()
        device = next(model.parameters()).device
        got = cat_outputs(outputs)
        paths = []
        real = self.real_images("test")[:32].to(device)
        cols = min(8, len(real))
        real = real[: len(real) // cols * cols]  # whole rows, so originals and decodings alternate
        recon = torch.sigmoid(model.decode(model.encode(real)[0]))
        pairs = torch.stack(
            [real.view(-1, cols, *real.shape[1:]), recon.view(-1, cols, *real.shape[1:])], 1
        )
        paths.append(
            save_image_grid(
                pairs.flatten(0, 2),
                run_dir / "reconstructions.png",
                "Test images (odd rows) and the decoded posterior means (even rows)",
                ncols=cols,
            )
        )
        n, dim = self.options.sample_images, model.latent_dim
        g = self.eval_generator(device, offset=1)
        t0 = time.perf_counter()
        z = torch.randn(n, dim, generator=g, device=device)
        samples = torch.cat([torch.sigmoid(model.decode(c)) for c in z.split(500)])
        seconds = time.perf_counter() - t0
        paths.append(
            save_image_grid(
                samples[:64],
                run_dir / "samples.png",
                "Samples: decoder means of z ~ N(0, I)",
            )
        )
        mu, labels = got["mu"], got["labels"]
        if dim == 2:
            points, how = mu, "posterior means μ(x)"
        elif dim > 2:
            points, how = pca_2d(mu), f"first 2 principal components of the {dim}-D means"
        else:
            points, how = torch.cat([mu, torch.zeros_like(mu)], 1), "1-D means (y = 0)"
        paths.append(
            save_latent_map(
                points,
                labels,
                self.classes,
                run_dir / "latent_map.png",
                f"Latent map of {len(mu)} test images: {how}",
            )
        )
        if dim == 2:
            paths.append(self._latent_grid(model, run_dir / "latent_grid.png", device))
        quality = self.sample_quality(samples)
        record = {
            "model": self.recipe.model.name,
            "sampler": "prior + decoder mean",
            "sample_images": n,
            "sample_seconds": seconds,
            "seconds_per_1000": seconds / n * 1000,
            "threads": torch.get_num_threads(),
            "device": str(device),
            "quality": quality,
        }
        rows = [
            ("sampling (decode z ~ N(0, I))", per_thousand(seconds, n)),
            ("latent_dim", str(dim)),
            ("beta", f"{self.options.beta:g}"),
            ("reconstruction", self.options.reconstruction),
            ("threads", str(torch.get_num_threads())),
        ]
        paths += self.write_generation(run_dir, rows, record)
        return paths

    def _latent_grid(self, model: nn.Module, path: Path, device: torch.device) -> Path:
        """The decoder over a 15x15 grid of the 2-D latent space, at the prior's quantiles
        5 %..95 % (Kingma & Welling's figure 4)."""
        q = torch.distributions.Normal(0.0, 1.0).icdf(torch.linspace(0.05, 0.95, 15))
        zy, zx = torch.meshgrid(q.flip(0), q, indexing="ij")  # latent 2 grows upwards
        z = torch.stack([zx.flatten(), zy.flatten()], 1).to(device)
        images = torch.sigmoid(model.decode(z))
        return save_image_grid(
            images, path, "Decoded latent grid (prior quantiles 5-95 %)", ncols=15, tile_inches=0.45
        )
