# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 04-02 · LSTM and GRU: gates that let the state survive
#
# Lesson 04-01 showed why a plain RNN forgets: the gradient from $k$ steps back is a product
# of $k$ Jacobians $\operatorname{diag}(1 - h^2) W_{hh}$ and shrinks geometrically. The
# **long short-term memory** (LSTM, Hochreiter & Schmidhuber 1997; forget gate by Gers et
# al. 2000) adds a *cell state* $c_t$ that is updated by addition, under the control of
# gates — numbers in $(0, 1)$ computed from the input and the previous state:
#
# $$
# \begin{aligned}
# i_t &= \sigma(W_{ii} x_t + b_{ii} + W_{hi} h_{t-1} + b_{hi}) && \text{input gate: how much to write} \\
# f_t &= \sigma(W_{if} x_t + b_{if} + W_{hf} h_{t-1} + b_{hf}) && \text{forget gate: how much to keep} \\
# g_t &= \tanh(W_{ig} x_t + b_{ig} + W_{hg} h_{t-1} + b_{hg}) && \text{candidate: what to write} \\
# o_t &= \sigma(W_{io} x_t + b_{io} + W_{ho} h_{t-1} + b_{ho}) && \text{output gate: how much to show} \\
# c_t &= f_t \odot c_{t-1} + i_t \odot g_t, \qquad h_t = o_t \odot \tanh(c_t).
# \end{aligned}
# $$
#
# The **gated recurrent unit** (GRU, Cho et al. 2014) does the same with two gates and no
# separate cell: a reset gate $r_t$, an update gate $z_t$, a candidate $n_t$, and
# $h_t = (1 - z_t) \odot n_t + z_t \odot h_{t-1}$.
#
# This lesson writes both cells by hand with PyTorch's weight layout and proves them equal
# to `nn.LSTMCell` and `nn.GRUCell`, follows the gradient along the cell state, and trains
# RNN, LSTM and GRU on a task that needs a memory of 40 steps.

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch

from dllab.viz import setup_lesson

# Figures go to the folder given on the command line, else to lesson-output/<name>.
lesson = setup_lesson("04-02-lstm-gru-gates")
torch.set_num_threads(1)  # tiny matrices: one thread is fastest on a busy machine


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


# %% [markdown]
# ## 1. Both cells by hand
#
# PyTorch stores the four LSTM gates' weights stacked in one matrix `weight_ih` of shape
# $(4H, I)$, in the order **i, f, g, o**, and likewise `weight_hh` $(4H, H)$ and the two
# biases. The GRU stacks **r, z, n** in $(3H, \cdot)$ matrices. One matrix product per side
# computes all the gates at once; `np.split` cuts the result into blocks.
#
# One detail of the GRU: PyTorch (like cuDNN) applies the reset gate to the hidden side
# *after* its matrix product, $n_t = \tanh(W_{in} x_t + b_{in} + r_t \odot (W_{hn} h_{t-1} +
# b_{hn}))$, where the 2014 paper resets $h_{t-1}$ first. The two are different functions;
# we follow PyTorch.


# %%
def lstm_cell(x, h, c, W_ih, W_hh, b_ih, b_hh):
    """One LSTM step; also returns the gates (i, f, g, o) for plotting."""
    i, f, g, o = np.split(x @ W_ih.T + b_ih + h @ W_hh.T + b_hh, 4, axis=-1)
    i, f, g, o = sigmoid(i), sigmoid(f), np.tanh(g), sigmoid(o)
    c = f * c + i * g
    return o * np.tanh(c), c, (i, f, g, o)


def gru_cell(x, h, W_ih, W_hh, b_ih, b_hh):
    """One GRU step; also returns the gates (r, z)."""
    i_r, i_z, i_n = np.split(x @ W_ih.T + b_ih, 3, axis=-1)
    h_r, h_z, h_n = np.split(h @ W_hh.T + b_hh, 3, axis=-1)
    r, z = sigmoid(i_r + h_r), sigmoid(i_z + h_z)
    n = np.tanh(i_n + r * h_n)  # reset applied after the product, as PyTorch does
    return (1 - z) * n + z * h, (r, z)


