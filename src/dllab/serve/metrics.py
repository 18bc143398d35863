"""Prometheus metrics of one server (`prometheus_client`, in a registry of its own so two
apps in one process never share counters)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = ["ServeMetrics"]

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class ServeMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "dllab_requests", "HTTP requests by path and status", ["path", "status"], registry=r
        )
        self.latency = Histogram(
            "dllab_request_latency_seconds",
            "Request latency",
            ["path"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.in_flight = Gauge(
            "dllab_predict_in_flight", "/predict requests being answered", registry=r
        )
        self.batch_size = Histogram(
            "dllab_batch_size",
            "Inputs per model call",
            ["variant"],
            buckets=BATCH_BUCKETS,
            registry=r,
        )
        self.model_seconds = Histogram(
            "dllab_model_seconds",
            "Seconds per model call",
            ["variant"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.predictions = Counter(
            "dllab_predictions",
            "Predictions by variant; role is served or shadow",
            ["variant", "role"],
            registry=r,
        )
        self.outcomes = Counter(
            "dllab_feedback",
            "Feedback by variant: was its prediction correct",
            ["variant", "outcome"],
            registry=r,
        )

    def exposition(self) -> bytes:
        """The Prometheus text format."""
        return generate_latest(self.registry)
