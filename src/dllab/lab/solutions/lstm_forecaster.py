"""Reference solution of lstm_forecaster: LSTM + linear head, autoregressive forecasting."""

from __future__ import annotations

import torch
from torch import nn


class Forecaster(nn.Module):
    """Next value of a window of a series: LSTM over time, a linear head on the last step."""

    def __init__(self, hidden_size: int, num_layers: int = 1) -> None:
        super().__init__()
        self.lstm = nn.LSTM(1, hidden_size, num_layers, batch_first=True)
        self.head = nn.Linear(hidden_size, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(x.unsqueeze(-1))  # (B, T, 1) -> (B, T, H)
        return self.head(out[:, -1]).squeeze(-1)  # the last step has seen the whole window


def forecast(model: nn.Module, history: torch.Tensor, steps: int) -> torch.Tensor:
    """`steps` predictions, each fed back into a window of fixed length."""
    model.eval()
    window = history.clone()  # (T,)
    predictions = []
    with torch.no_grad():
        for _ in range(steps):
            nxt = model(window[None])[0]  # a batch of one
            predictions.append(nxt)
            window = torch.cat([window[1:], nxt[None]])  # drop the oldest, append the newest
    return torch.stack(predictions)
