"""Sample quality of a generative model, measured with a Fashion-MNIST classifier trained by dllab.

FID (Heusel et al., "GANs trained by a two time-scale update rule converge to a local Nash
equilibrium", NeurIPS 2017) and KID (Binkowski et al., "Demystifying MMD GANs", ICLR 2018)
compare the feature statistics of generated and real images. Papers take the features from
an ImageNet Inception-v3, whose weights cannot be downloaded offline; for MNIST-like data the
usual stand-in is a classifier of the domain itself, here the penultimate layer of a
`fashion-mnist-fast` run. Numbers measured so are NOT comparable to the Inception-feature FIDs
of papers (e.g. Lucic et al., "Are GANs created equal?", NeurIPS 2018: 21.5-30.7 on
Fashion-MNIST); they rank models measured with the same classifier, and `fid_floor` (real
train images vs real test images) says how low any model could go.

The same classifier gives mode coverage: the class histogram of the samples, a collapse flag
when one class takes more than 30 % of them, and for a conditional model the accuracy of the
classifier on samples of the asked class. The statistics come from torchmetrics
(`FrechetInceptionDistance`, `KernelInceptionDistance` with a custom feature module); the
features are extracted once and handed to both.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from dllab.errors import ConfigError

__all__ = [
    "COLLAPSE_SHARE",
    "FeatureClassifier",
    "feature_recipe_hint",
    "fid_floor",
    "load_feature_classifier",
    "sample_quality",
]

COLLAPSE_SHARE = 0.30  # one class above this share of the samples: mode collapse (issue 18)
FEATURE_RECIPE = "fashion-mnist-fast"  # the recipe that trains a feature classifier in ~1 min
BATCH = 1000  # images per classifier forward


def feature_recipe_hint() -> str:
    """How to get a feature classifier, in one sentence (for errors and reports)."""
    return (
        f"train a feature classifier with `dllab run {FEATURE_RECIPE}` and pass its run "
        "folder (task.feature_run=runs/...)"
    )


class FeatureClassifier(nn.Module):
    """A trained image classifier seen as a feature extractor.

    `forward(x)` maps images `(N, C, H, W)` float in [0, 1] to the input of the classifier's
    last linear layer `(N, num_features)` (its penultimate features); `logits(x)` gives the
    class scores `(N, classes)`. The classifier's own normalisation is applied inside.
    """

    def __init__(
        self,
        model: nn.Module,
        *,
        classes: list[str],
        mean: list[float],
        std: list[float],
        image_size: int,
        source: str = "",
    ) -> None:
        super().__init__()
        heads = [m for m in model.modules() if isinstance(m, nn.Linear)]
        if not heads:
            raise ConfigError(
                f"the classifier of {source} has no linear layer to take features from"
            )
        self.model, self.head = model.eval(), heads[-1]
        self.classes, self.image_size, self.source = list(classes), image_size, source
        self.num_features = self.head.in_features  # read by torchmetrics
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    @torch.no_grad()
    def features_and_logits(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Penultimate features `(N, F)` and logits `(N, K)` of images in [0, 1], in batches."""
        feats: list[torch.Tensor] = []
        hook = self.head.register_forward_hook(lambda m, inputs, out: feats.append(inputs[0]))
        try:
            logits = [self.model((b.float() - self.mean) / self.std) for b in x.split(BATCH)]
        finally:
            hook.remove()
        return torch.cat(feats).float().flatten(1), torch.cat(logits).float()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features_and_logits(x)[0]

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.features_and_logits(x)[1]


def load_feature_classifier(
    run_dir: Path | str | None, *, dataset: str = "fashion-mnist", image_size: int = 28
) -> FeatureClassifier:
    """The classifier of a dllab run (`fashion-mnist-fast` or similar) as a feature extractor.

    Refuses, in one line, no run, a run that is not an image classifier, or one trained on
    other data or another image size: its features would measure the wrong thing.
    Example: `clf = load_feature_classifier(Path("runs/fashion-mnist-fast-..."))`.
    """
    from dllab.errors import CheckpointError
    from dllab.experiment import load_trained  # here: dllab.experiment imports every task

    if run_dir is None or not Path(run_dir).is_dir():
        where = f"{run_dir} does not exist" if run_dir is not None else "no classifier run given"
        raise ConfigError(
            f"FID needs a trained Fashion-MNIST classifier ({where}): {feature_recipe_hint()}"
        )
    run_dir = Path(run_dir)
    try:
        model, meta = load_trained(run_dir)
    except (CheckpointError, OSError) as exc:
        raise ConfigError(
            f"{run_dir} holds no usable classifier ({exc}); {feature_recipe_hint()}"
        ) from exc
    if not {"classes", "mean", "std", "image_size"} <= set(meta):
        raise ConfigError(
            f"{run_dir} is a {meta.get('task')!r} run, not an image classifier; {feature_recipe_hint()}"
        )
    got = (meta.get("dataset"), meta["image_size"], meta.get("in_channels", 1))
    if got != (dataset, image_size, 1):
        raise ConfigError(
            f"{run_dir} was trained on {got[0]} at {got[1]} px with {got[2]} channel(s), but the "
            f"samples are {dataset} at {image_size} px, grey; {feature_recipe_hint()}"
        )
    return FeatureClassifier(
        model,
        classes=meta["classes"],
        mean=meta["mean"],
        std=meta["std"],
        image_size=image_size,
        source=str(run_dir),
    )


