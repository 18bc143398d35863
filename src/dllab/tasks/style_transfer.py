"""Neural style transfer (Gatys et al., CVPR 2016) on the shared Trainer: one image optimised.

`dllab run style-transfer` paints `task.content` (a scikit-image photograph such as `chelsea`,
`astronaut`, `coffee`, or the path of your own image) in the style of `task.style` (a
scikit-image texture, `brick`, `grass`, `gravel`, or a path). The "model" the Trainer fits is
`StylizedImage`, the result's pixels; the losses come from the frozen pretrained network the
recipe's `model:` names (EfficientNet-Lite0, `dllab.models.stylized_image`):

    loss = content_weight · content + style_weight · style + tv_weight · tv

each term logged apart (train/content, train/style, train/tv and the same under val/).
The optimiser is the recipe's (Adam on the pixels: the PyTorch tutorial's L-BFGS needs a
closure the shared loop does not take, and Adam at lr 0.05 on sigmoid logits converges in a
few hundred steps). An epoch is `task.steps_per_epoch` steps on the one image; each ends with a
validation (the losses of the image as it is, without a step) and a checkpoint, so a run
resumes exactly and `best` is the image of lowest total loss.

The report shows content, style and result side by side (`content_style_result.png`), the
result at its own size (`result.png`), the three losses against the step (`style_losses.png`),
and a table of the losses of the content image and of the result, the settings and the time
(`style_transfer.md`).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import torch
from pydantic import Field
from torch import nn
from torchmetrics import MetricCollection

from dllab.errors import ConfigError, DataError, InputError
from dllab.models.stylized_image import (
    TAPS,
    LiteFeatureTaps,
    StylizedImage,
    content_loss,
    gram_matrix,
    style_loss,
    total_variation,
)
from dllab.tasks import TASKS
from dllab.tasks.base import BaseTask, Prediction, StepOutput, TaskOptions, cat_outputs
from dllab.tasks.vae import ColumnMean
from dllab.train.batches import IndexBatches

__all__ = [
    "SKIMAGE_IMAGES",
    "StyleTransferOptions",
    "StyleTransferTask",
    "load_style_image",
    "original_colors",
    "plot_style_losses",
]

# scikit-image's bundled images (no download): photographs for content, textures for style.
# Any of them may be either; anything else is read as a file path.
SKIMAGE_IMAGES = (
    "astronaut",
    "chelsea",
    "coffee",
    "rocket",
    "camera",
    "immunohistochemistry",
    "hubble_deep_field",
    "brick",
    "grass",
    "gravel",
)
TERMS = ("content", "style", "tv")
DATA_NAME = "scikit-image"  # the recipe's data.name: the images come from task.content/style


def load_style_image(source: str, side: int, what: str) -> torch.Tensor:
    """`source` (a scikit-image name or an image file) as RGB `(1, 3, H, W)` float in [0, 1],
    resized (bicubic) so that its longer side is `side` px; grey images are copied to R, G, B.
    A missing or unreadable file is a DataError naming `what` (task.content or task.style)."""
    from PIL import Image

    from dllab.data.image_io import READ_ERRORS, as_rgb8, open_image, unreadable_message

    if source in SKIMAGE_IMAGES:
        try:
            import skimage.data
        except ImportError:
            raise ConfigError(
                f"{what}={source!r} is a scikit-image image: pip install 'dllab[vision]'"
            ) from None
        image = Image.fromarray(np.asarray(getattr(skimage.data, source)()))
    else:
        path = Path(source).expanduser()
        if not path.is_file():
            raise DataError(
                f"{what}={source!r} is neither a scikit-image image ({', '.join(SKIMAGE_IMAGES)}) "
                "nor an existing image file; give one of those names or the path of a PNG/JPEG"
            )
        try:
            with open_image(path) as opened:
                image = as_rgb8(opened)  # upright by EXIF, a 16-bit grey scaled by its range
        except READ_ERRORS as exc:
            raise DataError(f"{what}: {unreadable_message(path, exc)}") from None
    image = image.convert("RGB")
    scale = side / max(image.size)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    image = image.resize(size, Image.Resampling.BICUBIC)
    array = np.asarray(image, dtype=np.float32) / 255.0  # (H, W, 3)
    return torch.from_numpy(array.copy()).permute(2, 0, 1)[None]  # (1, 3, H, W)


class StyleTransferOptions(TaskOptions):
    """The recipe's `task:` section for `style_transfer`."""

    content: str = "chelsea"  # scikit-image photograph, or the path of your image
    style: str = "brick"  # scikit-image texture, or the path of your image
    size: int = Field(256, ge=32)  # longer side of the result in px (the content's aspect)
    style_size: int | None = Field(None, ge=32)  # longer side of the style image; None: size
    # Feature taps (`stylized_image.TAPS`: 0 stem, k the first ReLU6 of stage k). Content: one
    # deeper tap, stride 8 (Gatys: conv4_2); style: five taps from stride 2 to 16 (relu1..5_1).
    content_layer: int = Field(3, ge=0, le=6)
    style_layers: list[int] = [0, 1, 2, 3, 4]
    content_weight: float = Field(1.0, ge=0)
    style_weight: float = Field(10.0, ge=0)  # see the recipe for how it was chosen
    tv_weight: float = Field(0.0, ge=0)  # total variation: smoother, less noisy results
    init: Literal["content", "noise"] = "content"  # where the pixels start
    parametrization: Literal["sigmoid", "clamp"] = "sigmoid"  # how the pixels stay in [0, 1]
    steps_per_epoch: int = Field(50, ge=1)  # steps between validations and checkpoints
    # Also write result_original_colors.png: the result's luminance with the content's colours
    # (a grey texture as style otherwise leaves a grey result)
    original_colors: bool = True


