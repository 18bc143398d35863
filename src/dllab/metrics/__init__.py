"""Metrics that torchmetrics does not ship, built on it where it can (AUROC)."""

from dllab.metrics.anomaly import (
    AnomalyMetrics,
    confusion_at,
    pro_curve,
    pro_score,
    threshold_for_recall,
)

__all__ = ["AnomalyMetrics", "confusion_at", "pro_curve", "pro_score", "threshold_for_recall"]