def numpy_weights(cell):
    return [
        p.detach().numpy() for p in (cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh)
    ]


torch.manual_seed(0)
x, h, c = (
    torch.randn(5, 3, dtype=torch.float64),
    torch.randn(5, 4, dtype=torch.float64),
    torch.randn(5, 4, dtype=torch.float64),
)
lstm_ref, gru_ref = torch.nn.LSTMCell(3, 4).double(), torch.nn.GRUCell(3, 4).double()
h_lstm, c_lstm, _ = lstm_cell(x.numpy(), h.numpy(), c.numpy(), *numpy_weights(lstm_ref))
h_gru, _ = gru_cell(x.numpy(), h.numpy(), *numpy_weights(gru_ref))
with torch.no_grad():
    ref_h, ref_c = lstm_ref(x, (h, c))
    np.testing.assert_allclose(h_lstm, ref_h.numpy(), atol=1e-12)
    np.testing.assert_allclose(c_lstm, ref_c.numpy(), atol=1e-12)
    np.testing.assert_allclose(h_gru, gru_ref(x, h).numpy(), atol=1e-12)
print("lstm_cell == nn.LSTMCell, gru_cell == nn.GRUCell (to 1e-12)")

# %% [markdown]
# ## 2. The gradient along the cell state
#
# Differentiate $c_t = f_t \odot c_{t-1} + i_t \odot g_t$ along the direct path:
# $\partial c_t / \partial c_{t-1} = \operatorname{diag}(f_t)$ — no weight matrix, no tanh
# slope. $k$ steps back the gradient has been multiplied by $f_t \odot f_{t-1} \odot \cdots$,
# which stays near 1 while the forget gates stay open. This is the "constant error
# carousel" of the 1997 paper. The forget gate's bias sets its value at initialisation:
# $\sigma(0) = 0.5$ halves the gradient every step, so Gers et al. and Jozefowicz et al.
# (2015) start $b_f$ at 1 or more. We measure $\lVert \partial L / \partial c_t \rVert$ with
# the loss at step 60, for three forget biases.


# %%
def cell_gradient(forget_bias, steps=60, seed=0):
    """||dL/dc_t|| for t = 1..steps of a freshly initialised LSTMCell; loss on h_steps."""
    torch.manual_seed(seed)
    cell = torch.nn.LSTMCell(8, 32).double()
    with torch.no_grad():
        cell.bias_hh[32:64] = forget_bias  # rows H..2H are the forget gate's
        cell.bias_ih[32:64] = 0.0
    xs = torch.randn(steps, 16, 8, dtype=torch.float64)
    h = c = torch.zeros(16, 32, dtype=torch.float64)
    cells = []
    for t in range(steps):
        h, c = cell(xs[t], (h, c))
        c.retain_grad()
        cells.append(c)
    (h**2).sum().backward()
    return np.array([s.grad.norm().item() for s in cells])


fig, ax = plt.subplots(figsize=(8, 4.4))
reach = {}
for bias in (0.0, 1.0, 3.0):
    norms = cell_gradient(bias)
    reach[bias] = norms[-51] / norms[-1]
    ax.semilogy(np.arange(60)[::-1], norms / norms[-1], label=f"forget-gate bias {bias:g}")
    print(f"forget bias {bias:g}: ||dL/dc|| 50 steps back / at the loss = {reach[bias]:.1e}")
ax.set(xlabel="steps between c_t and the loss", ylabel="‖dL/dc_t‖ / ‖dL/dc_T‖ (log scale)")
ax.set_title("LSTM: the gradient along the cell state is multiplied by the forget gates")
ax.legend(fontsize=8)
lesson.save(fig, "cell-state-gradient.png")
assert reach[3.0] > 1e-3 > 1e-8 > reach[0.0]

