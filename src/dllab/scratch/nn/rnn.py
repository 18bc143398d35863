"""RNN, LSTM and GRU with torch's parameter names, gate order, shapes and initialisation.

Parameters are `weight_ih_l{k}`, `weight_hh_l{k}`, `bias_ih_l{k}`, `bias_hh_l{k}` (and
`…_reverse` for the backward direction), the gates stacked along dim 0 in torch's order:
LSTM (i, f, g, o), GRU (r, z, n). Inputs are (T, N, features), or (N, T, features) with
`batch_first=True`, or (T, features) unbatched. The input projection of all time steps is one
matrix product; only the recurrence loops over time.
"""

from __future__ import annotations

import math
from typing import Any

from dllab.scratch import functional as F
from dllab.scratch import init
from dllab.scratch.creation import zeros
from dllab.scratch.nn.layers import _empty
from dllab.scratch.nn.module import Module
from dllab.scratch.tensor import Tensor, cat, stack

__all__ = ["RNN", "LSTM", "GRU"]

State = tuple[Tensor, ...]  # (h,) for RNN and GRU, (h, c) for LSTM; each (N, hidden_size)


class RNNBase(Module):
    """What RNN, LSTM and GRU share; a subclass defines `_gates` and one time step, `_cell`."""

    _gates = 1  # blocks of hidden_size rows in each weight
    _state = ("h",)  # what the recurrence carries: ("h", "c") for LSTM

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        dtype=None,
    ) -> None:
        super().__init__()
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.dropout = bias, batch_first, float(dropout)
        self.bidirectional = bidirectional
        directions = 2 if bidirectional else 1
        rows = self._gates * hidden_size
        for layer in range(num_layers):
            for suffix in ("", "_reverse")[:directions]:
                columns = input_size if layer == 0 else hidden_size * directions
                setattr(self, f"weight_ih_l{layer}{suffix}", _empty(rows, columns, dtype=dtype))
                setattr(self, f"weight_hh_l{layer}{suffix}", _empty(rows, hidden_size, dtype=dtype))
                if bias:
                    setattr(self, f"bias_ih_l{layer}{suffix}", _empty(rows, dtype=dtype))
                    setattr(self, f"bias_hh_l{layer}{suffix}", _empty(rows, dtype=dtype))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1 / math.sqrt(self.hidden_size)  # every weight and bias ~ U(±1/√hidden_size)
        for p in self.parameters():
            init.uniform_(p, -bound, bound)

    def _cell(self, x_part: Tensor, state: State, w_hh: Tensor, b_hh: Tensor | None) -> State:
        raise NotImplementedError

    def _run(self, x: Tensor, layer: int, reverse: bool, state: State) -> tuple[Tensor, State]:
        """One layer, one direction: (T, N, in) -> outputs (T, N, H) and the last state."""
        name = f"l{layer}_reverse" if reverse else f"l{layer}"
        w_ih, w_hh = getattr(self, f"weight_ih_{name}"), getattr(self, f"weight_hh_{name}")
        b_ih = getattr(self, f"bias_ih_{name}") if self.bias else None
        b_hh = getattr(self, f"bias_hh_{name}") if self.bias else None
        x_parts = F.linear(x, w_ih, b_ih)  # (T, N, gates·H), every time step at once
        outputs: list[Any] = [None] * x.shape[0]
        for t in reversed(range(x.shape[0])) if reverse else range(x.shape[0]):
            state = self._cell(x_parts[t], state, w_hh, b_hh)
            outputs[t] = state[0]
        return stack(outputs), state

    def _initial_states(self, hx: Any, batch: int, dtype: Any) -> list[State]:
        count = self.num_layers * (2 if self.bidirectional else 1)
        if hx is None:
            hx = tuple(zeros(count, batch, self.hidden_size, dtype=dtype) for _ in self._state)
        hx = (hx,) if isinstance(hx, Tensor) else tuple(hx)
        return [tuple(h[k] for h in hx) for k in range(count)]

    def forward(self, input: Tensor, hx: Any = None) -> tuple[Tensor, Any]:
        """input (T, N, in) -> output (T, N, directions·H) and the last state h_n
        (layers·directions, N, H), or (h_n, c_n) for LSTM; `hx` is an initial state of that
        shape (zeros if None). batch_first swaps T and N; unbatched input drops N."""
        batched = input.ndim == 3
        x = input if batched else input.unsqueeze(1)  # (T, 1, in) when unbatched
        if batched and self.batch_first:
            x = x.transpose(0, 1)  # (T, N, in)
        if hx is not None and not batched:
            hx = hx.unsqueeze(1) if isinstance(hx, Tensor) else tuple(h.unsqueeze(1) for h in hx)
        states = self._initial_states(hx, x.shape[1], input.dtype)
        directions = 2 if self.bidirectional else 1
        finals: list[State] = []
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(directions):
                state = states[layer * directions + direction]
                out, final = self._run(x, layer, direction == 1, state)
                outputs.append(out)
                finals.append(final)
            x = outputs[0] if directions == 1 else cat(outputs, dim=2)  # (T, N, directions·H)
            if self.dropout and self.training and layer < self.num_layers - 1:
                x = F.dropout(x, self.dropout)
        output = x.transpose(0, 1) if batched and self.batch_first else x
        last = tuple(stack([f[i] for f in finals]) for i in range(len(self._state)))
        if not batched:
            output, last = output.squeeze(1), tuple(h.squeeze(1) for h in last)
        return output, (last[0] if len(last) == 1 else last)

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, num_layers={self.num_layers}"


class RNN(RNNBase):
    """h' = tanh(W_ih x + b_ih + W_hh h + b_hh) (or ReLU). Returns (output, h_n)."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        nonlinearity: str = "tanh",
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        dtype=None,
    ) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        super().__init__(
            input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, dtype
        )
        self.nonlinearity = nonlinearity

    def _cell(self, x_part, state, w_hh, b_hh):
        pre = x_part + F.linear(state[0], w_hh, b_hh)
        return (pre.tanh() if self.nonlinearity == "tanh" else pre.relu(),)


class LSTM(RNNBase):
    """Long short-term memory (Hochreiter & Schmidhuber 1997). Returns (output, (h_n, c_n)).

    i, f, o = σ(…), g = tanh(…);  c' = f·c + i·g;  h' = o·tanh(c')
    """

    _gates, _state = 4, ("h", "c")

    def __init__(self, *args: Any, proj_size: int = 0, **kwargs: Any) -> None:
        if proj_size:
            raise NotImplementedError("scratch LSTM has no proj_size")  # differs from torch
        super().__init__(*args, **kwargs)

    def _cell(self, x_part, state, w_hh, b_hh):
        h, c = state
        i, f, g, o = (x_part + F.linear(h, w_hh, b_hh)).chunk(4, 1)
        c = f.sigmoid() * c + i.sigmoid() * g.tanh()
        return o.sigmoid() * c.tanh(), c


class GRU(RNNBase):
    """Gated recurrent unit (Cho et al. 2014). Returns (output, h_n).

    r, z = σ(…);  n = tanh(W_in x + b_in + r·(W_hn h + b_hn));  h' = (1 - z)·n + z·h
    """

    _gates = 3

    def _cell(self, x_part, state, w_hh, b_hh):
        h = state[0]
        x_r, x_z, x_n = x_part.chunk(3, 1)
        h_r, h_z, h_n = F.linear(h, w_hh, b_hh).chunk(3, 1)
        r, z = (x_r + h_r).sigmoid(), (x_z + h_z).sigmoid()
        n = (x_n + r * h_n).tanh()
        return ((1 - z) * n + z * h,)
