"""Held-out loss and perplexity of a language model against training step, with the unigram
model's level for scale (the `language_model` task's heldout.png)."""

from __future__ import annotations

import json
import math
from pathlib import Path

from dllab.viz.figure import message_figure, new_figure, save_figure

__all__ = ["plot_heldout"]


def plot_heldout(metrics_path: Path, unigram: float, path: Path) -> Path:
    """Held-out (validation) loss and perplexity against training step, with the training loss
    and the unigram model's level for scale."""
    records = [json.loads(line) for line in metrics_path.read_text("utf-8").splitlines() if line]
    val = [r for r in records if "val/nll" in r]
    train = [r for r in records if "train/loss" in r]
    title = "Held-out (validation) loss and perplexity"
    if not val:
        return save_figure(message_figure("no validation yet", title), path)
    fig = new_figure(10, 3.8)
    fig.suptitle(title, fontsize=13)
    ax = fig.add_subplot(1, 2, 1)
    if train:
        ax.plot(
            [r["step"] for r in train],
            [r["train/loss"] for r in train],
            color="C0",
            alpha=0.6,
            label="train (running mean)",
        )
    ax.plot(
        [r["step"] for r in val], [r["val/nll"] for r in val], "o-", color="C1", label="held-out"
    )
    ax.axhline(math.log(unigram), color="grey", ls="--", label="unigram model")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("NLL per character (nats)")
    ax.set_title("loss")
    ax.legend()
    ax = fig.add_subplot(1, 2, 2)
    ax.plot(
        [r["step"] for r in val],
        [r["val/perplexity"] for r in val],
        "o-",
        color="C1",
        label="held-out",
    )
    ax.axhline(unigram, color="grey", ls="--", label=f"unigram model ({unigram:.0f})")
    ax.set_yscale("log")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("perplexity (log scale)")
    ax.set_title("perplexity = exp(mean NLL)")
    ax.legend()
    return save_figure(fig, path)