# %% [markdown]
# With $b_f = 3$, $f \approx \sigma(3) = 0.95$, and the gradient from 50 steps away keeps a
# usable size; with $b_f = 0$ it vanishes like a plain RNN's. The GRU's update gate plays
# the same role: $\partial h_t / \partial h_{t-1}$ contains the term $\operatorname{diag}(z_t)$,
# so a bias that opens $z$ keeps the state and its gradient.
#
# ## 3. A task that needs memory
#
# Each sequence has 40 steps. The first input is $\pm 1$; the other 39 are noise
# ($\mathcal N(0, 0.3^2)$). After the last step the network must say which sign came first.
# Nothing near the end helps: the information must be carried across 39 noisy steps. We
# train a plain RNN, an LSTM and a GRU of 16 units each, for 100 Adam steps on batches of
# 32, with the gates' biases opened as above (forget bias 3 for the LSTM, update bias 3 for
# the GRU); chance is 50 %.

# %%
T, HIDDEN, STEPS = 40, 16, 100


def memory_batch(n, generator):
    x = torch.randn(n, T, 1, generator=generator) * 0.3
    sign = torch.randint(0, 2, (n,), generator=generator)
    x[:, 0, 0] = 2.0 * sign - 1  # the value to remember
    return x, sign


class Remember(torch.nn.Module):
    """A recurrent layer read at its last step by a linear layer: (B, T, 1) -> (B, 2)."""

    def __init__(self, kind):
        super().__init__()
        self.rnn = getattr(torch.nn, kind)(1, HIDDEN, batch_first=True)
        self.head = torch.nn.Linear(HIDDEN, 2)
        with torch.no_grad():
            if kind in ("LSTM", "GRU"):  # LSTM rows H..2H: forget gate; GRU rows H..2H: update
                self.rnn.bias_hh_l0[HIDDEN : 2 * HIDDEN] = 3.0

    def forward(self, x):
        return self.head(self.rnn(x)[0][:, -1])


test_x, test_y = memory_batch(1000, torch.Generator().manual_seed(9))
models, curves, accuracy = {}, {}, {}
for kind in ("RNN", "LSTM", "GRU"):
    torch.manual_seed(0)
    model, data = Remember(kind), torch.Generator().manual_seed(1)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    curves[kind] = []
    for _ in range(STEPS):
        xb, yb = memory_batch(32, data)
        loss = torch.nn.functional.cross_entropy(model(xb), yb)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        curves[kind].append(loss.item())
    with torch.no_grad():
        accuracy[kind] = (model(test_x).argmax(1) == test_y).float().mean().item()
    models[kind] = model
print({k: f"{v:.1%}" for k, v in accuracy.items()}, "<- test accuracy, chance 50%")
assert accuracy["RNN"] < 0.6 and accuracy["LSTM"] > 0.95 and accuracy["GRU"] > 0.95

fig, ax = plt.subplots(figsize=(8, 4.4))
for kind, curve in curves.items():
    ax.plot(
        np.convolve(curve, np.ones(10) / 10, mode="valid"),
        label=f"{kind} ({accuracy[kind]:.0%} test)",
    )
ax.axhline(np.log(2), color="grey", ls=":", label="ln 2: guessing")
ax.set(xlabel="Adam step", ylabel="cross-entropy (mean of 10 steps)")
ax.set_title(f"Remember the first of {T} inputs: RNN vs LSTM vs GRU")
ax.legend(fontsize=8)
lesson.save(fig, "memory-task.png")

# %% [markdown]
# The plain RNN stays at $\ln 2$: the gradient from the loss never reaches step 1 with a
# usable size. Both gated cells solve the task.
#
# ## 4. Reading the gates
#
# Our `lstm_cell` returns the gates, so we can run the trained LSTM's weights through it
# and watch what each gate does on one sequence. We pick the unit whose final cell state
# best predicts the sign (the largest correlation over the test set).

# %%
lstm = models["LSTM"].rnn
weights = [
    p.detach().double().numpy()
    for p in (lstm.weight_ih_l0, lstm.weight_hh_l0, lstm.bias_ih_l0, lstm.bias_hh_l0)
]
xs = test_x.double().numpy()  # (1000, T, 1)
h, c = np.zeros((1000, HIDDEN)), np.zeros((1000, HIDDEN))
gates, cells = [], []
for t in range(T):
    h, c, g = lstm_cell(xs[:, t], h, c, *weights)
    gates.append(g)
    cells.append(c)
