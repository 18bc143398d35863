"""Image classification: labelled images in, class probabilities out.

In-memory datasets are normalised once into one float tensor at set-up, so a training step
is a gather, an optional batch-wide augmentation and the model; streamed image folders are
normalised per batch. Augmentation runs on whole batches (vectorised shifts and flips).

Options (the recipe's `task:` section) serve transfer learning:
- `per_class: 10, subset_seed: 0` trains on a seeded, stratified few-shot subset of the train
  split (validation and test are untouched); the subset is recorded in the run's metadata;
- `mean: [0.5], std: [0.5]` normalises with fixed statistics, a pretrained model's own
  preprocessing, instead of those fitted on the training images;
- `min_epoch_images: 2000` repeats a tiny train split within an epoch, so that the
  validation after every epoch does not cost more than the training.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field, model_validator
from torch import nn
from torch.utils.data import Subset

from dllab.data.folder import ImageFolder
from dllab.data.image_io import READ_ERRORS, as_grey8, as_rgb8, open_image, unreadable_message
from dllab.data.stats import channel_stats
from dllab.data.types import ImageData, Split, TensorSplit
from dllab.data.vision import load_recipe_images
from dllab.errors import ConfigError, InputError
from dllab.models import create_model
from dllab.tasks import TASKS
from dllab.tasks.base import ExampleInput, Prediction, StepOutput, TaskOptions, cat_outputs
from dllab.tasks.labels import LabelTask, few_shot_indices
from dllab.train.batches import DatasetBatches, TensorBatches


def random_shift(x: torch.Tensor, pad: int = 2) -> torch.Tensor:
    """Shift each image by its own random offset in [-pad, pad] (zero fill), vectorised."""
    b, _, h, w = x.shape  # (B, C, H, W)
    xp = F.pad(x, (pad, pad, pad, pad)).permute(0, 2, 3, 1)  # (B, H+2p, W+2p, C)
    dy = torch.randint(0, 2 * pad + 1, (b, 1), device=x.device)
    dx = torch.randint(0, 2 * pad + 1, (b, 1), device=x.device)
    rows = (torch.arange(h, device=x.device)[None] + dy)[:, :, None]  # (B, H, 1)
    cols = (torch.arange(w, device=x.device)[None] + dx)[:, None, :]  # (B, 1, W)
    idx = torch.arange(b, device=x.device)[:, None, None]
    return xp[idx, rows, cols].permute(0, 3, 1, 2).contiguous()  # (B, C, H, W)


def random_hflip(x: torch.Tensor) -> torch.Tensor:
    flip = torch.rand(x.shape[0], 1, 1, 1, device=x.device) < 0.5
    return torch.where(flip, x.flip(3), x)


STATS_SAMPLE = 2000  # streamed images read to fit mean/std of a few-shot subset (all if fewer)


class ClassificationOptions(TaskOptions):
    """The `task:` section of an image classification recipe."""

    # Few-shot: labelled training images per class, drawn from the train split (None: all)
    per_class: int | None = Field(None, ge=1)
    # Which few-shot subset; one seed gives nested subsets (its 10 per class are among its 50)
    subset_seed: int = 0
    # Repeat the train split until an epoch holds this many images (0: one pass): an epoch of
    # 100 images is 3 steps, and the Trainer validates after every epoch
    min_epoch_images: int = Field(0, ge=0)
    # Fixed normalisation, per channel or one value for all (a pretrained model's own, e.g.
    # EfficientNet-Lite's 0.5 / 0.5); None: fitted on the (few-shot) training images
    mean: list[float] | None = None
    std: list[float] | None = None

    @model_validator(mode="after")
    def _mean_and_std_together(self) -> ClassificationOptions:
        if (self.mean is None) != (self.std is None):
            raise ValueError("set task.mean and task.std together (or neither)")
        if self.std is not None and min(self.std) <= 0:
            raise ValueError(f"task.std must be > 0 per channel, got {self.std}")
        return self


@TASKS.register("classification")
class ClassificationTask(LabelTask):
    """Task for `dllab run` recipes whose data are labelled images."""

    name = "classification"
    items = "images"
    Options: ClassVar[type[TaskOptions]] = ClassificationOptions
    options: ClassificationOptions

    # ------------------------------------------------------------ data
    def setup(self, *, rank: int = 0, world: int = 1) -> None:
        self.data_: ImageData = load_recipe_images(self.recipe)
        self.subset_: dict[str, Any] = {}
        if self.options.per_class is not None:
            self.data_ = self._few_shot(self.data_)
        if self.options.mean is not None:
            self.data_ = dataclasses.replace(self.data_, **self._fixed_stats())
        self.mean_ = torch.tensor(self.data_.mean).view(1, -1, 1, 1)
        self.std_ = torch.tensor(self.data_.std).view(1, -1, 1, 1)
        self.rank_, self.world_ = rank, world

    def _few_shot(self, data: ImageData) -> ImageData:
        """`data` with its train split cut to `per_class` images per class (seeded,
        stratified) and mean/std refitted on them: all that a user with only those labelled
        images could compute."""
        o = self.options
        idx = few_shot_indices(data.train.labels, o.per_class, o.subset_seed, data.classes)
        train: Split
        if isinstance(data.train, TensorSplit):
            train = TensorSplit(data.train.images[idx], data.train.labels[idx])
            mean, std = channel_stats(train.images)
        else:
            assert isinstance(data.train, ImageFolder)
            samples = [data.train.samples[i] for i in idx.tolist()]
            train = ImageFolder(samples, data.train.image_size, data.train.channels)
            mean, std = channel_stats(train[i][0] for i in range(min(len(train), STATS_SAMPLE)))
        self.subset_ = {
            "per_class": o.per_class,
            "subset_seed": o.subset_seed,
            "train_images": len(idx),
            "of_train_images": len(data.train),
            "indices_sha256": hashlib.sha256(idx.numpy().tobytes()).hexdigest(),
        }
        return dataclasses.replace(data, train=train, mean=mean, std=std)

    def _fixed_stats(self) -> dict[str, tuple[float, ...]]:
        """The options' mean/std, one value per channel of the data."""
        c = self.data_.in_channels
        out = {}
        for key in ("mean", "std"):
            values = getattr(self.options, key)
            if len(values) not in (1, c):
                raise ConfigError(
                    f"task.{key} has {len(values)} values but the images have {c} channels; "
                    f"give {c} values or one for all"
                )
            out[key] = tuple(float(v) for v in values) * (c if len(values) == 1 else 1)
        return out

    def data_checksums(self) -> dict[str, str]:
        """sha256 of every data file this run read (for env.json)."""
        return dict(self.data_.checksums)

    @property
    def classes(self) -> list[str]:
        return self.data_.classes

    def normalize(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 (B, C, H, W) -> float, standardised with the training split's statistics."""
        mean, std = self.mean_.to(images.device), self.std_.to(images.device)
        return (images.float() / 255.0 - mean) / std

    def _batches(self, split: str) -> TensorBatches | DatasetBatches:
        data = getattr(self.data_, split)
        n = len(data)
        repeats = math.ceil(self.options.min_epoch_images / n) if split == "train" and n else 1
        if isinstance(data, TensorSplit):
            images = torch.cat([self.normalize(c) for c in data.images.split(8192)])
            labels = data.labels
            if repeats > 1:  # normalised once, then repeated
                images, labels = images.repeat(repeats, 1, 1, 1), labels.repeat(repeats)
            return TensorBatches(images, labels, **self.batch_kwargs(split))
        if repeats > 1:
            data = Subset(data, list(range(n)) * repeats)
        workers = self.recipe.data.num_workers
        return DatasetBatches(data, **self.batch_kwargs(split), num_workers=workers)

    # ------------------------------------------------------------ model and steps
    def model_kwargs(self) -> dict[str, Any]:
        return {
            "num_classes": len(self.classes),
            "in_channels": self.data_.in_channels,
            "image_size": self.data_.image_size,
            **self.recipe.model.kwargs,
        }

    def _inputs(self, x: torch.Tensor) -> torch.Tensor:
        return self.normalize(x) if x.dtype == torch.uint8 else x

    def train_inputs(self, x: torch.Tensor) -> torch.Tensor:
        """A training batch normalised and augmented as the recipe says."""
        x = self._inputs(x)
        if self.recipe.data.augment != "none":
            x = random_shift(x)
            if self.recipe.data.augment == "flip-crop":
                x = random_hflip(x)
        return x

    def training_step(self, model: nn.Module, batch: Any) -> StepOutput:
        x, y = batch
        x = self.train_inputs(x)
        logits = model(x)
        loss = F.cross_entropy(logits, y, label_smoothing=self.recipe.train.label_smoothing)
        return StepOutput(loss=loss, preds=logits, target=y)

    def validation_step(self, model: nn.Module, batch: Any) -> StepOutput:
        x, y = batch
        logits = model(self._inputs(x))
        return StepOutput(loss=F.cross_entropy(logits, y), preds=logits, target=y)

    # ------------------------------------------------------------ serving
    def metadata(self) -> dict[str, Any]:
        """Classes and preprocessing: what `predict`, `export` and `serve` feed the model."""
        return {
            "classes": self.classes,
            "num_classes": len(self.classes),
            "in_channels": self.data_.in_channels,
            "image_size": self.data_.image_size,
            "mean": list(self.data_.mean),
            "std": list(self.data_.std),
            "dataset": self.data_.name,
            **({"few_shot": self.subset_} if self.subset_ else {}),
        }

    @classmethod
    def model_from_metadata(cls, meta: dict[str, Any]) -> nn.Module:
        """Rebuild the (untrained) model; runs from before the task section kept the data's
        sizes beside `model_kwargs`, not in them. The weights come from the checkpoint, so a
        pretrained backbone is not loaded again (nor its package needed to predict or export)."""
        sizes = {k: meta[k] for k in ("num_classes", "in_channels", "image_size")}
        kwargs = {**sizes, **meta.get("model_kwargs", {})}
        if kwargs.get("pretrained"):
            kwargs["pretrained"] = False
        return create_model(meta["model"], **kwargs)

    @classmethod
    def predict_with(
        cls, model: nn.Module, meta: dict[str, Any], inputs: list[str], top_k: int = 5
    ) -> list[Prediction]:
        """Top-k classes of image files, with the model's own preprocessing."""
        return predict_images(model, meta, inputs, top_k)

    @classmethod
    def example_input(cls, meta: dict[str, Any], model: nn.Module) -> ExampleInput:
        """Normalised images `(B, C, H, W)`; the batch axis is dynamic."""
        return ExampleInput(
            inputs=(image_batch(meta, 4),),
            probe=(image_batch(meta, 3, seed=1),),
            names=["input"],
            axes=[{0: "batch"}],
        )

    # ------------------------------------------------------------ pictures
    def visualize(self, model: nn.Module, run_dir: Path, outputs: list[Any]) -> list[Path]:
        """confusion.png, per_class.csv, predictions.png and mistakes.png for the report, and
        attention.png when the model can return its attention maps."""
        from dllab.viz import plot_prediction_grid, plot_worst_mistakes

        tensors = cat_outputs(outputs)
        paths = self.confusion_pictures(tensors, run_dir)
        out = {k: v.numpy() for k, v in tensors.items()}
        images = self._raw_test_images()
        k = min(32, len(out["true"]))
        paths.append(
            plot_prediction_grid(
                images[:k],
                out["true"][:k],
                out["pred"][:k],
                self.classes,
                run_dir / "predictions.png",
                title="Test images: predicted (true)",
            )
        )
        paths.append(
            plot_worst_mistakes(
                images,
                out["true"],
                out["pred"],
                out["conf"],
                self.classes,
                run_dir / "mistakes.png",
            )
        )
        if callable(getattr(model, "attention_maps", None)):
            paths.append(self.plot_attention(model, images, out, run_dir / "attention.png"))
        return paths

    # ------------------------------------------------------------ attention (ViT)
    @torch.no_grad()
    def plot_attention(
        self, model: nn.Module, images: torch.Tensor, out: dict[str, np.ndarray], path: Path
    ) -> Path:
        """attention.png: where the class token looks, for the first test image of each of up
        to six classes (models with `attention_maps(x)`, such as the ViT)."""
        from dllab.viz.attention_maps import plot_attention_maps

        firsts = {int(c): i for i, c in reversed(list(enumerate(out["true"])))}
        chosen = sorted(firsts.values())[:6]
        device = next(model.parameters()).device
        model.eval()
        maps = model.attention_maps(self._inputs(images[chosen].to(device))).float().cpu()
        titles = [
            f"true {self.classes[out['true'][i]]}\npred {self.classes[out['pred'][i]]}"
            for i in chosen
        ]
        return plot_attention_maps(images[chosen], maps, path, row_titles=titles)

    def _raw_test_images(self) -> torch.Tensor:
        test = self.data_.test
        if isinstance(test, TensorSplit):
            return test.images
        return torch.stack([test[i][0] for i in range(len(test))])  # type: ignore[arg-type]


def load_image(path: str, channels: int, size: int) -> torch.Tensor:
    """A PNG/JPEG file as uint8 (C, size, size), upright by its EXIF orientation and a 16-bit
    grey scaled by its range (`dllab.data.image_io`); unreadable files are an InputError."""
    try:
        with open_image(path) as img:
            img = (as_grey8(img) if channels == 1 else as_rgb8(img)).resize((size, size))
            arr = np.asarray(img, dtype=np.uint8)
    except READ_ERRORS as exc:
        raise InputError(unreadable_message(path, exc)) from exc
    t = torch.from_numpy(arr.copy())
    return t[None] if channels == 1 else t.permute(2, 0, 1)


def image_batch(meta: dict[str, Any], batch: int = 4, seed: int = 0) -> torch.Tensor:
    """A seeded, already-normalised image input of the model's shape `(B, C, H, W)`."""
    g = torch.Generator().manual_seed(seed)
    c, size = meta["in_channels"], meta["image_size"]
    return torch.randn(batch, c, size, size, generator=g)


@torch.no_grad()
def predict_images(
    model: nn.Module, meta: dict[str, Any], inputs: list[str], top_k: int = 5
) -> list[Prediction]:
    """Top-k labels and probabilities for image files, using the model's own preprocessing."""
    c, size = meta["in_channels"], meta["image_size"]
    x = torch.stack([load_image(p, c, size) for p in inputs]).float() / 255.0
    mean = torch.tensor(meta["mean"]).view(1, -1, 1, 1)
    std = torch.tensor(meta["std"]).view(1, -1, 1, 1)
    device = next(model.parameters()).device
    model.eval()
    prob = model(((x - mean) / std).to(device)).float().softmax(1).cpu()
    k = min(top_k, prob.shape[1])
    scores, idx = prob.topk(k, dim=1)
    return [
        Prediction(source=p, labels=[meta["classes"][j] for j in i.tolist()], scores=s.tolist())
        for p, s, i in zip(inputs, scores, idx, strict=True)
    ]