@TASKS.register("style_transfer")
class StyleTransferTask(BaseTask):
    """Task for `dllab run style-transfer`: the pixels of one image against frozen features."""

    name = "style_transfer"
    Options: ClassVar[type[TaskOptions]] = StyleTransferOptions
    options: StyleTransferOptions
    metric_names = TERMS
    not_exportable = "its result is an image, not a network (see result.png)"

    # ------------------------------------------------------------ data
    def setup(self, *, rank: int = 0, world: int = 1) -> None:
        """Read the two images and fix the targets: the content's features, the style's Grams."""
        r, o = self.recipe, self.options
        if world > 1:
            raise ConfigError("task 'style_transfer' optimises one image: run it without torchrun")
        if r.data.name != DATA_NAME or r.data.path is not None:
            raise ConfigError(
                f"task 'style_transfer' reads its images from task.content and task.style (a "
                f"scikit-image name or a file path); leave data.name={DATA_NAME} and no data.path"
            )
        if not o.style_layers:
            raise ConfigError("task.style_layers is empty: give at least one tap, e.g. [0, 1, 2]")
        self.rank_, self.world_ = rank, world
        self.content_ = load_style_image(o.content, o.size, "task.content")
        self.style_ = load_style_image(o.style, o.style_size or o.size, "task.style")
        self.extractor_ = LiteFeatureTaps(self._backbone(), [o.content_layer, *o.style_layers])
        with torch.no_grad():
            target = self.extractor_(self.content_)[0]
            styled = self.extractor_(self.style_)[1:]
        self.targets_ = {
            "content": target,  # (1, C, h, w)
            "grams": [gram_matrix(f) for f in styled],  # each (1, C_l, C_l)
        }
        h, w = self.content_.shape[-2:]
        print(
            f"style_transfer: {o.content} ({w}x{h}) in the style of {o.style} "
            f"({self.style_.shape[-1]}x{self.style_.shape[-2]}), content tap {o.content_layer}, "
            f"style taps {o.style_layers}",
            file=sys.stderr,
        )

    def _backbone(self) -> nn.Module:
        from dllab.models import create_model

        return create_model(self.recipe.model.name, **self.recipe.model.kwargs)

    def _batches(self, split: str) -> IndexBatches:
        """`steps_per_epoch` empty steps for training, one for val and test: the image is the
        model, so a batch carries only its step number."""
        n = self.options.steps_per_epoch if split == "train" else 1
        return IndexBatches(lambda epoch: list(torch.arange(n).split(1)), lambda idx: idx)

    # ------------------------------------------------------------ model and steps
    def model_kwargs(self) -> dict[str, Any]:
        return dict(self.recipe.model.kwargs)  # the feature network's, as the recipe says

    def metadata(self) -> dict[str, Any]:
        h, w = self.content_.shape[-2:]
        return {"height": int(h), "width": int(w)}

    def build_model(self) -> nn.Module:
        h, w = self.content_.shape[-2:]
        model = StylizedImage(height=h, width=w, parametrization=self.options.parametrization)
        if self.options.init == "content":
            return model.start_from(self.content_)
        g = torch.Generator().manual_seed(self.recipe.train.seed)
        return model.start_from(torch.rand(self.content_.shape, generator=g))

    @classmethod
    def model_from_metadata(cls, meta: dict[str, Any]) -> nn.Module:
        options = meta.get("task_options", {})
        return StylizedImage(
            height=meta["height"],
            width=meta["width"],
            parametrization=options.get("parametrization", "sigmoid"),
        )

    def terms(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        """The three unweighted losses of `image` (1, 3, H, W)."""
        extractor = self.extractor_
        if self.targets_["content"].device != image.device:  # once, on the first step
            extractor.to(image.device)
            self.targets_ = {
                "content": self.targets_["content"].to(image.device),
                "grams": [g.to(image.device) for g in self.targets_["grams"]],
            }
        maps = extractor(image)
        return {
            "content": content_loss(maps[0], self.targets_["content"]),
            "style": style_loss(maps[1:], self.targets_["grams"]),
            "tv": total_variation(image),
        }

    def total(self, terms: dict[str, torch.Tensor]) -> torch.Tensor:
        o = self.options
        return (
            o.content_weight * terms["content"]
            + o.style_weight * terms["style"]
            + o.tv_weight * terms["tv"]
        )

    def training_step(self, model: nn.Module, batch: Any) -> StepOutput:
        terms = self.terms(model())
        logs = {k: float(v.detach()) for k, v in terms.items()}
        return StepOutput(loss=self.total(terms), logs=logs, count=1)

    def validation_step(self, model: nn.Module, batch: Any) -> StepOutput:
        terms = self.terms(model())
        values = torch.stack([terms[k] for k in TERMS])[None]  # (1, 3)
        return StepOutput(loss=self.total(terms), preds=values, target=values, count=1)

    def test_step(self, model: nn.Module, batch: Any) -> StepOutput:
        out = self.validation_step(model, batch)
        out.outputs = {"image": model().detach().float().cpu()}
        return out

    def build_metrics(self) -> MetricCollection:
        cols = {name: ColumnMean(i) for i, name in enumerate(TERMS)}
        return MetricCollection(cols, compute_groups=False)

    @classmethod
    def predict_with(
        cls, model: nn.Module, meta: dict[str, Any], inputs: list[str], top_k: int = 5
    ) -> list[Prediction]:
        raise InputError(
            "a style_transfer run has no `dllab predict`: its result is result.png in the run "
            "folder; for another image, run the recipe again with task.content=… task.style=…"
        )

    # ------------------------------------------------------------ report
    @torch.no_grad()
    def visualize(self, model: nn.Module, run_dir: Path, outputs: list[Any]) -> list[Path]:
        """result.png, content_style_result.png (side by side), style_losses.png and
        style_transfer.md."""
        from PIL import Image

        result = cat_outputs(outputs)["image"][0]  # (3, H, W) in [0, 1]
        array = (result.permute(1, 2, 0).clamp(0, 1).numpy() * 255).round().astype(np.uint8)
        Image.fromarray(array).save(run_dir / "result.png")
        shown = [result]
        if self.options.original_colors:
            recoloured = original_colors(result, self.content_[0])
            shown.append(recoloured)
            array = (recoloured.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
            Image.fromarray(array).save(run_dir / "result_original_colors.png")
        metrics = run_dir / "metrics.jsonl"
        records = [json.loads(s) for s in metrics.read_text("utf-8").splitlines() if s.strip()]
        # The losses of the content image itself, then of the result shown
        start, end = self.terms(self.content_), self.terms(result[None])
        paths = [
            self._side_by_side(shown, run_dir / "content_style_result.png"),
            plot_style_losses(records, run_dir / "style_losses.png"),
        ]
        md = run_dir / "style_transfer.md"
        md.write_text(self._table(records, start, end), encoding="utf-8")
        files = ["result.png"] + ["result_original_colors.png"] * self.options.original_colors
        return [*paths, *(run_dir / f for f in files), md]

    def _side_by_side(self, results: list[torch.Tensor], path: Path) -> Path:
        from dllab.viz.figure import new_figure, save_figure

        o = self.options
        panels = [
            (self.content_[0], f"content: {Path(o.content).name}"),
            (self.style_[0], f"style: {Path(o.style).name}"),
            (results[0], "result"),
            *[(r, "result, content's colours") for r in results[1:]],
        ]
        fig = new_figure(4 * len(panels), 4.4)
        for i, (image, title) in enumerate(panels):
            ax = fig.add_subplot(1, len(panels), i + 1)
            ax.imshow(image.permute(1, 2, 0).clamp(0, 1).cpu().numpy())
            ax.set_title(title, fontsize=11)
            ax.set_axis_off()
        fig.suptitle("Neural style transfer (Gatys et al. 2016), EfficientNet-Lite0 features")
        return save_figure(fig, path)

    def _table(
        self,
        records: list[dict[str, Any]],
        start: dict[str, torch.Tensor],
        end: dict[str, torch.Tensor],
    ) -> str:
        """The three terms for the content image and for the result, and the settings."""
        o = self.options
        last = next((r for r in reversed(records) if "time" in r), {})
        rows = ["| loss (unweighted) | weight | content image | result |", "|---|---|---|---|"]
        weights = {"content": o.content_weight, "style": o.style_weight, "tv": o.tv_weight}
        for k in TERMS:
            rows.append(f"| {k} | {weights[k]:g} | {float(start[k]):.4g} | {float(end[k]):.4g} |")
        h, w = self.content_.shape[-2:]
        taps = ", ".join(f"{t} ({TAPS[t][0]})" for t in o.style_layers)
        rows += [
            "",
            f"- result {w}x{h} px, {o.parametrization} pixels started from the {o.init}, "
            f"{self.recipe.optim.name} lr {self.recipe.optim.lr:g}",
            f"- content tap {o.content_layer} ({TAPS[o.content_layer][0]}); style taps {taps}",
            f"- {last.get('step', 0)} steps in {last.get('time', 0.0):.1f} s of training at "
            f"{torch.get_num_threads()} thread(s)",
        ]
        return "\n".join(rows) + "\n"


def original_colors(result: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """`result` (3, H, W) in [0, 1] with its luminance kept and its colour taken from `content`
    (same shape): the YIQ channels Y of one and I, Q of the other (Gatys et al., "Preserving
    Color in Neural Artistic Style Transfer", arXiv:1606.05897, sec. 2.2, applied after the
    optimisation as neural-style's `-original_colors` does)."""
    from skimage.color import rgb2yiq, yiq2rgb

    yiq = rgb2yiq(result.permute(1, 2, 0).double().numpy())  # (H, W, 3)
    yiq[..., 1:] = rgb2yiq(content.permute(1, 2, 0).double().numpy())[..., 1:]
    rgb = np.clip(yiq2rgb(yiq), 0.0, 1.0).astype(np.float32)
    return torch.from_numpy(rgb).permute(2, 0, 1)


def plot_style_losses(records: list[dict[str, Any]], path: Path) -> Path:
    """The content, style and total-variation losses (unweighted, training) against the step,
    one panel each, log-scaled where a term spans more than a decade."""
    from dllab.viz.figure import new_figure, save_figure

    fig = new_figure(12, 3.6)
    for i, term in enumerate(TERMS):
        ax = fig.add_subplot(1, 3, i + 1)
        points = [(r["step"], r[term]) for r in records if term in r]
        if points:
            steps, values = zip(*points, strict=True)
            ax.plot(steps, values, marker="." if len(points) < 20 else None)
            positive = [v for v in values if v > 0]
            if positive and max(positive) > 10 * min(positive):
                ax.set_yscale("log")
        ax.set_title(f"{term} loss (train)")
        ax.set_xlabel("step")
        ax.set_ylabel("loss (unweighted)")
    return save_figure(fig, path)
