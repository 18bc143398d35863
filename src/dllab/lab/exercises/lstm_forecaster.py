"""Grader for lstm_forecaster: an LSTM model of a series and its multi-step forecast."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from dllab.lab.checks import Case, Failed, assert_close, drive, driver_source, text

DRIVER = driver_source("lstm_forecaster")


class _Reference(nn.Module):
    def __init__(self, hidden: int, layers: int, *, step: int = -1) -> None:
        super().__init__()
        self.lstm = nn.LSTM(1, hidden, layers, batch_first=True)
        self.head = nn.Linear(hidden, 1)
        self.step = step  # which time step feeds the head: -1 right, 0 a mistake

    def forward(self, x):
        out, _ = self.lstm(x.unsqueeze(-1))  # (B, T, H)
        return self.head(out[:, self.step]).squeeze(-1)  # (B,)


def _forecast(model, history, steps, *, slide=True):
    window = history.clone()
    preds = []
    with torch.no_grad():
        for _ in range(steps):
            nxt = model(window[None])[0]
            preds.append(nxt)
            window = torch.cat([window[1:] if slide else window, nxt[None]])
    return torch.stack(preds)


def make_case(index: int, rng: np.random.Generator) -> Case:
    hidden, layers = int(rng.integers(1, 9)), 1 + index % 2
    b, t, steps = int(rng.integers(1, 5)), int(rng.integers(2, 10)), int(rng.integers(2, 6))
    torch.manual_seed(int(rng.integers(2**31)))
    ref = _Reference(hidden, layers).double().eval()
    state = {k: v.clone() for k, v in ref.state_dict().items()}
    x = torch.tensor(rng.normal(size=(b, t)))
    history = torch.tensor(np.sin(np.arange(t) * rng.uniform(0.2, 1)) + rng.normal(size=t) * 0.1)

    def check(module):
        built = drive(module, DRIVER, "build", hidden, layers)
        if "model" not in built:
            raise Failed(
                text(
                    f"Forecaster(...) should be an nn.Module, got {built['type']}",
                    f"Forecaster(...) 应为 nn.Module，实际为 {built['type']}",
                )
            )
        got = built["shapes"]
        want = {k: tuple(v.shape) for k, v in state.items()}
        if got != want:
            raise Failed(
                text(
                    f"state_dict() differs: expected {sorted(want)[:3]}…, got {sorted(got)[:3]}…",
                    f"state_dict() 不一致：应为 {sorted(want)[:3]}…，实际为 {sorted(got)[:3]}…",
                ),
                text(
                    "self.lstm = nn.LSTM(1, hidden_size, num_layers, batch_first=True); "
                    "self.head = nn.Linear(hidden_size, 1)",
                    "self.lstm = nn.LSTM(1, hidden_size, num_layers, batch_first=True)；"
                    "self.head = nn.Linear(hidden_size, 1)",
                ),
            )
        wrong = _Reference(hidden, layers, step=0).double().eval()
        wrong.load_state_dict(state)
        with torch.no_grad():
            out = drive(module, DRIVER, "forward", built["model"], state, x.clone())
            assert_close(
                "model(x)",
                out,
                ref(x).numpy(),
                mistakes=[
                    (
                        wrong(x).numpy(),
                        text(
                            "Predict from the LAST time step, output[:, -1]: it has seen the whole "
                            "window.",
                            "用最后一个时间步 output[:, -1] 来预测：它看过了整个窗口。",
                        ),
                    )
                ],
                hint=text(
                    "x (B, T) -> unsqueeze(-1) -> LSTM -> last step -> head -> squeeze(-1)",
                    "x (B, T) -> unsqueeze(-1) -> LSTM -> 最后一步 -> head -> squeeze(-1)",
                ),
            )
        got = drive(module, DRIVER, "forecast", built["model"], history.clone(), steps)
        assert_close(
            "forecast(model, history, steps)",
            got,
            _forecast(ref, history, steps).numpy(),
            mistakes=[
                (
                    _forecast(ref, history, steps, slide=False).numpy(),
                    text(
                        "Keep the window's length: drop the oldest value when you append a "
                        "prediction.",
                        "保持窗口长度不变：追加一个预测值时丢掉最早的值。",
                    ),
                )
            ],
        )

    model = f"Forecaster(hidden_size={hidden}, num_layers={layers})"
    return Case(
        text(
            f"{model}, x {(b, t)}, history ({t},), {steps} steps",
            f"{model}，x {(b, t)}，history ({t},)，预测 {steps} 步",
        ),
        check,
    )