class _Given(nn.Module):
    """Features computed already: torchmetrics only accumulates their statistics."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.num_features = num_features

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return features


def _check_images(x: torch.Tensor, name: str, classifier: FeatureClassifier) -> None:
    side = classifier.image_size
    if x.ndim != 4 or tuple(x.shape[1:]) != (1, side, side) or not x.is_floating_point():
        raise ConfigError(
            f"{name} must be float images (N, 1, {side}, {side}) in [0, 1]; got "
            f"{tuple(x.shape)} {x.dtype}"
        )
    if len(x) < 2:
        raise ConfigError(f"{name}: FID needs at least 2 images, got {len(x)}")


def _fid_kid(real: torch.Tensor, fake: torch.Tensor) -> tuple[float, float, float]:
    """FID and KID (mean, std over subsets) of two feature sets `(N, F)`."""
    from torchmetrics.image.fid import FrechetInceptionDistance
    from torchmetrics.image.kid import KernelInceptionDistance

    n_features = real.shape[1]
    fid = FrechetInceptionDistance(feature=_Given(n_features))
    fid.update(real.double(), real=True)
    fid.update(fake.double(), real=False)
    subset = min(1000, len(real), len(fake))
    with warnings.catch_warnings():  # "will save all extracted features": 10k x F is small
        warnings.simplefilter("ignore", UserWarning)
        kid = KernelInceptionDistance(feature=_Given(n_features), subsets=50, subset_size=subset)
    kid.update(real.double(), real=True)
    kid.update(fake.double(), real=False)
    kid_mean, kid_std = kid.compute()
    return float(fid.compute()), float(kid_mean), float(kid_std)


def sample_quality(
    samples: torch.Tensor,
    real: torch.Tensor,
    classifier: FeatureClassifier,
    *,
    labels: torch.Tensor | None = None,
) -> dict[str, Any]:
    """FID, KID and mode coverage of `samples` against `real`, both float `(N, 1, 28, 28)` in
    [0, 1], in `classifier`'s features.

    Returns `fid`, `kid_mean`, `kid_std`, `class_histogram` (class name -> share of samples the
    classifier puts there), `collapse` (the class name when one class takes more than 30 % of
    the samples, else None), `n_samples`, `n_real`, and with `labels` (the class each sample
    was asked for) `accuracy`, the classifier's agreement with them.
    Example: `sample_quality(gan.sample(10_000), test_images, clf)["fid"]`.
    """
    _check_images(samples, "samples", classifier)
    _check_images(real, "real images", classifier)
    fake_feats, fake_logits = classifier.features_and_logits(samples)
    real_feats, _ = classifier.features_and_logits(real)
    fid, kid_mean, kid_std = _fid_kid(real_feats, fake_feats)
    predicted = fake_logits.argmax(1)
    counts = torch.bincount(predicted, minlength=len(classifier.classes)).double()
    shares = counts / counts.sum()
    top = int(shares.argmax())
    result: dict[str, Any] = {
        "fid": fid,
        "kid_mean": kid_mean,
        "kid_std": kid_std,
        "class_histogram": {c: float(s) for c, s in zip(classifier.classes, shares, strict=True)},
        "collapse": classifier.classes[top] if float(shares[top]) > COLLAPSE_SHARE else None,
        "n_samples": len(samples),
        "n_real": len(real),
    }
    if labels is not None:
        if labels.shape != (len(samples),):
            raise ConfigError(
                f"labels must be ({len(samples)},), one per sample; got {tuple(labels.shape)}"
            )
        result["accuracy"] = float((predicted == labels.to(predicted.device)).double().mean())
    return result


def fid_floor(real_a: torch.Tensor, real_b: torch.Tensor, classifier: FeatureClassifier) -> float:
    """FID between two sets of real images (train vs test): the lowest a model can expect,
    since even two samples of the true distribution differ by this much."""
    _check_images(real_a, "real images (a)", classifier)
    _check_images(real_b, "real images (b)", classifier)
    return _fid_kid(classifier(real_a), classifier(real_b))[0]