np.testing.assert_allclose(h, lstm(test_x)[0][:, -1].detach().numpy(), atol=1e-5)  # == nn.LSTM
sign = test_y.numpy() * 2 - 1
unit = int(np.argmax([abs(np.corrcoef(cells[-1][:, u], sign)[0, 1]) for u in range(HIDDEN)]))
forget = np.array([g[1][:, unit] for g in gates])  # (T, 1000)
write = np.array([g[0][:, unit] for g in gates])
memory = np.array([cl[:, unit] for cl in cells])
held = max(np.mean((memory[-1] > 0) == (sign > 0)), np.mean((memory[-1] < 0) == (sign > 0)))
print(
    f"unit {unit}: input gate at step 1 {write[0].mean():.2f}, later {write[1:].mean():.2f}; "
    f"forget gate after step 1 {forget[1:].mean():.3f}; the sign of c_T gives the answer "
    f"for {held:.1%} of the test sequences"
)
# Training is chaotic: CPUs that add in another order train another network, so the exact
# gate values differ from machine to machine; what every trained LSTM here shares is a
# mostly open forget gate and one unit whose cell state alone holds the answer.
assert forget[1:].mean() > 0.75 and held > 0.9

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
steps = np.arange(1, T + 1)
for s, color in ((1, "tab:blue"), (-1, "tab:red")):
    rows = np.flatnonzero(sign == s)[:20]
    ax1.plot(steps, memory[:, rows], color=color, alpha=0.4, lw=1)
ax1.set(xlabel="step t", ylabel=f"cell state c_t of unit {unit}")
ax1.set_title("The cell state holds the sign (blue +1, red -1)")
ax2.plot(steps, forget.mean(1), label="forget gate f")
ax2.plot(steps, write.mean(1), label="input gate i")
ax2.set(xlabel="step t", ylabel="gate value, mean over 1000 sequences", ylim=(0, 1.05))
ax2.set_title(f"Gates of unit {unit}")
ax2.legend(fontsize=8)
lesson.save(fig, "gates.png")

# %% [markdown]
# The two signs push this unit's cell state apart within the first ten steps, and it then
# stays in two separate regions to the end, whatever noise arrives: the forget gate keeps
# most of the cell at every step (the line above says how much: 92-95 % on one of our
# machines, 84 % on another, whose arithmetic trained a slightly different network), and the
# input gate keeps adding a term whose sign depends on the state (through $h_{t-1}$). This is not the textbook "write once at step 1,
# then hold": training found a self-reinforcing loop, which the gates' design makes easy to
# learn and to differentiate through.
#
# ## Summary
#
# - LSTM: $c_t = f_t \odot c_{t-1} + i_t \odot g_t$, $h_t = o_t \odot \tanh(c_t)$; GRU:
#   $h_t = (1 - z_t) \odot n_t + z_t \odot h_{t-1}$, with the reset gate inside $n_t$. Ours
#   equal `nn.LSTMCell` and `nn.GRUCell`, whose gate order is (i, f, g, o) and (r, z, n).
# - Along the cell state the gradient is multiplied by the forget gates, not by a weight
#   matrix: open gates (a positive forget bias) carry it across many steps.
# - On a 40-step memory task the plain RNN stays at chance; LSTM and GRU solve it.
#
# ## Exercises
#
# - `dllab lab start lstm_cell` — an LSTM step and a whole sequence in NumPy, equal to
#   `nn.LSTM`.
# - `dllab lab start gru_cell` — the GRU, with PyTorch's placement of the reset gate.
# - `dllab lab start lstm_forecaster` — an LSTM that forecasts a time series (lesson 04-04).
#
# Check each with `dllab lab check NAME`.
#
# To try here (not graded):
#
# 1. Set the LSTM's forget bias to 0 and train again. How many steps does it need now?
# 2. Make the sequences 100 steps long. Which model still learns within 100 steps?
