"""LSTM forecaster: a window of past values in, the next `horizon` values out at once.

Paper: Hochreiter, Schmidhuber, "Long short-term memory", Neural Computation 9(8), 1997. The
head predicts every step of the horizon in one shot from the last hidden state (the "direct"
or multi-input multi-output strategy of Taieb et al., "A review and comparison of strategies
for multi-step ahead time series forecasting", Expert Systems with Applications 39(8), 2012),
so errors are not fed back and compounded as in step-by-step recursive forecasting.

A series whose test part lies outside the range of the training part (a trend; a cycle of
record amplitude) defeats a network that saw only the training range. `window_norm` makes the
model blind to what shifts, and puts it back in the output:

- "last": subtract the window's last value, predict changes from it (a trend: CO2);
- "revin": standardise each window by its own mean and std, and undo that on the forecast
  (reversible instance normalisation: Kim et al., "Reversible instance normalization for
  accurate time-series forecasting against distribution shift", ICLR 2022, without its
  learned affine) (a changing amplitude: sunspots);
- "none": only the task's standardisation, fitted on the training part.

Input: values `(B, T)` already standardised by the task (any `T >= 1`; recipes train with
`T = context`); output `(B, horizon)` in the same units.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from dllab.errors import ConfigError, InputError
from dllab.models.checks import build
from dllab.models.registry import register_model

__all__ = ["LSTMForecaster", "LSTMForecasterConfig"]

WINDOW_NORMS = ("none", "last", "revin")


@dataclass
class LSTMForecasterConfig:
    context: int = 36  # past steps per input window (the task cuts windows this long)
    horizon: int = 12  # future steps predicted at once; one output unit per step
    hidden_size: int = 64  # small: the series hold a few hundred windows
    num_layers: int = 2  # two layers model the cycle shape better than one, at little cost
    dropout: float = 0.1  # between the LSTM layers and before the head
    window_norm: str = "none"  # "none", "last" (minus the last value) or "revin" (see above)

    def __post_init__(self) -> None:
        if self.window_norm not in WINDOW_NORMS:
            raise ConfigError(
                f"window_norm {self.window_norm!r} is not one of {', '.join(WINDOW_NORMS)}"
            )
        if self.context < 1 or self.horizon < 1:
            raise ConfigError(
                f"context and horizon must be >= 1, got context={self.context}, "
                f"horizon={self.horizon}"
            )


class LSTMForecaster(nn.Module):
    """Stacked LSTM over the window, then one linear layer to `horizon` outputs."""

    def __init__(self, cfg: LSTMForecasterConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.lstm = nn.LSTM(
            1,
            cfg.hidden_size,
            num_layers=cfg.num_layers,
            batch_first=True,
            dropout=cfg.dropout if cfg.num_layers > 1 else 0.0,  # torch applies it between layers
        )
        self.dropout = nn.Dropout(cfg.dropout)
        self.head = nn.Linear(cfg.hidden_size, cfg.horizon)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 2 or x.shape[1] < 1:
            raise InputError(
                f"lstm-forecaster takes a batch of windows (B, T) with T >= 1, got {tuple(x.shape)}"
            )
        shift, scale = self._window_stats(x)  # (B, 1) each
        out, _ = self.lstm(((x - shift) / scale).unsqueeze(-1))  # (B, T, hidden)
        step = self.head(self.dropout(out[:, -1]))  # (B, horizon)
        return step * scale + shift

    def _window_stats(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """What each window `(B, T)` is shifted by and divided by: `(B, 1)`, `(B, 1)`."""
        ones = torch.ones_like(x[:, :1])
        if self.cfg.window_norm == "last":
            return x[:, -1:], ones
        if self.cfg.window_norm == "revin":
            # eps: a flat window (std 0) must not blow up; inputs are standardised, so 1e-3 is
            # a thousandth of the training part's std.
            return x.mean(1, keepdim=True), x.std(1, keepdim=True, unbiased=False) + 1e-3
        return torch.zeros_like(ones), ones


def _create_forecaster(variant: str, kw: dict[str, Any]) -> LSTMForecaster:
    return LSTMForecaster(build(LSTMForecasterConfig, variant, kw))


@register_model("lstm-forecaster")
def lstm_forecaster(**kw: Any) -> nn.Module:
    return _create_forecaster("lstm-forecaster", kw)
