"""Figures for run reports: training curves, confusion matrices and prediction grids.

Every function draws headless (Agg), titles and labels its figure, writes it atomically to
the path it is given and closes it, returning that path.
"""

from dllab.viz.confusion import plot_confusion
from dllab.viz.curves import plot_curves
from dllab.viz.grids import plot_prediction_grid, plot_worst_mistakes, worst_mistake_indices
from dllab.viz.lesson import Lesson, setup_lesson

__all__ = [
    "Lesson",
    "plot_confusion",
    "plot_curves",
    "plot_prediction_grid",
    "plot_worst_mistakes",
    "setup_lesson",
    "worst_mistake_indices",
]
