"""Cross-attention maps of a translation model: which source tokens each output token read.

One heatmap per sentence, source tokens along the x axis and output tokens down the y axis;
row i is the attention of output token i over the source (each row sums to 1). Chinese tokens
need a CJK font: the first one installed is used (Debian: `fonts-wqy-microhei`); without one
the glyphs show as boxes and a warning says which package to install.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dllab.viz.figure import message_figure, new_figure, save_figure
from dllab.viz.fonts import cjk_font

__all__ = ["AttentionExample", "plot_cross_attention"]


@dataclass(frozen=True)
class AttentionExample:
    """One sentence's map: `weights (T, S)`, rows the output tokens, columns the source's."""

    source_tokens: Sequence[str]
    output_tokens: Sequence[str]
    weights: np.ndarray
    title: str = ""  # e.g. the reference translation


def plot_cross_attention(
    examples: Sequence[AttentionExample], path: Path, title: str = "Cross-attention"
) -> Path:
    """Draw each example's map in its own panel (two per row) and save to `path`.

    >>> ex = AttentionExample(["Open", " file"], ["打开", "文件"], np.eye(2))
    >>> plot_cross_attention([ex], Path("attn.png"))  # doctest: +SKIP
    """
    if not examples:
        return save_figure(message_figure("no sentences to show", title), path)
    for ex in examples:
        if ex.weights.shape != (len(ex.output_tokens), len(ex.source_tokens)):
            raise ValueError(
                f"weights {ex.weights.shape} do not match {len(ex.output_tokens)} output x "
                f"{len(ex.source_tokens)} source tokens"
            )
    family = [f for f in (cjk_font(), "DejaVu Sans") if f]
    cols = min(2, len(examples))
    rows = -(-len(examples) // cols)
    fig = new_figure(6.5 * cols, 5.0 * rows)
    fig.suptitle(title, fontsize=14)
    for i, ex in enumerate(examples):
        ax = fig.add_subplot(rows, cols, i + 1)
        image = ax.imshow(ex.weights, cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto")
        ax.set_xticks(range(len(ex.source_tokens)))
        ax.set_xticklabels([_show(t) for t in ex.source_tokens], rotation=70, fontsize=8)
        ax.set_yticks(range(len(ex.output_tokens)))
        ax.set_yticklabels([_show(t) for t in ex.output_tokens], fontsize=8)
        for label in (*ax.get_xticklabels(), *ax.get_yticklabels()):
            label.set_fontfamily(family)
        ax.set_xlabel("source token (English)")
        ax.set_ylabel("output token (Chinese)")
        if ex.title:
            ax.set_title(ex.title, fontsize=9, fontfamily=family)
        fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="attention weight")
    return save_figure(fig, path)


def _show(token: str) -> str:
    """A token as a tick label: spaces visible as '·', newlines as '⏎'."""
    return token.replace(" ", "·").replace("\n", "⏎") or "∅"
