"""Attention weights over the tokens of a few texts: each token in a cell shaded by its weight.

Chinese tokens need a font with CJK glyphs. The first installed one of `CJK_FONTS` is used
(Debian: `apt-get install fonts-wqy-microhei` or `fonts-noto-cjk`); without one, the cells
show each token's position and the picture says which package to install, while the tokens
themselves are in the run's `attention.json`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.patches import Rectangle

from dllab.viz.figure import new_figure, save_figure
from dllab.viz.fonts import cjk_font

__all__ = ["plot_token_attention"]

_PER_LINE = 20  # tokens per line of cells; longer texts wrap


def plot_token_attention(rows: list[dict[str, Any]], path: Path, title: str) -> Path:
    """Draw each row's tokens as cells shaded by their attention weight and save to `path`.

    `rows`: dicts with `tokens` (list of str), `weights` (same length, summing to ~1), and
    optionally `true`, `pred` (labels) and `prob` (the predicted label's probability) for
    the row's caption. A cell's shade is its weight against the uniform `1/n` (three times
    uniform or more is the darkest); the weight itself is written under the token.
    """
    font = cjk_font()
    lines_per_row = [max(1, -(-len(r["tokens"]) // _PER_LINE)) for r in rows]
    height = 0.9 + sum(0.55 + 0.62 * n for n in lines_per_row)
    fig = new_figure(0.55 * _PER_LINE + 0.6, max(height, 2.0))
    ax = fig.add_subplot()
    ax.set_xlim(0, _PER_LINE)
    total = sum(1 + n for n in lines_per_row)
    ax.set_ylim(total, 0)
    ax.set_axis_off()
    cmap = colormaps["Reds"]
    y = 0.0
    for r, n_lines in zip(rows, lines_per_row, strict=True):
        caption = f"true {r.get('true', '?')}, predicted {r.get('pred', '?')}"
        if "prob" in r:
            caption += f" ({r['prob']:.2f})"
        ok = r.get("true") == r.get("pred")
        ax.text(0, y + 0.7, caption, fontsize=9, color="black" if ok else "firebrick")
        y += 1
        w = np.asarray(r["weights"], dtype=float)
        # Against the uniform weight 1/n: a token at 3/n or more gets the darkest shade, a
        # row of equal weights a pale one, so "attended to nothing in particular" shows.
        shade = np.clip(w * len(w) / 3.0, 0.0, 1.0)
        for j, token in enumerate(r["tokens"]):
            line, col = divmod(j, _PER_LINE)
            cy = y + line
            ax.add_patch(
                _cell(col, cy, cmap(0.85 * shade[j]))  # 0.85: the darkest red still shows text
            )
            label = token if font else str(j)
            ax.text(
                col + 0.5,
                cy + 0.42,
                label,
                ha="center",
                va="center",
                fontsize=11 if font else 7,
                fontfamily=font or "sans-serif",
                color="white" if shade[j] > 0.6 else "black",
            )
            ax.text(
                col + 0.5,
                cy + 0.85,
                f"{w[j]:.2f}",
                ha="center",
                va="center",
                fontsize=5.5,
                color="white" if shade[j] > 0.6 else "black",
            )
        y += n_lines
    if not font:
        title += "\n(no CJK font installed: cells show token positions; tokens in attention.json;"
        title += " apt-get install fonts-wqy-microhei)"
    ax.set_title(title, fontsize=10)
    return save_figure(fig, path)


def _cell(x: float, y: float, color: Any) -> Rectangle:
    return Rectangle((x + 0.03, y + 0.03), 0.94, 0.94, facecolor=color, edgecolor="lightgrey")
