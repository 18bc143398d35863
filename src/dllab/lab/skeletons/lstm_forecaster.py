"""Exercise lstm_forecaster: predict a time series with torch.nn.LSTM.

Forecaster reads a window of past values x (B, T) and predicts the next value (B,).
forecast() rolls it forward several steps, feeding each prediction back in.
The grader loads weights into your model BY NAME (lstm, head).
Grade it with `dllab lab check lstm_forecaster`.
"""

from __future__ import annotations

import torch
from torch import nn


class Forecaster(nn.Module):
    """Next value of a window: lstm = nn.LSTM(1, hidden_size, num_layers, batch_first=True),
    head = nn.Linear(hidden_size, 1).

    Example:
        >>> Forecaster(16)(torch.randn(8, 20)).shape
        torch.Size([8])
    """

    def __init__(self, hidden_size: int, num_layers: int = 1) -> None:
        """TODO: super().__init__(), self.lstm and self.head."""
        raise NotImplementedError("Need to implement for exercise lstm_forecaster")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, T) -> the next value (B,), predicted from the LSTM's output at the last step.

        TODO: add a feature axis, run the LSTM, take the last step, apply the head, squeeze.
        """
        raise NotImplementedError("Need to implement for exercise lstm_forecaster")


def forecast(model: nn.Module, history: torch.Tensor, steps: int) -> torch.Tensor:
    """Predict `steps` values after `history` (T,), one at a time: returns (steps,).

    Each prediction is appended to the window and the oldest value dropped, so the model
    always sees T values.

    TODO: eval mode, no autograd, a loop of `steps` predictions.
    """
    raise NotImplementedError("Need to implement for exercise lstm_forecaster")
