"""Denoising diffusion (DDPM) on grey images: noise in, images out.

Training is Ho et al.'s L_simple: for a batch of images x_0 in [-1, 1], a step t ~ U{0..T-1}
and noise ε ~ N(0, I) per image, the U-Net sees x_t = √ᾱ_t x_0 + √(1 - ᾱ_t) ε and the loss is
the mean squared error of its noise prediction (`models/diffusion.py` holds the schedule and
the samplers). Validation scores the same loss with t spread evenly over 0..T-1 and noise from
a generator of fixed seed, so validations are comparable and the training RNG is left alone.

At test time (the report):
- `samples_ddim.png`: DDIM (η = `ddim_eta`, `ddim_steps` ≤ 50 steps): `sample_images` of
  them, timed; they are the samples FID, KID and class coverage are measured on when
  `task.feature_run` is set;
- `samples_ddpm.png`: full DDPM ancestral sampling through all T steps of `ddpm_images`
  images (100, as the issue asks), timed;
- `reverse_process.png`: x_t along that DDPM run at several t, from pure noise to the image;
- generation.md/json: both sampling times, measured and per 1,000 images.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, ClassVar, Literal

import torch
import torch.nn.functional as F
from pydantic import Field, model_validator
from torch import nn

from dllab.models.diffusion import NoiseSchedule, ddim_sample, ddpm_sample, q_sample
from dllab.tasks import TASKS
from dllab.tasks.base import StepOutput, TaskOptions
from dllab.tasks.vae import (
    GenerativeImageTask,
    GenerativeOptions,
    per_thousand,
    save_image_grid,
    tile_images,
)

__all__ = ["DiffusionOptions", "DiffusionTask"]

REVERSE_SNAPSHOTS = 8  # x_t pictures along the reverse process (pure noise .. the last step)


class DiffusionOptions(GenerativeOptions):
    """The recipe's `task:` section for `diffusion`."""

    timesteps: int = Field(1000, ge=2)  # T of the forward process (Ho et al.: 1000)
    schedule: Literal["linear", "cosine"] = "cosine"  # β schedule (Nichol & Dhariwal: cosine)
    ddim_steps: int = Field(50, ge=1, le=50)  # DDIM sampling steps (issue: at most 50)
    ddim_eta: float = Field(0.0, ge=0, le=1)  # 0: deterministic DDIM; 1: DDPM-like noise
    ddpm_images: int = Field(100, ge=1)  # images sampled (and timed) through all T steps
    ddpm_variance: Literal["posterior", "beta"] = "posterior"  # σ_t²: β̃_t or β_t
    clip: bool = True  # clip the predicted x_0 to [-1, 1] at every sampling step

    @model_validator(mode="after")
    def _steps_within_timesteps(self) -> DiffusionOptions:
        if self.ddim_steps > self.timesteps:
            raise ValueError(
                f"task.ddim_steps={self.ddim_steps} is more than task.timesteps="
                f"{self.timesteps}; lower ddim_steps"
            )
        return self


def _bare(model: nn.Module) -> nn.Module:
    return getattr(model, "module", model)


