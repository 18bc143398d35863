"""Unpaired image translation with CycleGAN (Zhu et al. 2017), as one Task on the shared Trainer.

The two domains are drawn by the driving-scene renderer (`dllab.data.driving_scenes`): A is
`clear` scenes and B the `shifted` condition (dusk light, fog, rain and a wet road). A and B
are rendered from different seeds, so no B image is the twin of an A image: the pairs are
unknown, as CycleGAN assumes.

One batch (an A batch and an independently shuffled B batch) is one step of each optimiser,
as in the reference implementation (junyanz/pytorch-CycleGAN-and-pix2pix): the task steps
them itself (`automatic_optimization = False`, `configure_optimizers` returns a dict), as the
GAN task does, so the Trainer checkpoints both by name and a resumed run continues exactly.

- Generators (one Adam over G and F), with the discriminators frozen:
  LSGAN (Mao et al. 2017) (D_B(G(a)) - 1)^2 + (D_A(F(b)) - 1)^2
  + lambda_cycle (|F(G(a)) - a|_1 + |G(F(b)) - b|_1)                  (paper eq. 2)
  + lambda_identity lambda_cycle (|G(b) - b|_1 + |F(a) - a|_1)        (paper section 5.2)
  with lambda_cycle = 10 and lambda_identity = 0.5, the paper's values.
- Discriminators (one Adam over D_A and D_B): 0.5 [(D(real) - 1)^2 + D(fake)^2] each, the
  fakes drawn through the image pools (history of 50, `dllab.models.cyclegan.ImagePool`).

The four terms are logged separately (`train/loss_adversarial`, `train/loss_cycle`,
`train/loss_identity`, weighted as they enter the objective, and `train/loss_discriminator`).
The report shows test images through both cycles, the losses, and whether the translation
works: a small domain classifier trained on real clear and shifted training images judges the
translated test images (`translation.json`), beside the mean brightness and contrast of each.
It sees every image standardised, so a translation cannot pass by darkening alone; a control
row (clear scenes merely darkened) shows it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn
from torchmetrics import MetricCollection

from dllab.errors import ConfigError
from dllab.tasks import TASKS
from dllab.tasks.base import BaseTask, StepOutput, TaskOptions
from dllab.tasks.gan import ItemMean, tile
from dllab.train.batches import IndexBatches, order_for

__all__ = ["CycleGANOptions", "CycleGANTask", "cycle_loss", "identity_loss", "lsgan_loss"]

DOMAINS = ("clear", "shifted")  # A and B: conditions of the driving-scene renderer
SPLITS = ("train", "val", "test")


def lsgan_loss(scores: torch.Tensor, real: bool) -> torch.Tensor:
    """Least-squares GAN loss (Mao et al. 2017) of PatchGAN scores `(B, 1, H', W')`: the mean
    of (score - 1)^2 for `real`, of score^2 otherwise."""
    return F.mse_loss(scores, torch.full_like(scores, float(real)))


def cycle_loss(
    gen_ab: nn.Module,
    gen_ba: nn.Module,
    a: torch.Tensor,
    b: torch.Tensor,
    fake_b: torch.Tensor | None = None,
    fake_a: torch.Tensor | None = None,
) -> torch.Tensor:
    """|F(G(a)) - a|_1 + |G(F(b)) - b|_1 (paper eq. 2, means over pixels), unweighted.

    `fake_b` = G(a) and `fake_a` = F(b) when already computed. Example: identity generators
    (`nn.Identity()`) give 0.
    """
    fake_b = gen_ab(a) if fake_b is None else fake_b
    fake_a = gen_ba(b) if fake_a is None else fake_a
    return F.l1_loss(gen_ba(fake_b), a) + F.l1_loss(gen_ab(fake_a), b)


def identity_loss(
    gen_ab: nn.Module, gen_ba: nn.Module, a: torch.Tensor, b: torch.Tensor
) -> torch.Tensor:
    """|G(b) - b|_1 + |F(a) - a|_1, unweighted: a generator shown an image already of its
    target domain should leave it alone (paper section 5.2: keeps the colours)."""
    return F.l1_loss(gen_ab(b), b) + F.l1_loss(gen_ba(a), a)


class CycleGANOptions(TaskOptions):
    """The `task:` section of a CycleGAN recipe."""

    image_height: int = Field(64, ge=16)  # rendered scene size; a multiple of 4
    image_width: int = Field(128, ge=16)  # 64x128 keeps the renderer's 1:2 aspect
    train_images: int = Field(400, ge=1)  # rendered scenes per domain (different seeds per domain)
    val_images: int = Field(16, ge=1)  # per domain: the validation losses
    test_images: int = Field(64, ge=2)  # per domain: the grid and the translation score
    lambda_cycle: float = Field(10.0, ge=0)  # weight of cycle consistency (the paper's 10)
    lambda_identity: float = Field(0.5, ge=0)  # identity weight, times lambda_cycle (paper: 0.5)
    flip: bool = True  # random horizontal flips of training images (a road mirrors fine)
    classifier_steps: int = Field(300, ge=1)  # Adam steps of the report's domain classifier
    grid_rows: int = Field(6, ge=1)  # test images shown through both cycles in the report


@TASKS.register("cyclegan")
class CycleGANTask(BaseTask):
    """CycleGAN between clear and shifted (dusk, fog, rain) driving scenes."""

    name = "cyclegan"
    Options: ClassVar[type[TaskOptions]] = CycleGANOptions
    options: CycleGANOptions
    automatic_optimization = False
    not_exportable = "a CycleGAN run is two generators and two discriminators trained together"
    # Validation losses of the generators' objective, weighted as in training, and the update
    # count: `train.monitor: val/generator_steps` keeps the latest weights, since adversarial
    # losses do not rank checkpoints.
    metric_names = ("adversarial", "cycle", "identity", "discriminator", "generator_steps")

    # ------------------------------------------------------------ data
    def setup(self, *, rank: int = 0, world: int = 1) -> None:
        from dllab.data.driving_scenes import render_driving_scenes

        d, o = self.recipe.data, self.options
        if world > 1:  # DDP syncs gradients of its forward, not of networks called apart
            raise ConfigError(
                "task cyclegan steps its networks one by one, which DistributedDataParallel does "
                "not synchronise: run it in one process, without torchrun"
            )
        if d.name != "driving-scenes":
            raise ConfigError(f"task cyclegan reads data.name 'driving-scenes'; got {d.name!r}")
        if o.image_height % 4 or o.image_width % 4:
            raise ConfigError(
                f"task.image_height and task.image_width must be multiples of 4 (two stride-2 "
                f"stages); got {o.image_height}x{o.image_width}"
            )
        if o.train_images < d.batch_size * world:
            raise ConfigError(
                f"task.train_images={o.train_images} per domain is less than one batch "
                f"(data.batch_size={d.batch_size} x {world} processes): raise it"
            )
        counts = {"train": o.train_images, "val": o.val_images, "test": o.test_images}
        base = self.recipe.split_seed * len(SPLITS) * len(DOMAINS)
        self.images_: dict[str, tuple[torch.Tensor, ...]] = {}
        for i, split in enumerate(SPLITS):
            pair = []
            for j, condition in enumerate(DOMAINS):  # one seed per split and domain: unpaired
                images, _ = render_driving_scenes(
                    counts[split],
                    height=o.image_height,
                    width=o.image_width,
                    seed=base + len(DOMAINS) * i + j,
                    condition=condition,
                )
                pair.append(torch.from_numpy(images).permute(0, 3, 1, 2).contiguous())
            self.images_[split] = tuple(pair)  # (A, B), each (N, 3, H, W) uint8
        self.rank_, self.world_ = rank, world

    @staticmethod
    def to_model_range(images: torch.Tensor) -> torch.Tensor:
        """uint8 images -> floats in [-1, 1], the range of the generators' tanh."""
        return images.float() / 127.5 - 1.0

    @staticmethod
    def to_uint8(images: torch.Tensor) -> torch.Tensor:
        return ((images.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)

    def _batches(self, split: str) -> IndexBatches:
        images_a, images_b = self.images_[split]
        kw = self.batch_kwargs(split)
        bs, train = kw["batch_size"], split == "train"
        flip = train and self.options.flip

        def plan(epoch: int) -> list[torch.Tensor]:
            a = order_for(len(images_a), kw, epoch)
            # B is shuffled apart from A (another seed), so pairs change every epoch
            b = order_for(len(images_b), {**kw, "seed": kw["seed"] + 1}, epoch)
            if not train:
                return list(torch.stack([a, b]).split(bs, dim=1))
            n = min(len(a), len(b)) // bs * bs  # as many A as B batches, all full
            return list(torch.stack([a[:n], b[:n]]).split(bs, dim=1))  # each (2, B)

        def collate(idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            a, b = images_a[idx[0]], images_b[idx[1]]
            if flip:  # global RNG, saved in checkpoints: resume is exact
                a = torch.where(torch.rand(len(a), 1, 1, 1) < 0.5, a.flip(-1), a)
                b = torch.where(torch.rand(len(b), 1, 1, 1) < 0.5, b.flip(-1), b)
            return self.to_model_range(a), self.to_model_range(b)

        return IndexBatches(plan, collate)

    # ------------------------------------------------------------ model and optimisers
    def model_kwargs(self) -> dict[str, Any]:
        o = self.options
        return {
            "in_channels": 3,
            "image_height": o.image_height,
            "image_width": o.image_width,
            **self.recipe.model.kwargs,
        }

    def configure_optimizers(self, model: nn.Module) -> dict[str, torch.optim.Optimizer]:
        """One optimiser over both generators and one over both discriminators, with the
        recipe's settings (the paper: Adam(2e-4, betas (0.5, 0.999)) for all four)."""
        from dllab.train.optim import build_optimizer

        if self.recipe.optim.name == "sgd":
            raise ConfigError("CycleGAN trains with Adam (optim.name=adam), as the paper does")
        return {
            "generator": build_optimizer(self.recipe.optim, model.generators),
            "discriminator": build_optimizer(self.recipe.optim, model.discriminators),
        }

    # ------------------------------------------------------------ steps
    def generator_losses(
        self, model: nn.Module, a: torch.Tensor, b: torch.Tensor
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor]:
        """The generators' three weighted terms, and G(a), F(b) for the discriminators."""
        o = self.options
        fake_b, fake_a = model.gen_ab(a), model.gen_ba(b)  # (B, 3, H, W) each
        adversarial = lsgan_loss(model.disc_b(fake_b), True) + lsgan_loss(
            model.disc_a(fake_a), True
        )
        cycle = cycle_loss(model.gen_ab, model.gen_ba, a, b, fake_b, fake_a)
        losses = {"adversarial": adversarial, "cycle": o.lambda_cycle * cycle}
        weight = o.lambda_identity * o.lambda_cycle
        if weight > 0:  # two generator passes saved when identity is off
            losses["identity"] = weight * identity_loss(model.gen_ab, model.gen_ba, a, b)
        else:
            losses["identity"] = torch.zeros((), device=a.device)
        return losses, fake_b, fake_a

    @staticmethod
    def discriminator_loss(disc: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        """0.5 [(D(real) - 1)^2 + D(fake)^2]: halved, as the reference does, so D learns at
        half the generators' pace."""
        return 0.5 * (lsgan_loss(disc(real), True) + lsgan_loss(disc(fake), False))

    def training_step(self, model: nn.Module, batch: Any) -> StepOutput:
        """One step of the generators (discriminators frozen), then one of the discriminators
        on real images and pooled fakes."""
        a, b = batch  # (B, 3, H, W) each, in [-1, 1], unpaired
        opt_g, opt_d = self.optimizers["generator"], self.optimizers["discriminator"]
        model.discriminators.requires_grad_(False)  # their weight gradients would be thrown away
        losses, fake_b, fake_a = self.generator_losses(model, a, b)
        g_loss = sum(losses.values())
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()
        model.discriminators.requires_grad_(True)
        d_loss = self.discriminator_loss(
            model.disc_b, b, model.pool_b.query(fake_b)
        ) + self.discriminator_loss(model.disc_a, a, model.pool_a.query(fake_a))
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()
        model.generator_steps += 1
        logs = {f"train/loss_{k}": float(v.detach()) for k, v in losses.items()}
        logs["train/loss_discriminator"] = float(d_loss.detach())
        return StepOutput(loss=g_loss.detach(), logs=logs, count=len(a))

    def validation_step(self, model: nn.Module, batch: Any) -> StepOutput:
        a, b = batch  # aligned by index, not by content: the domains are unpaired
        losses, fake_b, fake_a = self.generator_losses(model, a, b)
        losses["discriminator"] = self.discriminator_loss(
            model.disc_b, b, fake_b
        ) + self.discriminator_loss(model.disc_a, a, fake_a)
        n = len(a)
        preds = {k: v.expand(n) for k, v in losses.items()}
        preds["generator_steps"] = model.generator_steps.double().expand(n)
        g_loss = losses["adversarial"] + losses["cycle"] + losses["identity"]
        return StepOutput(loss=g_loss, preds=preds, count=n)

    def build_metrics(self) -> MetricCollection:
        return MetricCollection({k: ItemMean(k) for k in self.metric_names})

    def metadata(self) -> dict[str, Any]:
        o = self.options
        return {
            "domains": list(DOMAINS),
            "image_height": o.image_height,
            "image_width": o.image_width,
        }

    # ------------------------------------------------------------ report
    @torch.no_grad()
    def translate(self, model: nn.Module, split: str = "test") -> dict[str, torch.Tensor]:
        """uint8 `(N, 3, H, W)` images of a split through both cycles: a, G(a), F(G(a)), b,
        F(b), G(F(b))."""
        model.eval()
        device = next(model.parameters()).device
        out: dict[str, list[torch.Tensor]] = {k: [] for k in ("a", "ab", "aba", "b", "ba", "bab")}
        images_a, images_b = self.images_[split]
        for ia, ib in zip(images_a.split(32), images_b.split(32), strict=True):
            a, b = self.to_model_range(ia).to(device), self.to_model_range(ib).to(device)
            fake_b, fake_a = model.gen_ab(a), model.gen_ba(b)
            pictures = {
                "a": a,
                "ab": fake_b,
                "aba": model.gen_ba(fake_b),
                "b": b,
                "ba": fake_a,
                "bab": model.gen_ab(fake_a),
            }
            for k, v in pictures.items():
                out[k].append(self.to_uint8(v).cpu())
        return {k: torch.cat(v) for k, v in out.items()}

    def visualize(self, model: nn.Module, run_dir: Path, outputs: list[Any]) -> list[Path]:
        """The test images through both cycles, the four losses, and the translation score
        (domain classifier, brightness, contrast), gathered in cyclegan.md."""
        seen = self.translate(model)
        grid = save_cycle_grid(seen, self.options.grid_rows, run_dir / "translations.png")
        losses = plot_cyclegan_losses(run_dir / "metrics.jsonl", run_dir / "losses.png")
        score = self.translation_score(seen)
        (run_dir / "translation.json").write_text(json.dumps(score, indent=2), encoding="utf-8")
        md = run_dir / "cyclegan.md"
        md.write_text("\n".join(self._report_lines(score)) + "\n", encoding="utf-8")
        return [grid, losses, md]

    def translation_score(self, seen: dict[str, torch.Tensor]) -> dict[str, Any]:
        """How far the translations moved toward their target domain.

        A small CNN is trained to tell real clear (0) from real shifted (1) training scenes,
        each image standardised first (so a translation cannot pass by brightness alone;
        a control checks it on clear scenes merely darkened), then judges the test images: its accuracy on real test images (can it tell them?),
        the share of G(clear) it calls shifted and of F(shifted) it calls clear (does the
        translation cross over?). Brightness (mean grey level) and contrast (standard
        deviation of grey within an image) are given per set too: two cues a person sees.
        """
        a, b = self.images_["train"]
        clf = train_domain_classifier(
            a, b, steps=self.options.classifier_steps, seed=self.recipe.train.seed
        )
        p = {k: predict_shifted(clf, v) for k, v in seen.items()}  # share called "shifted"
        real_acc = 0.5 * ((1 - p["a"]) + p["b"])
        grey = {k: v.float().mean(1) for k, v in seen.items()}  # (N, H, W)
        brightness = {k: float(g.mean()) for k, g in grey.items()}
        contrast = {k: float(g.flatten(1).std(1).mean()) for k, g in grey.items()}
        # Control: clear scenes merely darkened to the shifted mean brightness. A classifier
        # that calls these shifted measures brightness, not the domain.
        gain = brightness["b"] / max(brightness["a"], 1e-6)
        darkened = (seen["a"].float() * gain).round().clamp(0, 255).to(torch.uint8)
        return {
            "classifier": "3-conv CNN on standardised images, clear vs shifted, trained on "
            "the real training scenes",
            "classifier_accuracy_real_test": real_acc,
            "shifted_share": p,
            "translated_accuracy": 0.5 * (p["ab"] + (1 - p["ba"])),
            "darkened_clear_called_shifted": predict_shifted(clf, darkened),
            "brightness": brightness,
            "contrast": contrast,
            # share of the gap between the real domains each translation crossed (graded,
            # where the classifier's verdict is all or nothing): 0 = unchanged, 1 = all of it
            "gap_closed": {
                stat: {
                    "G(clear)": _gap(values["a"], values["ab"], values["b"]),
                    "F(shifted)": _gap(values["b"], values["ba"], values["a"]),
                }
                for stat, values in (("brightness", brightness), ("contrast", contrast))
            },
            "n_test": len(seen["a"]),
        }

    def _report_lines(self, s: dict[str, Any]) -> list[str]:
        p, br, co = s["shifted_share"], s["brightness"], s["contrast"]
        names = {
            "a": "clear (real A)",
            "ab": "G(clear)",
            "aba": "F(G(clear))",
            "b": "shifted (real B)",
            "ba": "F(shifted)",
            "bab": "G(F(shifted))",
        }
        lines = [
            "# CycleGAN: clear <-> shifted (dusk, fog, rain) driving scenes",
            "",
            "![test images through both cycles](translations.png)",
            "",
            "Columns: A (clear), G(A), F(G(A)), B (shifted), F(B), G(F(B)). A and B are "
            "different scenes: the domains are unpaired.",
            "",
            "![the four losses over training](losses.png)",
            "",
            "## Does the translation work?",
            "",
            f"A domain classifier ({s['classifier']}) tells real test scenes apart with "
            f"accuracy {s['classifier_accuracy_real_test']:.3f}. It judges the translations "
            f"as their target domain with accuracy **{s['translated_accuracy']:.3f}** (mean "
            "of G(clear) called shifted and F(shifted) called clear; 0 means nothing crossed "
            "over, 1 all of it). It sees each image standardised (zero mean, unit deviation), "
            "so brightness alone cannot decide: clear scenes merely darkened to the shifted "
            f"brightness are called shifted {s['darkened_clear_called_shifted']:.3f} of the "
            "time (control).",
            "",
            f"| {s['n_test']} test images | called shifted | mean brightness | contrast |",
            "|---|---|---|---|",
        ]
        for k, name in names.items():
            lines.append(f"| {name} | {p[k]:.3f} | {br[k]:.1f} | {co[k]:.1f} |")
        gap = s["gap_closed"]
        lines += [
            "",
            "Share of the gap between the real domains crossed (0: unchanged, 1: all of it): "
            f"brightness G(clear) {_shown(gap['brightness']['G(clear)'])}, F(shifted) "
            f"{_shown(gap['brightness']['F(shifted)'])}; contrast G(clear) "
            f"{_shown(gap['contrast']['G(clear)'])}, F(shifted) "
            f"{_shown(gap['contrast']['F(shifted)'])}.",
            "",
            "The classifier judges domain cues (light, colour, contrast, haze), not realism: "
            "look at the grid for artefacts before trusting a high score.",
        ]
        return lines


# ---------------------------------------------------------------- translation score


def _shown(value: float | None) -> str:
    return "n/a (the domains do not differ in it)" if value is None else f"{value:.2f}"


def _gap(source: float, translated: float, target: float) -> float | None:
    """(translated - source) / (target - source): how much of the way a statistic moved
    (None when the two domains do not differ in it: JSON has no NaN)."""
    return (translated - source) / (target - source) if target != source else None


class _Standardise(nn.Module):
    """Each image to zero mean and unit deviation over its pixels and channels: global
    brightness and contrast are taken away, so the classifier cannot decide by them alone
    (darkening a clear scene must not make it "shifted"); colour ratios and structure stay."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.flatten(1)  # (B, C * H * W)
        mean, std = flat.mean(1), flat.std(1).clamp(min=1e-3)
        return (x - mean[:, None, None, None]) / std[:, None, None, None]


def _domain_classifier() -> nn.Module:
    """Standardised image, three stride-2 convs, global average pooling, one logit: real
    clear vs shifted."""
    return nn.Sequential(
        _Standardise(),
        nn.Conv2d(3, 16, 3, 2, 1),
        nn.ReLU(),
        nn.Conv2d(16, 32, 3, 2, 1),
        nn.ReLU(),
        nn.Conv2d(32, 64, 3, 2, 1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(64, 1),
    )


def train_domain_classifier(
    clear: torch.Tensor, shifted: torch.Tensor, *, steps: int, seed: int, batch_size: int = 32
) -> nn.Module:
    """A classifier of uint8 images `(N, 3, H, W)`: logit > 0 means shifted. Trained with
    Adam(1e-3) on balanced batches with flips; seeded apart from the global generator (the
    training run's state is left as it was)."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        clf = _domain_classifier()
        opt = torch.optim.Adam(clf.parameters(), lr=1e-3)
        half = max(batch_size // 2, 1)
        for _ in range(steps):
            ia = torch.randint(len(clear), (half,))
            ib = torch.randint(len(shifted), (half,))
            x = CycleGANTask.to_model_range(torch.cat([clear[ia], shifted[ib]]))
            x = torch.where(torch.rand(len(x), 1, 1, 1) < 0.5, x.flip(-1), x)
            y = torch.cat([torch.zeros(half), torch.ones(half)])
            loss = F.binary_cross_entropy_with_logits(clf(x).squeeze(1), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return clf.eval()


@torch.no_grad()
def predict_shifted(clf: nn.Module, images: torch.Tensor) -> float:
    """Share of uint8 images `(N, 3, H, W)` the classifier calls shifted."""
    logits = torch.cat([clf(CycleGANTask.to_model_range(x)) for x in images.split(64)])
    return float((logits > 0).float().mean())


# ---------------------------------------------------------------- pictures


def save_cycle_grid(seen: dict[str, torch.Tensor], rows: int, path: Path, scale: int = 2) -> Path:
    """The first `rows` test images as rows of A, G(A), F(G(A)), B, F(B), G(F(B)), with
    column captions (Pillow)."""
    from PIL import Image, ImageDraw

    keys = ("a", "ab", "aba", "b", "ba", "bab")
    captions = ("A (clear)", "G(A)", "F(G(A))", "B (shifted)", "F(B)", "G(F(B))")
    n = min(rows, len(seen["a"]))
    images = torch.stack([seen[k][:n] for k in keys], dim=1).flatten(0, 1)  # (n * 6, 3, H, W)
    picture = Image.fromarray(tile(images, len(keys)))
    picture = picture.resize((picture.width * scale, picture.height * scale), Image.NEAREST)
    framed = Image.new("RGB", (picture.width, picture.height + 16), (255, 255, 255))
    framed.paste(picture, (0, 16))
    draw = ImageDraw.Draw(framed)
    column = picture.width / len(keys)
    for i, caption in enumerate(captions):
        draw.text((int(i * column) + 6, 2), caption, fill=(0, 0, 0))
    path.parent.mkdir(parents=True, exist_ok=True)
    framed.save(path)
    return path


def plot_cyclegan_losses(metrics: Path, path: Path) -> Path:
    """The generators' three weighted terms and the discriminators' loss against the step."""
    from dllab.viz.figure import new_figure, save_figure

    records = [json.loads(line) for line in metrics.read_text("utf-8").splitlines() if line.strip()]
    fig = new_figure(10, 3.6)
    left, right = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    series = {
        left: [
            ("train/loss_adversarial", "adversarial (LSGAN)"),
            ("train/loss_cycle", "cycle x lambda"),
            ("train/loss_identity", "identity x lambda"),
        ],
        right: [("train/loss_discriminator", "discriminators (LSGAN, halved)")],
    }
    for ax, keys in series.items():
        for key, label in keys:
            points = [(r["step"], r[key]) for r in records if key in r]
            if points:
                ax.plot(*zip(*points, strict=True), label=label)
        ax.set_xlabel("step")
        ax.set_ylabel("loss")
        if ax.lines:
            ax.legend()
    left.set_title("Generators G and F (train)")
    right.set_title("Discriminators D_A and D_B (train)")
    return save_figure(fig, path)
