"""Word vectors in two dimensions: a PCA of a few groups of words, one panel per vector set.

Chinese words need a font with CJK glyphs (`dllab.viz.fonts.cjk_font`, e.g. Debian's
`fonts-wqy-microhei`); without one, each point is labelled with its number in the list under
the plot's title in the run's files, and the title says which package to install.
"""

from __future__ import annotations

from pathlib import Path

import torch

from dllab.viz.figure import new_figure, save_figure

__all__ = ["pca_2d", "plot_word_groups"]


def pca_2d(x: torch.Tensor) -> torch.Tensor:
    """Project rows of `x (N, D)` on their first two principal components: `(N, 2)`.

    The signs of the components are fixed so the largest coordinate of each is positive,
    so two runs on the same data draw the same picture.
    """
    centred = x.double() - x.double().mean(0)
    _, _, v = torch.linalg.svd(centred, full_matrices=False)  # rows of v: components
    comps = v[:2]
    flip = torch.sign(comps.gather(1, comps.abs().argmax(1, keepdim=True)))
    return (centred @ (comps * flip).T).float()


def plot_word_groups(
    vector_sets: dict[str, torch.Tensor],
    index: dict[str, int],
    groups: dict[str, list[str]],
    path: Path,
    title: str,
) -> Path:
    """One scatter panel per vector set (`name -> (V, D)`), the words of each group in their
    own colour, each set projected by its own 2-D PCA of the plotted words."""
    from dllab.viz.fonts import cjk_font

    font = cjk_font()
    words = [w for ws in groups.values() for w in ws]
    fig = new_figure(5.2 * len(vector_sets), 5.0)
    if len(words) < 3:
        ax = fig.add_subplot()
        ax.text(0.5, 0.5, "fewer than 3 of the words are in the vocabulary", ha="center")
        ax.set_axis_off()
        return save_figure(fig, path)
    for p, (name, vectors) in enumerate(vector_sets.items(), start=1):
        ax = fig.add_subplot(1, len(vector_sets), p)
        xy = pca_2d(vectors[torch.tensor([index[w] for w in words])])
        start = 0
        for group, members in groups.items():
            pts = xy[start : start + len(members)]
            ax.scatter(pts[:, 0], pts[:, 1], s=18, label=group)
            for j, (word, (px, py)) in enumerate(zip(members, pts.tolist(), strict=True)):
                label = word if font else str(start + j)
                ax.annotate(
                    label,
                    (px, py),
                    fontsize=9,
                    xytext=(3, 2),
                    textcoords="offset points",
                    fontfamily=font or "DejaVu Sans",
                )
            start += len(members)
        ax.set_title(name)
        ax.set_xlabel("first principal component")
        ax.set_ylabel("second principal component")
        ax.legend(fontsize=8, loc="best")
    if not font:
        title += "\n(no CJK font: points are numbered in group order; install fonts-wqy-microhei)"
    fig.suptitle(title, fontsize=10)
    return save_figure(fig, path)