@TASKS.register("diffusion")
class DiffusionTask(GenerativeImageTask):
    """Task for `dllab run` recipes that train a noise-predicting U-Net (`ddpm-unet`)."""

    name = "diffusion"
    Options: ClassVar[type[TaskOptions]] = DiffusionOptions
    options: DiffusionOptions
    metric_names = ()

    @property
    def schedule(self) -> NoiseSchedule:
        if "schedule_" not in self.__dict__:
            self.schedule_ = NoiseSchedule.create(self.options.schedule, self.options.timesteps)
        return self.schedule_

    @staticmethod
    def to_model_space(images: torch.Tensor) -> torch.Tensor:
        """uint8 images -> float in [-1, 1], the range the schedule assumes."""
        return images.float() / 127.5 - 1.0

    def training_step(self, model: nn.Module, batch: Any) -> StepOutput:
        x0 = self.to_model_space(batch[0])
        t = torch.randint(0, self.options.timesteps, (len(x0),), device=x0.device)
        noise = torch.randn_like(x0)
        loss = F.mse_loss(model(q_sample(self.schedule, x0, t, noise), t), noise)
        return StepOutput(loss=loss, count=len(x0))

    def validation_step(self, model: nn.Module, batch: Any) -> StepOutput:
        x0 = self.to_model_space(batch[0])
        b, steps = len(x0), self.options.timesteps
        t = torch.arange(b, device=x0.device) * steps // b  # every part of 0..T-1 alike
        g = self.eval_generator(x0.device)
        noise = torch.randn(x0.shape, generator=g, device=x0.device)
        loss = F.mse_loss(model(q_sample(self.schedule, x0, t, noise), t), noise)
        return StepOutput(loss=loss, count=b)

    # ------------------------------------------------------------ pictures
    @torch.no_grad()
    def visualize(self, model: nn.Module, run_dir: Path, outputs: list[Any]) -> list[Path]:
        """samples_ddim.png, samples_ddpm.png, reverse_process.png, generation.md/json."""
        model.eval()
        o, device = self.options, next(model.parameters()).device
        shape = (self.data_.in_channels, self.data_.image_size, self.data_.image_size)
        batch = self.recipe.data.eval_batch_size
        to01 = lambda x: (x + 1) / 2  # noqa: E731
        paths = []

        g = self.eval_generator(device, offset=1)
        t0 = time.perf_counter()
        chunks = []
        for start in range(0, o.sample_images, batch):
            x_T = torch.randn(
                min(batch, o.sample_images - start), *shape, generator=g, device=device
            )
            x, _ = ddim_sample(
                model,
                self.schedule,
                x_T,
                steps=o.ddim_steps,
                eta=o.ddim_eta,
                generator=g,
                clip=o.clip,
            )
            chunks.append(to01(x).cpu())
        ddim_seconds = time.perf_counter() - t0
        ddim = torch.cat(chunks)
        paths.append(
            save_image_grid(
                ddim[:64],
                run_dir / "samples_ddim.png",
                f"DDIM samples ({o.ddim_steps} steps, eta {o.ddim_eta:g})",
            )
        )

        g = self.eval_generator(device, offset=2)
        snapshots = torch.linspace(o.timesteps - 1, 0, REVERSE_SNAPSHOTS).round().long().tolist()
        t0 = time.perf_counter()
        x_T = torch.randn(o.ddpm_images, *shape, generator=g, device=device)
        ddpm, seen = ddpm_sample(
            model,
            self.schedule,
            x_T,
            generator=g,
            variance=o.ddpm_variance,
            clip=o.clip,
            record=snapshots,
        )
        ddpm_seconds = time.perf_counter() - t0
        ddpm = to01(ddpm).cpu()
        paths.append(
            save_image_grid(
                ddpm[:64],
                run_dir / "samples_ddpm.png",
                f"DDPM ancestral samples (all {o.timesteps} steps)",
            )
        )
        paths.append(self._reverse_picture(seen, ddpm, snapshots, run_dir / "reverse_process.png"))

        quality = self.sample_quality(ddim)
        record = {
            "model": self.recipe.model.name,
            "sampler": f"DDIM {o.ddim_steps} steps, eta {o.ddim_eta:g}",
            "sample_images": o.sample_images,
            "sample_seconds": ddim_seconds,
            "seconds_per_1000": ddim_seconds / o.sample_images * 1000,
            "ddpm_images": o.ddpm_images,
            "ddpm_seconds": ddpm_seconds,
            "ddpm_seconds_per_1000": ddpm_seconds / o.ddpm_images * 1000,
            "timesteps": o.timesteps,
            "schedule": o.schedule,
            "threads": torch.get_num_threads(),
            "device": str(device),
            "quality": quality,
        }
        rows = [
            (f"DDIM sampling ({o.ddim_steps} steps)", per_thousand(ddim_seconds, o.sample_images)),
            (f"DDPM sampling (all {o.timesteps} steps)", per_thousand(ddpm_seconds, o.ddpm_images)),
            ("noise schedule", f"{o.schedule}, T = {o.timesteps}"),
            ("threads", str(torch.get_num_threads())),
        ]
        paths += self.write_generation(run_dir, rows, record)
        return paths

    def _reverse_picture(
        self, seen: dict[int, torch.Tensor], final: torch.Tensor, ts: list[int], path: Path
    ) -> Path:
        """Rows: 6 images; columns: x_t at the recorded t (noise on the left), then x_0."""
        from dllab.viz.figure import new_figure, save_figure

        k = min(6, len(final))
        columns = [((seen[t][:k].cpu() + 1) / 2).clamp(0, 1) for t in ts] + [final[:k]]
        fig = new_figure(1.0 * len(columns) + 0.5, 1.0 * k + 0.8)
        for j, (images, label) in enumerate(
            zip(columns, [f"t={t}" for t in ts] + ["x_0"], strict=True)
        ):
            ax = fig.add_subplot(1, len(columns), j + 1)
            ax.imshow(tile_images(images, ncols=1), cmap="gray", vmin=0, vmax=1)
            ax.set_title(label, fontsize=8)
            ax.set_axis_off()
        fig.suptitle("Reverse process (DDPM): x_t from pure noise to the sample", fontsize=10)
        return save_figure(fig, path)
